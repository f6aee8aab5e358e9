// Rules in plain words, for the people who write them: "When the type is run.failed and the
// workflow is wf_payroll, tell ops-slack and oncall-email." Built from the rule as written in the
// file (match, when, send_to, stop); a `when` too complex to say is shown as code.
import { parse } from 'yaml';
import type { Json, RouterConfig } from '../config/types.js';

export interface Segment {
  text: string;
  /** Shown as code: a value, a field path, or JSON Logic. */
  code: boolean;
}

interface WrittenRule {
  match?: Record<string, Json>;
  when?: Json;
  send_to?: string | string[];
  stop?: boolean;
}

const FIELD_WORDS: Record<string, string> = {
  type: 'the type',
  'data.workflowId': 'the workflow',
  'data.workflowName': 'the workflow name',
  'data.nodeId': 'the step',
  'data.nodeName': 'the step name',
  'data.runId': 'the run',
  'data.status': 'the status',
  'data.error.message': 'the error message',
};

const t = (text: string): Segment => ({ text, code: false });
const c = (text: string): Segment => ({ text, code: true });

function field(path: string): Segment[] {
  const word = FIELD_WORDS[path];
  return word ? [t(word)] : [t('the field '), c(path)];
}

/** "a, b and c" with each item as code (or plain). */
function list(items: string[], join: string, code = true): Segment[] {
  const out: Segment[] = [];
  items.forEach((item, i) => {
    if (i > 0) out.push(t(i === items.length - 1 ? ` ${join} ` : ', '));
    out.push(code ? c(item) : t(item));
  });
  return out;
}

const shown = (v: Json): string => (typeof v === 'string' ? v : JSON.stringify(v));

function valueWords(v: Json): Segment[] {
  if (v === null) return [t('is empty')];
  if (Array.isArray(v)) {
    if (v.length === 1) return valueWords(v[0]!);
    return [t('is '), ...list(v.map(shown), 'or')];
  }
  if (typeof v === 'string' && v.includes('*')) {
    const inner = v.slice(0, -1);
    if (v.endsWith('*') && !inner.includes('*')) return [t('starts with '), c(inner)];
    const tail = v.slice(1);
    if (v.startsWith('*') && !tail.includes('*')) return [t('ends with '), c(tail)];
    return [t('matches the pattern '), c(v)];
  }
  return [t('is '), c(shown(v))];
}

const COMPARISONS: Record<string, string> = {
  '==': 'is',
  '===': 'is',
  '!=': 'is not',
  '!==': 'is not',
  '>': 'is more than',
  '>=': 'is at least',
  '<': 'is less than',
  '<=': 'is at most',
};

/** A `when` we can say in words, or null to show it as code. */
function whenWords(w: Json): Segment[] | null {
  if (w === null || typeof w !== 'object' || Array.isArray(w)) return null;
  const ops = Object.keys(w);
  if (ops.length !== 1) return null;
  const op = ops[0]!;
  const args = (w as Record<string, Json>)[op];
  if (op === 'and' && Array.isArray(args) && args.length > 0) {
    const parts = args.map(whenWords);
    if (parts.some((p) => p === null)) return null;
    return parts.flatMap((p, i) => (i === 0 ? p! : [t(' and '), ...p!]));
  }
  if (!Array.isArray(args) || args.length !== 2) return null;
  const [a, b] = args;
  const path = varPath(a!);
  if (path === null || (b !== null && typeof b === 'object')) {
    if (op === 'in' && path !== null && Array.isArray(b) && b.every((x) => x === null || typeof x !== 'object'))
      return [...field(path), t(' is '), ...list(b.map(shown), 'or')];
    return null;
  }
  const verb = COMPARISONS[op];
  return verb ? [...field(path), t(` ${verb} `), c(shown(b!))] : null;
}

function varPath(v: Json): string | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const inner = (v as Record<string, Json>).var;
  return typeof inner === 'string' && Object.keys(v).length === 1 ? inner : null;
}

export function ruleSentence(written: WrittenRule, sendTo: string[], stop: boolean): Segment[] {
  const conditions: Segment[][] = [];
  for (const [path, value] of Object.entries(written.match ?? {})) conditions.push([...field(path), t(' '), ...valueWords(value)]);
  if (written.when !== undefined) conditions.push(whenWords(written.when) ?? [t('this condition holds: '), c(JSON.stringify(written.when))]);
  const out: Segment[] = [];
  if (conditions.length === 0) out.push(t('For every event'));
  else {
    out.push(t('When '));
    conditions.forEach((cond, i) => {
      if (i > 0) out.push(t(' and '));
      out.push(...cond);
    });
  }
  if (sendTo.length === 0) out.push(t(', send nothing'));
  else out.push(t(', tell '), ...list(sendTo, 'and', false));
  out.push(t(stop ? ', and check no later rule.' : '.'));
  return out;
}

const writtenCache = new WeakMap<RouterConfig, WrittenRule[]>();

/** The rules as written in the file's text (before ${VAR} interpolation: nothing from the environment is shown). */
export function writtenRules(config: RouterConfig): WrittenRule[] {
  let rules = writtenCache.get(config);
  if (!rules) {
    try {
      const doc = parse(config.source, { maxAliasCount: 100, merge: true }) as { rules?: unknown } | null;
      rules = Array.isArray(doc?.rules) ? (doc.rules as WrittenRule[]).map((r) => (r !== null && typeof r === 'object' ? r : {})) : [];
    } catch {
      rules = [];
    }
    writtenCache.set(config, rules);
  }
  return rules;
}
