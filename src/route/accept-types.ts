// `server.accept_types`: which event types are stored and routed ("run.*" accepts every run event;
// wildcards as in `match`). Compiled once per list.
import { isWildcard, wildcard } from '../rules/match.js';

const cache = new WeakMap<readonly string[], (type: string | null) => boolean>();

const ALL = () => true;

export function typeFilter(patterns: readonly string[] | null): (type: string | null) => boolean {
  if (patterns === null) return ALL;
  let f = cache.get(patterns);
  if (f) return f;
  const exact = new Set(patterns.filter((p) => !isWildcard(p)));
  const wild = patterns.filter(isWildcard).map(wildcard);
  f = (type) => type !== null && (exact.has(type) || wild.some((w) => w(type)));
  cache.set(patterns, f);
  return f;
}
