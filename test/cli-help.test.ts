// The CLI's own surface through the real executable: every command's --help and -h print that
// command's usage and exit 0 without running anything; errors are printed one way by main.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, tempDir } from './helpers/cli.js';

// Every command, and a word its usage line must show (its own first option or argument).
const COMMANDS: [string, RegExp][] = [
  ['serve', /--port N/],
  ['check', /--against-recent/],
  ['test', /--event FILE/],
  ['events', /--types/],
  ['deliveries', /--status S/],
  ['explain', /EVENT/],
  ['retry', /--dead/],
  ['replay', /--dry-run/],
  ['diff', /--rules NEW\.yaml/],
  ['ping', /DESTINATION/],
  ['subscription', /--url URL/],
];

test('every command: --help and -h print its own usage, exit 0, and start nothing', async () => {
  // An empty folder with no secret, rules or database: running any command for real would fail or
  // (serve) keep running; help must do neither.
  const tmp = tempDir();
  try {
    const runs = COMMANDS.flatMap(([name, own]) =>
      ['--help', '-h'].map(async (flag) => {
        const started = Date.now();
        const r = await runCli([name, flag], { cwd: tmp.dir, timeoutMs: 10_000 });
        const what = `b3os-router ${name} ${flag}`;
        assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
        assert.equal(r.stderr, '', `${what} wrote to stderr`);
        assert.ok(r.stdout.startsWith(`usage: b3os-router ${name} `), `${what} printed:\n${r.stdout}`);
        assert.match(r.stdout, own, `${what} shows its own options`);
        assert.match(r.stdout, /every command accepts --rules FILE/);
        assert.ok(Date.now() - started < 8_000, `${what} returned at once`);
      }),
    );
    await Promise.all(runs);
  } finally {
    tmp.cleanup();
  }
});

test('--help after other flags, and `help CMD`, show the same usage', async () => {
  const [late, viaHelp, plain] = await Promise.all([runCli(['events', '--since', '1h', '--help']), runCli(['help', 'events']), runCli(['events', '--help'])]);
  assert.equal(late.code, 0);
  assert.equal(late.stdout, plain.stdout);
  assert.equal(viaHelp.stdout, plain.stdout);
  assert.match(plain.stdout, /^usage: b3os-router events \[--type T\][^\n]*\n {7}b3os-router events --types/);
});

test('--since refuses a bare number, as the rules file does, before opening anything', async () => {
  const tmp = tempDir();
  try {
    for (const name of ['events', 'deliveries', 'replay']) {
      const r = await runCli([name, '--since', '5', '--db', `${tmp.dir}/none.db`]);
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      const [first, second] = r.stderr.split('\n');
      assert.equal(first, `b3os-router ${name}: --since 5 has no unit; write 5m, 5h or 5d`);
      assert.ok(second!.startsWith(`usage: b3os-router ${name} `), r.stderr);
      assert.equal(r.stdout, '');
    }
    const ok = await runCli(['events', '--since', '5m', '--db', `${tmp.dir}/none.db`]);
    assert.equal(ok.code, 1, 'a duration with a unit is taken; the missing database is the error now');
    assert.match(ok.stderr, /^b3os-router events: no database at /);
  } finally {
    tmp.cleanup();
  }
});

test('errors are one way for every command: one line, exit 1; usage errors exit 2; --json one document', async () => {
  const tmp = tempDir();
  try {
    const [serve, explain, usage, json] = await Promise.all([
      runCli(['serve', '--rules', `${tmp.dir}/rules.yaml`], { cwd: tmp.dir }),
      runCli(['explain', 'evt_x', '--db', `${tmp.dir}/none.db`, '--rules', `${tmp.dir}/none.yaml`]),
      runCli(['deliveries', '--status', 'lost']),
      runCli(['deliveries', '--status', 'lost', '--json']),
    ]);
    assert.equal(serve.code, 1);
    assert.match(serve.stderr, /^b3os-router serve: B3OS_WEBHOOK_SECRET is not set: [^\n]+\n$/);
    assert.equal(explain.code, 1);
    assert.match(explain.stderr, /^b3os-router explain: /);
    assert.equal(usage.code, 2);
    assert.equal(
      usage.stderr,
      'b3os-router deliveries: --status is one of pending, delivered, failed, dead, blocked, silenced, not "lost"\n' +
        'usage: b3os-router deliveries [--status S] [--destination D] [--since 1h] [--limit N] [--json]\n',
    );
    assert.equal(json.code, 2);
    assert.deepEqual(JSON.parse(json.stdout), { error: '--status is one of pending, delivered, failed, dead, blocked, silenced, not "lost"' });
  } finally {
    tmp.cleanup();
  }
});
