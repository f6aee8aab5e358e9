// The `match:` shorthand, compiled once into plain predicates. Every key must hold:
//   a value       equals (a number also equals the same number written as text, and back);
//   a list        any of its values;
//   "a*b"         a wildcard: `*` stands for any run of characters;
//   null          the field is absent or null.
// Keys are dotted paths into the event (`data.workflowId`, `data.nodes.0.id`), read with the safe
// path reader. When the field holds a list, the key holds if any element does. The key `type` is
// the event's type wherever the event carries it (server.fields.type), so it agrees with the type
// index used by routing.
import type { IndexKey } from '../event/config.js';
import type { EventObject, Json, MatchResult } from '../event/model.js';
import { compilePath, isDottedPath, readPath } from '../event/path.js';

export type MatchScalar = string | number | boolean | null;
export type MatchSpec = Record<string, MatchScalar | MatchScalar[]>;

export interface CompiledMatch {
  /** All conditions hold; the reason names each condition (or the first that failed). */
  test(event: EventObject): MatchResult;
  /** test(event).reason when every condition holds, else null (no sentence for a failure). */
  matchedReason(event: EventObject): string | null;
  /** Whether the `type` condition holds for an event of this type (true without one). */
  admitsType(type: string | null): boolean;
  /** Conditions other than `type` whose values are all plain text: the rule index's keys. */
  keys: IndexKey[];
  /** Literal types from `type`, for the type index; null when any type could match. */
  types: string[] | null;
}

export interface MatchIssue {
  key: string;
  severity: 'error' | 'warning';
  message: string;
}

interface Alternative {
  shown: string;
  /** Whether an absent field satisfies it (only `null` does). */
  missing: boolean;
  test(v: Json): boolean;
}

interface Condition {
  key: string;
  read(event: EventObject): Json | undefined;
  alternatives: Alternative[];
}

export function isWildcard(pattern: string): boolean {
  return pattern.includes('*');
}

/**
 * `run.*` → a predicate over text; `*` matches any run of characters (dots and newlines included)
 * and the pattern must cover the whole text. Not a RegExp: `^.*a.*b.*$` backtracks, and one
 * error message of "timeout" × 60,000 against `*timeout*retry*` took seconds. Here the pattern is
 * split on `*`: the first piece must be a prefix, the last a suffix, and each middle piece is
 * found with indexOf after the previous one. Taking the leftmost occurrence of each piece is
 * always right for `*`-only globs (an earlier end leaves more room for what follows), so the text
 * is scanned once, left to right: linear in its length for a fixed pattern.
 */
export function wildcard(pattern: string): (text: string) => boolean {
  const pieces = pattern.split('*');
  if (pieces.length === 1) return (text) => text === pattern;
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  const middle = pieces.slice(1, -1).filter((p) => p !== '');
  const minLength = first.length + last.length + middle.reduce((n, p) => n + p.length, 0);
  return (text) => {
    if (text.length < minLength || !text.startsWith(first) || !text.endsWith(last)) return false;
    let at = first.length;
    const end = text.length - last.length;
    for (const piece of middle) {
      const found = text.indexOf(piece, at);
      if (found < 0 || found + piece.length > end) return false;
      at = found + piece.length;
    }
    return true;
  };
}

function scalarText(v: Json): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

function alternative(expected: MatchScalar): Alternative {
  if (expected === null) return { shown: 'empty', missing: true, test: (v) => v === null };
  if (typeof expected === 'string' && isWildcard(expected)) {
    const matches = wildcard(expected);
    return {
      shown: JSON.stringify(expected),
      missing: false,
      test: (v) => {
        const t = scalarText(v);
        return t !== null && matches(t);
      },
    };
  }
  if (typeof expected === 'number') {
    return {
      shown: String(expected),
      missing: false,
      test: (v) => v === expected || (typeof v === 'string' && v.trim() !== '' && Number(v) === expected),
    };
  }
  if (typeof expected === 'string') {
    return {
      shown: JSON.stringify(expected),
      missing: false,
      test: (v) => v === expected || (typeof v === 'number' && String(v) === expected),
    };
  }
  return { shown: String(expected), missing: false, test: (v) => v === expected };
}

/**
 * Compiles a `match:` block. `typeOf` reads the event's type as routing does. Problems (a path that
 * can never resolve, a key that is not a path) are returned, not thrown, for `check` to place.
 */
