// `server.accept_types`: which event types are stored and routed. `*` matches any run of
// characters, so "run.*" accepts every run event. Compiled once per list.
const cache = new WeakMap<readonly string[], (type: string | null) => boolean>();

const ALL = () => true;

export function typeFilter(patterns: readonly string[] | null): (type: string | null) => boolean {
  if (patterns === null) return ALL;
  let f = cache.get(patterns);
  if (f) return f;
  const exact = new Set(patterns.filter((p) => !p.includes('*')));
  const wild = patterns.filter((p) => p.includes('*')).map((p) => new RegExp('^' + p.split('*').map(escapeRegExp).join('.*') + '$'));
  f = (type) => type !== null && (exact.has(type) || wild.some((r) => r.test(type)));
  cache.set(patterns, f);
  return f;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
