// The event type names B3OS deployments send, in both vocabularies (../shared/reference/
// b3os-facts.md): the hooks page and the contract say `run.succeeded` and `execution.*`, B3OS's API
// documentation says `run.completed` and `node.*` for the same events. One place knows both, so the
// `check` warning and the `subscription` command never disagree about what a name means.
import { isWildcard, wildcard } from '../rules/match.js';
import type { Problems } from './problems.js';
import type { RouterConfig } from './types.js';

const NODE_STATES = ['pending', 'running', 'succeeded', 'failed', 'skipped', 'waiting', 'scheduled'] as const;

/** Pairs of names for the same event: [the contract's spelling, B3OS API docs' spelling]. */
export const SPELLING_PAIRS: readonly (readonly [string, string])[] = [
  ['run.succeeded', 'run.completed'],
  ...NODE_STATES.map((s) => [`execution.${s}`, `node.${s}`] as const),
];

/** Every type name a B3OS deployment is known to send, in either vocabulary. */
export const KNOWN_TYPES: readonly string[] = [
  ...['started', 'waiting', 'succeeded', 'completed', 'failed', 'cancelled'].map((s) => `run.${s}`),
  ...NODE_STATES.map((s) => `execution.${s}`),
  ...NODE_STATES.map((s) => `node.${s}`),
  ...['attempted', 'retried', 'replayed', 'succeeded', 'failed'].map((s) => `delivery.${s}`),
];

const other = new Map<string, string>(
  SPELLING_PAIRS.flatMap(
    ([a, b]) =>
      [
        [a, b],
        [b, a],
      ] as [string, string][],
  ),
);

/** The other vocabulary's name for the same event, or null when both say the same. */
export function otherSpelling(type: string): string | null {
  return other.get(type) ?? null;
}

/** A predicate for one `match.type` / `accept_types` entry (`*` wildcards). */
export function typePattern(pattern: string): (type: string) => boolean {
  return isWildcard(pattern) ? wildcard(pattern) : (t) => t === pattern;
}

/** The names in `universe` (default: the known types) that any of `patterns` matches. */
export function expandTypes(patterns: readonly string[], universe: readonly string[] = KNOWN_TYPES): string[] {
  const tests = patterns.map(typePattern);
  return universe.filter((t) => tests.some((test) => test(t)));
}

/**
 * For each entry of a type list, the other spellings of what it matches that no entry of the list
 * matches: `[execution.failed]` misses `node.failed`, `["execution.*"]` misses every `node.*`.
 */
export function missingSpellings(patterns: readonly string[]): { index: number; pattern: string; missing: string[] }[] {
  const tests = patterns.map(typePattern);
  const out: { index: number; pattern: string; missing: string[] }[] = [];
  patterns.forEach((pattern, index) => {
    const missing = expandTypes([pattern])
      .map(otherSpelling)
      .filter((o): o is string => o !== null && !tests.some((test) => test(o)));
    if (missing.length > 0) out.push({ index, pattern, missing: [...new Set(missing)] });
  });
  return out;
}

/** `execution.*` → `node.*`: the same pattern in the other vocabulary, when it covers exactly `missing`. */
function swapped(pattern: string, missing: string[]): string | null {
  const prefix = /^(execution|node)\./.exec(pattern)?.[1];
  if (!prefix || !isWildcard(pattern)) return null;
  const candidate = `${prefix === 'node' ? 'execution' : 'node'}.${pattern.slice(prefix.length + 1)}`;
  const covered = expandTypes([candidate]);
  return missing.every((m) => covered.includes(m)) ? candidate : null;
}

/**
 * `check`: a rule (or `server.accept_types`) that names one spelling of an event and not the other
 * silently misses that event on half the deployments.
 */
export function warnTypeSpellings(config: RouterConfig, problems: Problems): void {
  const lists: { path: (string | number)[]; patterns: readonly string[]; label: string; key: string }[] = [];
  const accept = config.server.acceptTypes;
  if (accept) lists.push({ path: ['server', 'accept_types'], patterns: accept, label: 'server.accept_types', key: 'accept_types' });
  for (const rule of config.rules) {
    if (rule.typePatterns) lists.push({ path: ['rules', rule.index, 'match', 'type'], patterns: rule.typePatterns, label: `rule "${rule.name}"`, key: 'type' });
  }
  for (const { path, patterns, label, key } of lists) {
    for (const { index, pattern, missing } of missingSpellings(patterns)) {
      const add = swapped(pattern, missing);
      const fixed = [...patterns, ...(add ? [add] : missing)].map((t) => (isWildcard(t) ? `"${t}"` : t));
      const them = missing.length > 1 ? 'them' : 'it';
      problems.warn(
        [...path, index],
        `${label} takes "${pattern}" but not ${missing.map((m) => `"${m}"`).join(', ')}, ${missing.length > 1 ? 'the names other B3OS deployments send for the same events' : 'the name other B3OS deployments send for the same event'}, so it misses ${them} there; write ${key}: [${fixed.join(', ')}]`,
      );
    }
  }
}
