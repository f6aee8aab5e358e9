// Validation against rules.schema.json (shipped at the repository root so editors can autocomplete
// and underline), with ajv's findings translated into sentences a non-engineer can act on:
// `rule "x" has no setting "sendto"; did you mean "send_to"?` rather than ajv's raw output.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { closest, didYouMean, listWords, showValue, type Path, type PathSeg, type Problems } from './problems.js';

export const SCHEMA_FILE_NAME = 'rules.schema.json';

/** The schema file at the repository root, found from wherever this module was compiled to. */
export function schemaFile(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, SCHEMA_FILE_NAME);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error(`${SCHEMA_FILE_NAME} was not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

let validator: ValidateFunction | null = null;

function compiled(): ValidateFunction {
  if (validator) return validator;
  const schema = JSON.parse(readFileSync(schemaFile(), 'utf8')) as object;
  // coerceTypes: `${MAX:-8}` interpolates to the text "8"; a number field should still take it.
  const ajv = new Ajv({ allErrors: true, verbose: true, coerceTypes: true, allowUnionTypes: true, strict: false });
  validator = ajv.compile(inlined(schema));
  return validator;
}

/**
 * The schema with each `#/definitions/X` reference replaced by a copy of X (the file has no
 * recursive ones). ajv runs a referenced schema as a function of its own and appends its errors
 * to the list by copying the list, once per item that refers to it: a file with thousands of bad
 * rules cost the square of its errors (16,000 took 10 s). Inlined, each error is pushed once.
 */
function inlined(schema: object): object {
  const defs = (schema as { definitions?: Record<string, unknown> }).definitions ?? {};
  const walk = (node: unknown, via: readonly string[]): unknown => {
    if (Array.isArray(node)) return node.map((n) => walk(n, via));
    if (node === null || typeof node !== 'object') return node;
    const { $ref, ...rest } = node as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    if (typeof $ref === 'string' && $ref.startsWith('#/definitions/')) {
      const name = $ref.slice('#/definitions/'.length);
      if (via.includes(name) || !(name in defs)) throw new Error(`${SCHEMA_FILE_NAME}: cannot inline ${$ref}`);
      Object.assign(out, walk(defs[name], [...via, name]));
    } else if ($ref !== undefined) out.$ref = $ref;
    for (const [k, v] of Object.entries(rest)) if (!(via.length === 0 && k === 'definitions' && node === schema)) out[k] = walk(v, via);
    return out;
  };
  return walk(schema, []) as object;
}

/**
 * Validates (and, for numbers and booleans written as text, coerces in place) the parsed file.
 * Reports each finding once, and returns the paths of the values at fault so later checks skip them.
 */
export function validateSchema(data: unknown, problems: Problems, ignore: readonly Path[] = []): Path[] {
  const validate = compiled();
  if (validate(data)) return [];
  // `ignore`: values already reported (a missing ${VAR}); a second message there is noise.
  const ignored = (e: ErrorObject): boolean => {
    const p = toPath(e.instancePath, data);
    return ignore.some((bad) => bad.length <= p.length && bad.every((seg, i) => p[i] === seg));
  };
  const errors = (validate.errors ?? []).filter((e) => !IGNORED.has(e.keyword) && !ignored(e));
  const dirty: Path[] = [];
  // A typo such as `sendto` also makes `send_to` missing; the typo's message already says it.
  const suggested = new Set<string>();
  for (const e of errors) {
    if (e.keyword !== 'additionalProperties') continue;
    const extra = String((e.params as { additionalProperty: string }).additionalProperty);
    const known = Object.keys(((e.parentSchema as Schema | undefined)?.properties ?? {}) as object);
    const meant = closest(extra, known);
    if (meant) suggested.add(`${e.instancePath}\u0000${meant}`);
  }
  const typed = new Set<string>();
  for (const e of errors) {
    // Several branches may each say "should be a map"; one is enough.
    if (e.keyword === 'type') {
      if (typed.has(e.instancePath)) continue;
      typed.add(e.instancePath);
    }
    const path = toPath(e.instancePath, data);
    // The value at fault: for an unknown or missing setting, that setting, not its whole block,
    // so the rest of the block can still be checked.
    if (e.keyword === 'additionalProperties') dirty.push([...path, String((e.params as { additionalProperty: string }).additionalProperty)]);
    else if (e.keyword === 'required') dirty.push([...path, String((e.params as { missingProperty: string }).missingProperty)]);
    else dirty.push(path);
    if (e.keyword === 'required') {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      if (suggested.has(`${e.instancePath}\u0000${missing}`)) continue;
    }
    // Past the listed problems only the count is shown: no sentence (and no guess) to make.
    const found = problems.full
      ? { path: dirty[dirty.length - 1]!, message: e.keyword, part: e.keyword === 'additionalProperties' ? ('key' as const) : ('value' as const) }
      : translate(e, path, data, (v) => problems.showAt(path, v));
    if (found) problems.error(found.path, found.message, found.part);
  }
  return dirty;
}

