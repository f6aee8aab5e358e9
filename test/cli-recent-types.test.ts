// The types actually received (`events --types`) and the rules whose types never came
// (`check --against-recent`), on a database filled by a real router from signed events.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, tempDir, waitFor } from './helpers/cli.js';
import { postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';

const RULES = `version: 1
destinations:
  ops: { type: webhook, url: "http://127.0.0.1:9/unused" }
rules:
  - name: failures
    match: { type: run.failed }
    send_to: [ops]
  - name: billing
    match: { type: [run.succeeded] }
    send_to: [ops]
  - name: steps
    match: { type: [execution.failed, node.failed] }
    send_to: [ops]
  - name: cancelled
    match: { type: run.cancelled }
    send_to: [ops]
  - name: hook-deliveries
    match: { type: "delivery.*" }
    send_to: [ops]
  - name: muted
    enabled: false
    match: { type: run.waiting }
    send_to: [ops]
  - name: big
    when: { ">": [{ var: data.amount }, 10] }
    send_to: [ops]
`;

const tmp = tempDir();
let r: RouterProcess;
let env: Record<string, string>;
const at = (needle: string) => {
  const i = RULES.indexOf(needle);
  const before = RULES.slice(0, i).split('\n');
  return `${before.length}:${before[before.length - 1]!.length + 1}`;
};

before(async () => {
  r = await startRouter({ dir: tmp.dir, rules: RULES });
  env = { RULES_FILE: r.rulesPath, DB_PATH: r.dbPath };
  const events = [
    { id: 'e1', type: 'run.failed' },
    { id: 'e2', type: 'run.failed' },
    { id: 'e3', type: 'run.completed', data: { id: 'run_1', status: 'success' } },
    { id: 'e4', type: 'node.failed', data: { status: 'failure' } },
    { id: 'e5', data: { note: 'no type at all' } },
  ];
  for (const e of events) assert.equal((await postEvent(r.url, e)).status, 204);
  assert.equal((await postEvent(r.url, events[0])).status, 200, 'a duplicate is not counted twice');
  await waitFor(() => readDb(r.dbPath, (d) => (d.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n === 5), { what: 'five stored events' });
});
after(async () => {
  await r.stop();
  tmp.cleanup();
});

test('events --types: the types received in the last day, with counts', async () => {
  const res = await runCli(['events', '--types', '--json'], { env });
  assert.equal(res.code, 0, res.stderr);
  const out = JSON.parse(res.stdout) as { since: string; types: { type: string | null; count: number; lastReceivedAt: string }[] };
  assert.deepEqual(
    out.types.map((t) => [t.type, t.count]),
    [
      ['run.failed', 2],
      [null, 1],
      ['node.failed', 1],
      ['run.completed', 1],
    ],
  );
  const since = Date.parse(out.since);
  assert.ok(Math.abs(Date.now() - 24 * 3600_000 - since) < 60_000, `since is a day ago: ${out.since}`);
  assert.ok(out.types.every((t) => Date.parse(t.lastReceivedAt) >= since));

  const table = await runCli(['events', '--types', '--since', '1h'], { env });
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trim().split('\n');
  assert.match(lines[0]!, /^types received since \d{4}-\d\d-\d\dT/);
  assert.match(lines[1]!, /^TYPE\s+COUNT\s+LAST RECEIVED$/);
  assert.match(lines[2]!, /^run\.failed\s+2\s+\d{4}-/);
  assert.match(table.stdout, /\(no type\)\s+1/);

  const both = await runCli(['events', '--types', '--type', 'run.failed'], { env });
  assert.equal(both.code, 2);
  assert.match(both.stderr, /leave out --type/);
});

test('check --against-recent: a warning at each enabled rule type that never came', async () => {
  const res = await runCli(['check', '--against-recent', '7d'], { env });
  assert.equal(res.code, 0, res.stdout + res.stderr);
  const recent = res.stdout.split('\n').filter((l) => l.includes('was received in the last'));
  assert.equal(recent.length, 3, res.stdout);
  assert.ok(
    recent[0]!.startsWith(
      `${r.rulesPath}:${at('run.succeeded')}: warning: rule "billing" takes "run.succeeded", and no event of that type was received in the last 7d (5 events in all); but "run.completed", the other name B3OS deployments use for the same event, was received 1 time; add it to the type list`,
    ),
    recent[0],
  );
  assert.ok(
    recent[1]!.startsWith(`${r.rulesPath}:${at('run.cancelled')}: warning: rule "cancelled" takes "run.cancelled", and no event of that type was received`),
    recent[1],
  );
  assert.match(recent[1]!, /b3os-router events --types --since 7d/);
  assert.ok(
    recent[2]!.startsWith(
      `${r.rulesPath}:${at('"delivery.*"')}: warning: rule "hook-deliveries" takes "delivery.*", and no event of a matching type was received`,
    ),
    recent[2],
  );
  // steps: node.failed came, so its pair is satisfied; muted is disabled; big has no type.
  assert.doesNotMatch(res.stdout, /rule "(steps|muted|big|failures)" takes .* was received/);
  assert.match(res.stdout, /valid \(7 rules, 1 destination, 0 grants\), with 4 warnings above/);

  const json = await runCli(['check', '--against-recent', '7', '--json'], { env });
  assert.equal(json.code, 0);
  const doc = JSON.parse(json.stdout) as { warnings: number; problems: { message: string }[] };
  assert.equal(doc.warnings, 4);
  assert.ok(doc.problems.some((p) => p.message.includes('in the last 7d')));
});

test('check --against-recent: bad input gets a clear answer', async () => {
  const bad = await runCli(['check', '--against-recent', 'soon'], { env });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--against-recent takes how far back to look/);
  const noDb = await runCli(['check', '--against-recent', '7d', '--db', `${tmp.dir}/missing.db`], { env });
  assert.equal(noDb.code, 1);
  assert.match(noDb.stderr, /no database at .*missing\.db/);
});
