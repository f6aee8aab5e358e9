// `when:` conditions in JSON Logic (json-logic-js). Two things are ours:
//  - Operators are checked at load against an allow-list, so a typo is an error with its line,
//    not a rule that silently never matches; `log` and `method` (which calls arbitrary methods)
//    and dotted operator names are refused.
//  - `var` reads through the safe path reader (own properties only; __proto__, constructor and
//    prototype never resolve), so neither a rule nor a payload can reach prototype objects.
//  - Each evaluation has a work budget linear in the event's size (see WORK below), so no
//    condition can cost more than linear time in what the sender controls.
import jsonLogic from 'json-logic-js';
import type { IndexKey } from '../event/config.js';
import type { EventObject, Json } from '../event/model.js';
import { closest } from './spelling.js';
import { compilePath, readPath } from '../event/path.js';

export const OPERATORS: readonly string[] = [
  'var',
  'missing',
  'missing_some',
  'if',
  '?:',
  '==',
  '===',
  '!=',
  '!==',
  '!',
  '!!',
  'or',
  'and',
  '>',
  '>=',
  '<',
  '<=',
  'max',
  'min',
  '+',
  '-',
  '*',
  '/',
  '%',
  'map',
  'filter',
  'reduce',
  'all',
  'none',
  'some',
  'merge',
  'in',
  'cat',
  'substr',
];
const KNOWN = new Set(OPERATORS);

// Words people write for an operator, mapped to the operator they meant.
const SYNONYMS: Record<string, string> = {
  equals: '==',
  eq: '==',
  is: '==',
  '=': '==',
  equal: '==',
  ne: '!=',
  neq: '!=',
  not_equals: '!=',
  '<>': '!=',
  gt: '>',
  gte: '>=',
  ge: '>=',
  lt: '<',
  lte: '<=',
  le: '<=',
  not: '!',
  '&&': 'and',
  '||': 'or',
  AND: 'and',
  OR: 'or',
  contains: 'in',
  includes: 'in',
  field: 'var',
  get: 'var',
  path: 'var',
  concat: 'cat',
  exists: '!!',
  any: 'some',
  every: 'all',
};

// The built-in `var` walks inherited properties (`{"var": "constructor"}` reaches Object). The
// library keeps one operation table per process, so this replacement applies to every caller; it
// behaves the same for ordinary paths and only refuses prototype machinery.
function safeVar(this: unknown, path?: Json, notFound?: Json): Json | undefined {
  const fallback = notFound === undefined ? null : notFound;
  if (path === undefined || path === null || path === '') return this as Json;
  const value = readPath(this as Json, pathOf(String(path)));
  return value === undefined ? fallback : value;
}

// Paths in rules are few and fixed, but `var` sees them on every evaluation: split each once.
// Bounded, because a `var` may also compute its path from the event.
const paths = new Map<string, string[] | null>();
function pathOf(path: string): string[] | null {
  let parts = paths.get(path);
  if (parts === undefined) {
    parts = compilePath(path);
    // A path computed from the event may be huge; only short ones are worth keeping.
    if (paths.size < 10_000 && path.length <= 200) paths.set(path, parts);
  }
  return parts;
}
jsonLogic.add_operation('var', safeVar);

// The work budget. json-logic-js evaluates every operator, argument and loop step (map, filter,
// reduce, all, some, none) through `jsonLogic.apply`, and each operator costs at most the size of
// its arguments, which are themselves results of `apply`. So charging every result of `apply` its
// size (string length, items and keys counted deeply) bounds the whole evaluation. Without it a
// `reduce` whose accumulator grows with each item (`cat`, `merge`), or one that rereads a large
// accumulator every step, costs the square of the event's size. The allowance is
// WORK.base + WORK.perChar × (the event's JSON length): far above what ordinary conditions use
// (a `some` over 10,000 items spends about 25 units per item), and a condition that runs out counts
// as false with a reason, as any evaluation error does.
const WORK = { base: 100_000, perChar: 16 };

class WorkExceeded extends Error {
  readonly code = 'E_LOGIC_WORK';
}

let remaining: number | null = null;

/** The size of a value, counted only up to `limit` (so counting costs no more than the charge). */
function sizeOf(value: unknown, limit: number): number {
  let size = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && size <= limit) {
    const v = stack.pop();
    size += 1;
    if (typeof v === 'string') size += v.length;
    else if (Array.isArray(v)) for (const item of v) stack.push(item);
    else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        size += k.length;
        stack.push(item);
      }
    }
  }
  return size;
}

const library = jsonLogic as unknown as { apply: (logic: unknown, data: unknown) => unknown };
const plainApply = library.apply;
library.apply = function chargedApply(logic: unknown, data: unknown): unknown {
  const result = plainApply(logic, data);
  if (remaining !== null) {
    remaining -= sizeOf(result, remaining);
    if (remaining < 0) throw new WorkExceeded("the condition needs more work than this event's size allows (a reduce or map that grows with every item?)");
  }
  return result;
};

const eventSizes = new WeakMap<object, number>();

/**
 * Ingest already knows the event's size: the length of the body it was parsed from (whitespace
 * included, so still linear in what the sender sent). Saves a JSON.stringify per event.
 */
export function knownEventSize(event: EventObject, size: number): void {
  eventSizes.set(event, size);
}

function eventSize(event: EventObject): number {
  let size = eventSizes.get(event);
  if (size === undefined) {
    size = JSON.stringify(event)?.length ?? 0;
    eventSizes.set(event, size);
  }
  return size;
}

