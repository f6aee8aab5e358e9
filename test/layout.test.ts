// The folders of src/ import only downward, in the order the README's "Layout" section writes
// (one line in a code block, `a → b → c`), and the folder graph has no cycle. Read from the README
// so that it cannot drift from the code.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(ROOT, 'src');

function readmeOrder(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = /^### Layout\n([\s\S]*?)(?=^#{1,3} |(?![\s\S]))/m.exec(readme);
  assert.ok(section, 'README.md has a "### Layout" section');
  const line = /```\n([^\n]*→[^\n]*)\n```/.exec(section[1]!);
  assert.ok(line, 'the Layout section has the folder order on one line in a code block');
  return line[1]!.split('→').map((s) => s.trim());
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** `src/router.ts` → router, `src/delivery/channels/slack.ts` → delivery. */
function folderOf(file: string): string {
  const first = relative(SRC, file).split(/[\\/]/)[0]!;
  return first.replace(/\.(ts|js)$/, '');
}

// Static `import … from '…'`, `export … from '…'`, bare `import '…'`, and `import('…')`.
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

interface Edge {
  file: string;
  spec: string;
  from: string;
  to: string;
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of sources(SRC)) {
    // Comments may quote imports; they are not dependencies.
    const text = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(SRC)) continue;
      const from = folderOf(file);
      const to = folderOf(target);
      if (from !== to) out.push({ file: relative(ROOT, file), spec, from, to });
    }
  }
  return out;
}

test('every folder of src/ is in the README Layout order, and imports only folders below it', () => {
  const order = readmeOrder();
  const rank = new Map(order.map((f, i) => [f, i]));
  const all = edges();
  assert.ok(all.length > 20, `found ${all.length} imports between folders; is the parser broken?`);
  const folders = new Set(sources(SRC).map(folderOf));
  for (const f of folders) assert.ok(rank.has(f), `src/${f} is not in the README Layout order (${order.join(' → ')}); add it where it belongs`);
  const broken = all
    .filter((e) => rank.get(e.from)! > rank.get(e.to)!)
    .map((e) => `${e.file} imports '${e.spec}': ${e.from} may not import ${e.to}, which stands above it (${order.join(' → ')})`);
  assert.deepEqual(broken, []);
});

test('the folder graph has no cycle', () => {
  const graph = new Map<string, Set<string>>();
  for (const e of edges()) {
    if (!graph.has(e.from)) graph.set(e.from, new Set());
    graph.get(e.from)!.add(e.to);
  }
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const cycles: string[] = [];
  const visit = (n: string): void => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'open') {
      cycles.push([...path.slice(path.indexOf(n)), n].join(' → '));
      return;
    }
    state.set(n, 'open');
    path.push(n);
    for (const m of graph.get(n) ?? []) visit(m);
    path.pop();
    state.set(n, 'done');
  };
  for (const n of graph.keys()) visit(n);
  assert.deepEqual(cycles, [], 'folders that import each other, directly or round a loop');
});

test('the check itself catches an upward import (the parser sees every kind of import)', () => {
  const sample = `import type { A } from '../x.js';\nexport { b } from "./y.js";\nconst c = await import('../../z.js');\nimport '../side.js';`;
  const specs = [...sample.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3]);
  assert.deepEqual(specs, ['../x.js', './y.js', '../../z.js', '../side.js']);
});