// Wrappers whose inner errors say what is wrong more precisely.
const IGNORED = new Set(['if', 'allOf', 'anyOf', 'oneOf', 'not', 'false schema']);

interface Schema {
  description?: string;
  properties?: Record<string, Schema>;
  enum?: unknown[];
  const?: unknown;
  type?: string | string[];
}

function translate(
  e: ErrorObject,
  path: PathSeg[],
  data: unknown,
  show: (v: unknown) => string,
): { path: PathSeg[]; message: string; part: 'key' | 'value' } | null {
  const value = e.data;
  const parent = e.parentSchema as Schema | undefined;
  switch (e.keyword) {
    case 'additionalProperties': {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      const known = Object.keys(parent?.properties ?? {});
      const hint = didYouMean(extra, known);
      const tail = hint || (known.length > 0 ? `; the settings it takes are ${listWords(known.map((k) => `"${k}"`))}` : '');
      return { path: [...path, extra], part: 'key', message: `${place(path, data)} has no setting "${extra}"${tail}` };
    }
    case 'required': {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      const about = sentence(parent?.properties?.[missing]?.description);
      return { path, part: 'value', message: `${place(path, data)} needs "${missing}"${about ? `: ${about}` : ''}` };
    }
    case 'type': {
      const expected = String((e.params as { type: string }).type).split(',');
      let message = `${subject(path, data)} should be ${listWords(expected.map(typeName))}, not ${describe(value, show)}`;
      const about = sentence(parent?.description);
      if (isMatchEntry(path) && isPlainObject(value)) {
        message += `; for a field inside another, write its dotted path, e.g. data.workflowId: wf_payroll`;
      } else if (about) {
        message += ` (${about})`;
      }
      return { path, part: 'value', message };
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      const unique = [...new Set(allowed.map((a) => a.toLowerCase()))];
      const hint = typeof value === 'string' ? didYouMean(value, unique) : '';
      return { path, part: 'value', message: `${subject(path, data)} is ${show(value)}; it should be one of ${listWords(unique)}${hint}` };
    }
    case 'const':
      return {
        path,
        part: 'value',
        message: `${subject(path, data)} is ${show(value)}; it should be ${showValue((e.params as { allowedValue: unknown }).allowedValue)}`,
      };
    case 'minimum':
    case 'exclusiveMinimum':
      return { path, part: 'value', message: `${subject(path, data)} is ${show(value)}; it should be at least ${limitOf(e)}` };
    case 'maximum':
    case 'exclusiveMaximum':
      return { path, part: 'value', message: `${subject(path, data)} is ${show(value)}; it should be at most ${limitOf(e)}` };
    case 'minItems':
      return { path, part: 'value', message: `${subject(path, data)} is an empty list; give at least one item` };
    case 'minLength':
      if (path[path.length - 1] === 'channel') {
        // `channel: #alerts` is a YAML comment, so the value is empty: the commonest Slack slip.
        return {
          path,
          part: 'value',
          message: `${subject(path, data)} is empty; write the channel in quotes, e.g. channel: "#b3os-alerts" (in YAML an unquoted # starts a comment)`,
        };
      }
      return { path, part: 'value', message: `${subject(path, data)} is empty; write a value or remove the line` };
    case 'pattern':
      if (path.length === 2 && path[0] === 'server' && path[1] === 'path') {
        return { path, part: 'value', message: `server.path is ${show(value)}; it should start with "/", e.g. /b3os/hooks` };
      }
      return {
        path,
        part: 'value',
        message: `${subject(path, data)} is ${show(value)}, which is not in the expected form (${sentence(parent?.description) ?? 'see rules.schema.json'})`,
      };
    case 'propertyNames': {
      const name = String((e.params as { propertyName?: string }).propertyName ?? '');
      return { path: [...path, name], part: 'key', message: `${place(path, data)} has an empty name; give it one` };
    }
    default:
      // A keyword we do not translate yet: still a sentence, still at its place.
      return { path, part: 'value', message: `${subject(path, data)} ${e.message ?? 'is not valid'}` };
  }
}