export function compileMatch(spec: MatchSpec, typeOf: (event: EventObject) => string | null): { match: CompiledMatch; issues: MatchIssue[] } {
  const issues: MatchIssue[] = [];
  const conditions: Condition[] = [];
  let types: string[] | null = null;
  for (const [key, raw] of Object.entries(spec)) {
    const values = Array.isArray(raw) ? raw : [raw];
    const alternatives = values.map(alternative);
    if (key === 'type') {
      conditions.push({ key, read: (e) => typeOf(e) ?? undefined, alternatives });
      if (values.every((v) => typeof v === 'string' && !isWildcard(v))) types = values as string[];
      continue;
    }
    if (!isDottedPath(key)) {
      issues.push({ key, severity: 'error', message: `"${key}" is not a field path; write names joined by dots, e.g. data.workflowId` });
      continue;
    }
    const parts = compilePath(key);
    if (parts === null) {
      issues.push({
        key,
        severity: 'warning',
        message: `"${key}" goes through __proto__, constructor or prototype, which never resolve to anything, so this rule can never match`,
      });
    }
    conditions.push({ key, read: (e) => readPath(e, parts), alternatives });
  }

  const typeCondition = conditions.find((c) => c.key === 'type');
  const keys: IndexKey[] = [];
  for (const [key, raw] of Object.entries(spec)) {
    const values = Array.isArray(raw) ? raw : [raw];
    const c = conditions.find((x) => x.key === key);
    if (key === 'type' || !c || values.length === 0 || !values.every((v) => typeof v === 'string')) continue;
    const texts = values as string[];
    if (!texts.some(isWildcard)) {
      keys.push({ id: `match:${key}`, lookup: (e) => textKeys(c.read(e), false), values: texts });
      continue;
    }
    // With wildcards: a text can match only if it starts with an alternative's part before its
    // first `*` (a plain alternative is its own prefix). Booleans count as text for wildcards.
    const prefixes = texts.map((t) => t.split('*')[0]!);
    if (prefixes.some((p) => p === '')) continue;
    keys.push({ id: `match-prefix:${key}`, lookup: (e) => textKeys(c.read(e), true), values: prefixes, prefix: true });
  }

  const test = (event: EventObject): MatchResult => {
    const held: string[] = [];
    for (const c of conditions) {
      const actual = c.read(event);
      const ok = holds(actual, c.alternatives);
      if (!ok) return { matched: false, reason: failure(c, actual) };
      held.push(`${c.key} is ${show(actual)}`);
    }
    return { matched: true, reason: held.join(' and ') };
  };
  const matchedReason = (event: EventObject): string | null => {
    const actuals: (Json | undefined)[] = [];
    for (const c of conditions) {
      const actual = c.read(event);
      if (!holds(actual, c.alternatives)) return null;
      actuals.push(actual);
    }
    return conditions.map((c, i) => `${c.key} is ${show(actuals[i])}`).join(' and ');
  };
  const admitsType = (type: string | null): boolean => !typeCondition || holds(type ?? undefined, typeCondition.alternatives);
  return { match: { test, matchedReason, admitsType, keys, types }, issues };
}

/**
 * The texts a field offers to plain-text alternatives: a text itself, a number as text (a text
 * alternative equals the same number), each item of a list; nothing else can equal a text.
 */
function textKeys(v: Json | undefined, booleans: boolean): string[] {
  if (typeof v === 'string') return [v];
  if (typeof v === 'number' || (booleans && typeof v === 'boolean')) return [String(v)];
  if (!Array.isArray(v)) return [];
  const out: string[] = [];
  for (const item of v) {
    if (typeof item === 'string') out.push(item);
    else if (typeof item === 'number' || (booleans && typeof item === 'boolean')) out.push(String(item));
  }
  return out;
}

function holds(actual: Json | undefined, alternatives: Alternative[]): boolean {
  if (actual === undefined) return alternatives.some((a) => a.missing);
  if (Array.isArray(actual)) return actual.some((item) => alternatives.some((a) => a.test(item)));
  return alternatives.some((a) => a.test(actual));
}

function show(v: Json | undefined): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'empty';
  const text = JSON.stringify(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Plain sentences: `data.workflowId is "wf_x", not one of wf_payroll, wf_payroll_eu`. */
function failure(c: Condition, actual: Json | undefined): string {
  const name = c.key === 'type' ? 'the event type' : c.key;
  if (actual === undefined) {
    return c.key === 'type' ? 'the event has no type' : `${c.key} is not in the event`;
  }
  const alts = c.alternatives;
  const prefix = Array.isArray(actual) ? `${name} is ${show(actual)}, and none of its items is` : `${name} is ${show(actual)},`;
  if (alts.length === 1) {
    const only = alts[0]!;
    const isPattern = only.shown.startsWith('"') && only.shown.includes('*');
    if (Array.isArray(actual)) return `${prefix} ${isPattern ? `like ${only.shown}` : only.shown}`;
    return isPattern ? `${prefix} which does not match ${only.shown}` : `${prefix} not ${only.shown}`;
  }
  const list = alts.map((a) => a.shown.replace(/^"(.*)"$/, '$1')).join(', ');
  return Array.isArray(actual) ? `${prefix} one of ${list}` : `${prefix} not one of ${list}`;
}
