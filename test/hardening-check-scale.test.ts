// A rules file with a great many mistakes is checked in time linear in its size, and the answer
// stays readable: the first PROBLEMS_LISTED problems, then one line that counts the rest. (The
// schema's references, yaml's duplicate-key check, locating each problem and the spelling guesses
// each used to cost the square of the number of problems: this file took about a minute.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROBLEMS_LISTED } from '../src/config/defaults.js';
import { runCli, tempDir } from './helpers/cli.js';

test('check of a 1.5 MB file with 150,000 mistakes: 200 listed, the rest counted, in linear time', { timeout: 90_000 }, async (t) => {
  const tmp = tempDir('b3os-scale-');
  t.after(() => tmp.cleanup());
  const n = 30_000;
  const range = (f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i));
  const text = [
    'version: 1',
    `destinations: {${range((i) => `d${i}: {a: 1}`).join(', ')}}`,
    'rules:',
    '  - name: keys',
    '    send_to: [nowhere]',
    '    match: {type: x}',
    ...range((i) => `    k${i}: 1`),
    '  - name: conditions',
    '    send_to: [nowhere]',
    `    when: {"and": [${range(() => '{"x": 1}').join(',')}]}`,
    ...range(() => '  - {a: 1}'),
    '',
  ].join('\n');
  const file = join(tmp.dir, 'rules.yaml');
  writeFileSync(file, text);
  assert.ok(text.length > 1_000_000);

  // 6 s here, 20 s on a busy machine; before, the same file took over two minutes.
  const out = await runCli(['check', '--rules', file], { timeoutMs: 40_000 });
  assert.equal(out.code, 1, out.stderr);
  const lines = out.stdout.trim().split('\n');
  assert.equal(lines.length, PROBLEMS_LISTED + 2, 'the listed problems, the line that counts the rest, the summary');
  const more = /^.+:(\d+):(\d+): (\d+) more problems \((\d+) errors\) not listed, the first of them here; fix the ones listed and run check again$/.exec(
    lines.at(-2)!,
  );
  assert.ok(more, lines.at(-2));
  const summary = /: (\d+) errors; the router refuses this file/.exec(lines.at(-1)!);
  assert.ok(summary, lines.at(-1));
  assert.equal(Number(summary[1]), PROBLEMS_LISTED + Number(more[4]), 'the summary counts every error, listed or not');
  assert.ok(Number(more[3]) > 4 * n, `every kind of mistake counted: ${more[3]}`);

  // --json: the same cut, and the counts exact.
  const json = await runCli(['check', '--rules', file, '--json'], { timeoutMs: 40_000 });
  const doc = JSON.parse(json.stdout) as { errors: number; problems: { more?: { problems: number; errors: number } }[] };
  assert.equal(doc.problems.length, PROBLEMS_LISTED + 1);
  assert.equal(doc.errors, Number(summary[1]));
  assert.deepEqual(doc.problems.at(-1)!.more, { problems: Number(more[3]), errors: Number(more[4]) });
});

test('a key written twice is still found, in a map of 30,000 keys', { timeout: 60_000 }, async (t) => {
  const tmp = tempDir('b3os-scale-');
  t.after(() => tmp.cleanup());
  const keys = Array.from({ length: 30_000 }, (_, i) => `  k${i}: 1`);
  keys.splice(20_000, 0, '  k7: 2');
  const file = join(tmp.dir, 'rules.yaml');
  writeFileSync(file, ['version: 1', 'server:', ...keys, ''].join('\n'));
  const out = await runCli(['check', '--rules', file], { timeoutMs: 50_000 });
  assert.equal(out.code, 1);
  assert.match(out.stdout, /rules\.yaml:20003:3: this key is written twice in the same block; keep one of them\n/);
});