function limitOf(e: ErrorObject): string {
  return String((e.params as { limit: unknown }).limit);
}

/** JSON pointer → path; numeric segments of arrays become numbers. */
function toPath(pointer: string, data: unknown): PathSeg[] {
  if (pointer === '') return [];
  const out: PathSeg[] = [];
  let cur: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      out.push(Number(seg));
      cur = cur[Number(seg)];
    } else {
      out.push(seg);
      cur = isPlainObject(cur) && Object.hasOwn(cur, seg) ? (cur as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isMatchEntry(path: PathSeg[]): boolean {
  return path.length === 4 && path[0] === 'rules' && path[2] === 'match';
}

function ruleLabel(index: number, data: unknown): string {
  const rules = isPlainObject(data) ? data.rules : undefined;
  const rule = Array.isArray(rules) ? rules[index] : undefined;
  const name = isPlainObject(rule) ? rule.name : undefined;
  return typeof name === 'string' && name !== '' ? `rule "${name}"` : `rule ${index + 1}`;
}

/** The nearest named thing a path is inside: a rule, a destination, an example, a grant. */
function anchorOf(path: Path, data: unknown): { length: number; label: string } {
  const [a, b, c, d] = path;
  if (a === 'destinations' && b !== undefined) return { length: 2, label: `destination "${b}"` };
  if (a === 'rules' && typeof b === 'number') {
    const rule = ruleLabel(b, data);
    if (c === 'examples' && typeof d === 'number') return { length: 4, label: `example ${d + 1} of ${rule}` };
    if (c === 'match') return { length: 3, label: `the match of ${rule}` };
    if (c === 'when') return { length: 3, label: `the "when" of ${rule}` };
    return { length: 2, label: rule };
  }
  if (a === 'policy' && b === 'allow_privileged' && typeof c === 'number') {
    return { length: 3, label: `grant ${c + 1} in policy.allow_privileged` };
  }
  return { length: 0, label: 'the rules file' };
}

/** The thing a path names, for a person: `rule "x"`, `destination "y"`, `server.signature`. */
export function place(path: Path, data: unknown): string {
  const { length, label } = anchorOf(path, data);
  const rest = path.slice(length);
  if (rest.length === 0) return label;
  if (length === 0) return rest.join('.');
  return `the ${rest.join('.')} of ${label}`;
}

/** A value at a path, for a person: `"send_to" of rule "x"`, `item 2 of "to" of destination "y"`. */
export function subject(path: Path, data: unknown): string {
  const { length, label } = anchorOf(path, data);
  if (length === path.length) return label;
  const last = path[path.length - 1]!;
  const parent = path.slice(0, -1);
  if (typeof last === 'number') return `item ${last + 1} of ${subject(parent, data)}`;
  if (parent.length === 0) return `"${last}"`;
  return `"${last}" of ${place(parent, data)}`;
}

function typeName(t: string): string {
  switch (t) {
    case 'object':
      return 'a map of settings';
    case 'array':
      return 'a list';
    case 'string':
      return 'text';
    case 'integer':
      return 'a whole number';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'null':
      return 'empty';
    default:
      return t;
  }
}

function describe(v: unknown, show: (v: unknown) => string): string {
  if (v === null || v === undefined) return 'empty';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map of settings';
  if (typeof v === 'string') return `the text ${show(v)}`;
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') return `the number ${v}`;
  return typeof v;
}

/** The first sentence of a schema description, lower-cased, without its full stop. */
function sentence(text: string | undefined): string | null {
  if (!text) return null;
  const first = text.split(/(?<=\.)\s+(?=[A-Z])/)[0]!.replace(/\.$/, '');
  return first.charAt(0).toLowerCase() + first.slice(1);
}
