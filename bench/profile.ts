// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function, highest first,
// grouped as the bench report needs (our code, fastify, better-sqlite3/SQLite, node internals, GC).
// Also runnable alone: node dist/bench/profile.js FILE.cpuprofile [TOP]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  fn: string;
  where: string;
  selfMs: number;
  share: number;
}

function category(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(idle)' || fn === '(program)') return fn.slice(1, -1);
  if (url.includes('/dist/src/')) return 'router code';
  if (url.includes('better-sqlite3')) return 'better-sqlite3 (SQLite, fsync)';
  if (url.includes('/fastify') || url.includes('find-my-way') || url.includes('avvio') || url.includes('light-my-request')) return 'fastify';
  if (url.includes('pino')) return 'pino';
  if (url.includes('undici') || url.startsWith('node:internal/deps/undici')) return 'undici (fetch)';
  if (url.startsWith('node:') || url === '') return 'node internals / native';
  return 'other deps';
}

export function summarizeProfile(file: string, top = 25): { lines: ProfileLine[]; categories: Record<string, number>; totalMs: number } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const agg = new Map<string, ProfileLine>();
  const categories: Record<string, number> = {};
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    const fn = functionName || '(anonymous)';
    const where = url ? `${url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${fn}@${where}`;
    const ms = us / 1000;
    total += ms;
    const cat = category(url, fn);
    categories[cat] = (categories[cat] ?? 0) + ms;
    const cur = agg.get(key);
    if (cur) cur.selfMs += ms;
    else agg.set(key, { fn, where, selfMs: ms, share: 0 });
  }
  const busy = total - (categories.idle ?? 0);
  const lines = [...agg.values()]
    .filter((l) => l.fn !== '(idle)')
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, top)
    .map((l) => ({ ...l, share: l.selfMs / busy }));
  return { lines, categories, totalMs: total };
}

export function formatProfile(file: string, top = 25): string {
  const { lines, categories, totalMs } = summarizeProfile(file, top);
  const busy = totalMs - (categories.idle ?? 0);
  const out = [`profile ${file}: ${totalMs.toFixed(0)} ms sampled, ${busy.toFixed(0)} ms busy`];
  out.push('  by area (share of busy time):');
  for (const [k, v] of Object.entries(categories).sort((a, b) => b[1] - a[1])) {
    if (k === 'idle') continue;
    out.push(`    ${k.padEnd(32)} ${((100 * v) / busy).toFixed(1).padStart(5)}%`);
  }
  out.push(`  top ${top} functions by self time:`);
  for (const l of lines) out.push(`    ${(100 * l.share).toFixed(1).padStart(5)}%  ${l.fn}  ${l.where}`);
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: profile.js FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  process.stdout.write(formatProfile(file, Number(process.argv[3] ?? 25)) + '\n');
}