export interface LogicIssue {
  /** Path inside the condition to the offending operator key (strings and list indexes). */
  at: (string | number)[];
  severity: 'error' | 'warning';
  message: string;
}

/** Every unknown operator and malformed condition object in a `when`, for `check` to place. */
export function checkLogic(logic: Json): LogicIssue[] {
  const issues: LogicIssue[] = [];
  const walk = (node: Json, at: (string | number)[]): void => {
    if (Array.isArray(node)) {
      for (const [i, item] of node.entries()) walk(item, [...at, i]);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const keys = Object.keys(node);
    if (keys.length !== 1) {
      issues.push({
        at,
        severity: 'error',
        message:
          keys.length === 0
            ? 'an empty condition {} is always true; write a condition such as {"==": [{"var": "type"}, "run.failed"]}'
            : `a condition holds exactly one operator, but this one has ${keys.length} (${keys.join(', ')}); combine conditions with "and": [...]`,
      });
      for (const k of keys) walk(node[k]!, [...at, k]);
      return;
    }
    const op = keys[0]!;
    if (!KNOWN.has(op)) issues.push({ at: [...at, op], severity: 'error', message: unknownOperator(op) });
    const args = node[op]!;
    if (op === 'var') {
      const first = Array.isArray(args) ? args[0] : args;
      if ((typeof first === 'string' || typeof first === 'number') && compilePath(String(first)) === null) {
        issues.push({
          at: [...at, op],
          severity: 'warning',
          message: `the path "${first}" goes through __proto__, constructor or prototype, which never resolve to anything`,
        });
      }
    }
    walk(args, [...at, op]);
  };
  walk(logic, []);
  return issues;
}

function unknownOperator(op: string): string {
  const meant = SYNONYMS[op] ?? SYNONYMS[op.toLowerCase()] ?? closest(op, OPERATORS);
  const hint = meant ? `; did you mean "${meant}"?` : `; the operators are ${OPERATORS.join(' ')}`;
  const matchHint = /^[a-z_]+(\.[a-zA-Z_]+)+$/.test(op) || op === 'type' ? ' (to compare a field with a value, write it under match: instead)' : '';
  return `"${op}" is not a JSON Logic operator${hint}${matchHint}`;
}

export interface LogicOutcome {
  value: boolean;
  /** Set when the condition could not be evaluated (counted as false). */
  error?: string;
}

/** A checked condition as a function of the event. Never throws: an error counts as false. */
export function compileLogic(logic: Json): (event: EventObject) => LogicOutcome {
  if (typeof logic === 'boolean') return () => ({ value: logic });
  return (event) => {
    const outer = remaining;
    remaining = WORK.base + WORK.perChar * eventSize(event);
    try {
      return { value: jsonLogic.truthy(library.apply(logic, event)) };
    } catch (err) {
      return { value: false, error: (err as Error).message };
    } finally {
      remaining = outer;
    }
  };
}

/**
 * Equalities a condition needs, for the rule index: `{"==": [{"var": "x"}, "a"]}` (either order)
 * at the top of the condition or inside its top-level `and`s. Only texts that are not numbers
 * (Number(text) is NaN): such a text is `==` only to the same text, or to a list or object whose
 * text form is that text (JavaScript's loose equality), so the lookup below offers exactly those.
 * `===` is the same text only.
 */
export function logicKeys(logic: Json): IndexKey[] {
  const keys: IndexKey[] = [];
  const walk = (node: Json): void => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return;
    const ops = Object.keys(node);
    if (ops.length !== 1) return;
    const op = ops[0]!;
    const args = node[op]!;
    if (op === 'and' && Array.isArray(args)) {
      for (const a of args) walk(a);
      return;
    }
    if ((op !== '==' && op !== '===') || !Array.isArray(args) || args.length !== 2) return;
    const [a, b] = args as [Json, Json];
    const path = varPath(a) ?? varPath(b);
    const value = typeof b === 'string' && varPath(a) !== null ? b : typeof a === 'string' && varPath(b) !== null ? a : null;
    if (path === null || value === null || !Number.isNaN(Number(value))) return;
    const parts = compilePath(path);
    if (parts === null) return;
    const read = (e: EventObject) => readPath(e, parts);
    keys.push(
      op === '==='
        ? { id: `logic===:${path}`, lookup: (e) => strictKeys(read(e)), values: [value] }
        : { id: `logic==:${path}`, lookup: (e) => looseKeys(read(e)), values: [value] },
    );
  };
  walk(logic);
  return keys;
}

/** `{"var": "a.b"}` or `{"var": ["a.b"]}` (no default: a default could equal the value). */
function varPath(node: Json): string | null {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return null;
  const ops = Object.keys(node);
  if (ops.length !== 1 || ops[0] !== 'var') return null;
  const arg = node.var;
  const p = Array.isArray(arg) ? (arg.length === 1 ? arg[0] : undefined) : arg;
  return typeof p === 'string' && p !== '' ? p : null;
}

function strictKeys(v: Json | undefined): string[] {
  return typeof v === 'string' ? [v] : [];
}

function looseKeys(v: Json | undefined): string[] {
  if (typeof v === 'string') return [v];
  if (v === null || typeof v !== 'object') return [];
  try {
    // What == compares a list or object with a text by (its text form); a payload whose
    // toString is not a function makes == throw, and the condition count as false.
    return [String(v)];
  } catch {
    return [];
  }
}
