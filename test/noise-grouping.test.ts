// Noise control, grouping (contract §9), end to end: the real server (child process) on a real
// SQLite file, real local receivers (webhook, fake Slack Web API), the real CLI. Short intervals;
// every wait is on a condition.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli, tempDir, waitFor } from './helpers/cli.js';
import { startFakeSlackApi, startHttpReceiver } from './helpers/receivers.js';
import { postEvent, readDb, startRouter } from './helpers/router.js';

interface DigestBody {
  rule: string;
  destination: string;
  group: Record<string, unknown>;
  count: number;
  events: { id: string }[];
}
interface SingleBody {
  rule: string;
  event: { id: string };
}

const event = (id: string, workflowId = 'wf_payroll') => ({
  id,
  type: 'run.failed',
  createdAt: new Date().toISOString(),
  data: { workflowId, workflowName: `Workflow ${workflowId}`, runId: `run_${id}`, error: { message: 'card declined' } },
});

/** One rule that sends run.failed to a webhook receiver, grouped as `group` says. */
const groupedRules = (hookUrl: string, group: string) => `version: 1
destinations:
  hook: { type: webhook, url: ${hookUrl}/in }
rules:
  - name: payroll-failed
    match: { type: run.failed }
    send_to: [hook]
    group: ${group}
`;

/** A router with groupedRules, and its receiver. */
async function groupedToHook(t: TestContext, group: string) {
  const tmp = tempDir('b3os-noise-');
  const hook = await startHttpReceiver();
  const r = await startRouter({ dir: tmp.dir, rules: groupedRules(hook.url, group) });
  t.after(async () => {
    await r.stop();
    await hook.close();
    tmp.cleanup();
  });
  return { r, hook };
}

async function postAll(url: string, events: object[]): Promise<void> {
  const answers = await Promise.all(events.map((e) => postEvent(url, e)));
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [204], 'every event accepted');
}

test('a burst of 50 with interval 2s: one notification at once, then one digest of 49 with every event', { timeout: 60_000 }, async (t) => {
  const tmp = tempDir('b3os-noise-');
  const hook = await startHttpReceiver();
  const slack = await startFakeSlackApi();
  const r = await startRouter({
    dir: tmp.dir,
    env: { SLACK_BOT_TOKEN: 'xoxb-test', SLACK_API_URL: slack.apiUrl },
    rules: `version: 1
destinations:
  hook: { type: webhook, url: ${hook.url}/in }
  ops-slack: { type: slack, channel: "#alerts" }
rules:
  - name: payroll-failed
    match: { type: run.failed }
    send_to: [hook, ops-slack]
    group: { by: [data.workflowId], interval: 2s }
`,
  });
  t.after(async () => {
    await r.stop();
    await hook.close();
    await slack.close();
    tmp.cleanup();
  });

  const ids = Array.from({ length: 50 }, (_, i) => `burst-${i}`);
  await postAll(r.url, [event(ids[0]!)]);
  await postAll(
    r.url,
    ids.slice(1).map((id) => event(id)),
  );

  const [first] = await hook.waitFor(1, 5_000);
  assert.equal(first!.json<SingleBody>().event.id, ids[0], 'the first notification carries the opening event alone, rendered like an ungrouped one');

  const all = await hook.waitFor(2, 10_000);
  const digest = all[1]!.json<DigestBody>();
  assert.equal(digest.count, 49);
  assert.deepEqual(digest.group, { 'data.workflowId': 'wf_payroll' });
  assert.deepEqual(digest.events.map((e) => e.id).sort(), ids.slice(1).sort(), 'every gathered event is in the digest body');
  assert.ok(all[1]!.headers['idempotency-key'], 'a digest is a delivery: it has an Idempotency-Key');

  // Slack's default digest: the count, the rule, the group, ten lines, then "and N more".
  const calls = await slack.waitFor(2, 10_000);
  const text = String(calls[1]!.args.text);
  assert.match(text, /^B3OS digest: 49 events for rule payroll-failed \(data\.workflowId=wf_payroll\)/);
  assert.equal(text.split('\n').filter((l) => l.startsWith('• ')).length, 10);
  assert.match(text, /\nand 39 more$/);

  // Nothing more is waiting: two notifications per destination, every event linked.
  await waitFor(
    () => readDb(r.dbPath, (db) => (db.prepare(`SELECT count(*) AS n FROM deliveries WHERE status <> 'delivered'`).get() as { n: number }).n === 0),
    {
      what: 'every notification delivered',
    },
  );
  const unsent = readDb(r.dbPath, (db) => (db.prepare(`SELECT count(*) AS n FROM group_events WHERE delivery_id IS NULL`).get() as { n: number }).n);
  assert.equal(unsent, 0);
  assert.equal(hook.requests.length, 2);
  // By the server's clock: the opener was created with its event (at once), the digest one interval later.
  const times = readDb(r.dbPath, (db) =>
    db
      .prepare(
        `SELECT d.event_count AS n, d.created_at AS created, e.received_at AS received FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.destination = 'hook' ORDER BY d.created_at`,
      )
      .all(),
  ) as { n: number; created: number; received: number }[];
  assert.equal(times[0]!.n, 1);
  assert.equal(times[0]!.created, times[0]!.received, 'the opening event is sent at once: its delivery is created with it');
  assert.ok(times[1]!.created >= times[0]!.created + 2_000, 'the digest is made at the end of the interval');

  // `deliveries` shows the digest with its event count; `explain` names the notification that carried an event.
  const list = await runCli(['deliveries', '--db', r.dbPath, '--destination', 'hook', '--json']);
  assert.equal(list.code, 0, list.stderr);
  const rows = (JSON.parse(list.stdout) as { deliveries: { id: string; events: number }[] }).deliveries;
  assert.deepEqual(
    rows.map((d) => d.events).sort((a, b) => a - b),
    [1, 49],
  );
  const digestId = rows.find((d) => d.events === 49)!.id;
  assert.equal(all[1]!.headers['idempotency-key'], digestId);
  const human = await runCli(['deliveries', '--db', r.dbPath, '--destination', 'hook']);
  assert.match(human.stdout, /49 \(digest\)/);
  const explained = await runCli(['explain', ids[17]!, '--db', r.dbPath, '--rules', r.rulesPath]);
  assert.equal(explained.code, 0, explained.stderr);
  assert.match(explained.stdout, new RegExp(`carried by the digest ${digestId} with 49 events, delivered`));
  assert.match(explained.stdout, new RegExp(`Delivery ${digestId} \\(rule "payroll-failed" → "hook", a digest of 49 events\\) was delivered`));
  const opener = await runCli(['explain', ids[0]!, '--db', r.dbPath, '--rules', r.rulesPath]);
  assert.match(opener.stdout, /it opened the group and went alone in delivery/);
});

test('two groups by data.workflowId stay apart; digest_message renders count, group and events', { timeout: 60_000 }, async (t) => {
  const tmp = tempDir('b3os-noise-');
  const slack = await startFakeSlackApi();
  const r = await startRouter({
    dir: tmp.dir,
    env: { SLACK_BOT_TOKEN: 'xoxb-test', SLACK_API_URL: slack.apiUrl },
    rules: `version: 1
destinations:
  ops-slack: { type: slack, channel: "#alerts" }
rules:
  - name: payroll-failed
    match: { type: run.failed }
    send_to: [ops-slack]
    group: { by: [data.workflowId], interval: 1500ms }
    digest_message: "{{count}} failures of {{group.data.workflowId}}: {{#events}}{{id}} {{/events}}"
`,
  });
  t.after(async () => {
    await r.stop();
    await slack.close();
    tmp.cleanup();
  });
  await postAll(r.url, [event('a-0', 'wf_a'), event('b-0', 'wf_b')]);
  await slack.waitFor(2, 5_000);
  // One after the other: a digest lists its events in the order they were received.
  for (const e of [event('a-1', 'wf_a'), event('a-<2>', 'wf_a'), event('b-1', 'wf_b'), event('a-3', 'wf_a')]) await postAll(r.url, [e]);
  const calls = await slack.waitFor(4, 10_000);
  const texts = calls.map((c) => String(c.args.text));
  const later = texts.slice(2);
  assert.deepEqual(
    later.filter((x) => x.includes('failures of')),
    ['3 failures of wf_a: a-1 a-&lt;2&gt; a-3 '],
    'wf_a: one digest of its three, rendered by digest_message and escaped for Slack',
  );
  const single = later.find((x) => !x.includes('failures of'));
  assert.ok(single?.includes('run run_b-1'), `wf_b's one gathered event went on its own, like an ungrouped notification (${later.join(' | ')})`);
  assert.ok(
    texts.slice(0, 2).every((x) => x.startsWith('B3OS run.failed')),
    'the openers are rendered like ungrouped notifications',
  );
});

test('wait gathers the first burst into one notification', { timeout: 60_000 }, async (t) => {
  const { r, hook } = await groupedToHook(t, '{ by: [data.workflowId], wait: 1s, interval: 1m }');
  const ids = Array.from({ length: 10 }, (_, i) => `wait-${i}`);
  const started = Date.now();
  await postAll(
    r.url,
    ids.map((id) => event(id)),
  );
  const [only] = await hook.waitFor(1, 10_000);
  assert.ok(only!.at - started >= 900, 'the first notification waits for `wait`');
  const body = only!.json<DigestBody>();
  assert.equal(body.count, 10);
  assert.deepEqual(body.events.map((e) => e.id).sort(), [...ids].sort());
  await waitFor(
    () => readDb(r.dbPath, (db) => (db.prepare(`SELECT count(*) AS n FROM deliveries WHERE status <> 'delivered'`).get() as { n: number }).n === 0),
    {
      what: 'the notification recorded as delivered',
    },
  );
  const rows = readDb(r.dbPath, (db) => db.prepare(`SELECT event_count FROM deliveries`).pluck().all());
  assert.deepEqual(rows, [10], 'one notification, carrying the whole burst');
  assert.equal(hook.requests.length, 1);
});

test('a quiet interval closes the group: the next event opens a new one and goes at once', { timeout: 60_000 }, async (t) => {
  const { r, hook } = await groupedToHook(t, '{ interval: 1s }');
  await postAll(r.url, [event('quiet-a')]);
  const [a] = await hook.waitFor(1, 5_000);
  // One whole interval with nothing gathered.
  await waitFor(() => Date.now() > a!.at + 1_300, { what: 'a quiet interval', intervalMs: 50 });
  // B opens a new group (sent at once); C, right after it, is gathered until B's interval ends.
  // Had the group stayed open, B and C would have gone together in one digest.
  await postAll(r.url, [event('quiet-b')]);
  await postAll(r.url, [event('quiet-c')]);
  const all = await hook.waitFor(3, 10_000);
  assert.equal(all[1]!.json<SingleBody>().event.id, 'quiet-b');
  assert.equal(all[2]!.json<SingleBody>().event.id, 'quiet-c');
  await waitFor(() => readDb(r.dbPath, (db) => (db.prepare(`SELECT count(*) AS n FROM deliveries`).get() as { n: number }).n === 3), {
    what: 'three deliveries',
  });
  const rows = readDb(r.dbPath, (db) =>
    db
      .prepare(
        `SELECT e.event_id AS id, d.created_at AS created, e.received_at AS received FROM deliveries d JOIN events e ON e.seq = d.event_seq ORDER BY d.created_at`,
      )
      .all(),
  ) as { id: string; created: number; received: number }[];
  assert.equal(rows[1]!.id, 'quiet-b');
  assert.equal(rows[1]!.created, rows[1]!.received, 'B opened a new group: sent at once, with its event');
  assert.ok(rows[2]!.created >= rows[1]!.created + 1_000, "C waited for the end of the new group's interval");
});

test('kill -9 with events gathered, then restart: the digest arrives with exactly the gathered events', { timeout: 60_000 }, async (t) => {
  const tmp = tempDir('b3os-noise-');
  const hook = await startHttpReceiver();
  const rules = groupedRules(hook.url, '{ interval: 3s }');
  const dbPath = join(tmp.dir, 'router.db');
  let r = await startRouter({ dir: tmp.dir, rules, dbPath });
  t.after(async () => {
    await r.stop();
    await hook.close();
    tmp.cleanup();
  });
  await postAll(r.url, [event('k-0')]);
  await hook.waitFor(1, 5_000);
  // Recorded too: a kill between a send and its record sends it again (at least once), not this test's point.
  await waitFor(() => readDb(dbPath, (db) => db.prepare(`SELECT status FROM deliveries`).pluck().get() === 'delivered'), { what: 'the opener recorded' });
  const gathered = ['k-1', 'k-2', 'k-3', 'k-4', 'k-5'];
  await postAll(
    r.url,
    gathered.map((id) => event(id)),
  );
  const waiting = readDb(dbPath, (db) => (db.prepare(`SELECT count(*) AS n FROM group_events WHERE delivery_id IS NULL`).get() as { n: number }).n);
  assert.equal(waiting, 5, 'the events are gathered (rows), not yet sent');
  r.child.kill('SIGKILL');
  assert.equal(await r.exited, null);
  assert.equal(hook.requests.length, 1, 'nothing was sent before the kill but the opener');

  r = await startRouter({ dir: tmp.dir, rules, dbPath });
  const all = await hook.waitFor(2, 15_000);
  const digest = all[1]!.json<DigestBody>();
  assert.equal(digest.count, 5);
  assert.deepEqual(
    digest.events.map((e) => e.id),
    gathered,
  );
  await waitFor(() => readDb(dbPath, (db) => (db.prepare(`SELECT count(*) AS n FROM deliveries WHERE status <> 'delivered'`).get() as { n: number }).n === 0), {
    what: 'the digest recorded as delivered',
  });
  const rows = readDb(dbPath, (db) => db.prepare(`SELECT event_count FROM deliveries ORDER BY created_at`).pluck().all());
  assert.deepEqual(rows, [1, 5], 'one digest, no second one');
  assert.equal(hook.requests.length, 2);
});

test('a silence added while a digest of more than its listed events waits holds it only if it matches every event it carries', {
  timeout: 60_000,
}, async (t) => {
  // The digest's text lists the first 100 events; the send-time check must read past them.
  const { r, hook } = await groupedToHook(t, '{ by: [data.team], interval: 6s }');
  const teamEvent = (id: string, team: string, workflowId: string) => ({ ...event(id, workflowId), data: { ...event(id, workflowId).data, team } });
  const quiet = (team: string, n: number) => Array.from({ length: n }, (_, i) => teamEvent(`${team}-quiet-${i}`, team, 'wf_quiet'));
  await postAll(r.url, [teamEvent('mixed-open', 'mixed', 'wf_quiet'), teamEvent('all-open', 'all', 'wf_quiet')]);
  await hook.waitFor(2, 5_000);
  // Gathered: 100 quiet events then one loud one in "mixed"; 102 quiet ones in "all".
  await postAll(r.url, [...quiet('mixed', 100), ...quiet('all', 102)]);
  await postAll(r.url, [teamEvent('mixed-loud', 'mixed', 'wf_loud')]);

  const added = await runCli([
    'silence',
    'add',
    '--match',
    'data.workflowId=wf_quiet',
    '--for',
    '1h',
    '--comment',
    'quiet',
    '--db',
    r.dbPath,
    '--rules',
    r.rulesPath,
  ]);
  assert.equal(added.code, 0, added.stderr);
  // In force on the server once a new quiet event is silenced at ingest.
  let n = 0;
  await waitFor(
    async () => {
      const id = `probe-${n++}`;
      await postEvent(r.url, teamEvent(id, 'probe', 'wf_quiet'));
      return (
        readDb(r.dbPath, (db) => db.prepare(`SELECT d.status FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE e.event_id = ?`).pluck().get(id)) ===
        'silenced'
      );
    },
    { timeoutMs: 5_000, intervalMs: 50, what: 'the silence in force' },
  );
  const digests = () =>
    (
      readDb(r.dbPath, (db) =>
        db
          .prepare(
            `SELECT d.event_count AS count, d.status, d.reason, g.group_values AS "group" FROM deliveries d JOIN groups g ON g.id = d.group_id
             WHERE d.event_count > 1 ORDER BY d.event_count`,
          )
          .all(),
      ) as { count: number; status: string; reason: string | null; group: string }[]
    ).filter((d) => !d.group.includes('probe'));
  assert.deepEqual(digests(), [], 'the digests were not flushed before the silence held (the interval is too short for this machine)');

  await waitFor(() => digests().filter((d) => d.status === 'delivered' || d.status === 'silenced').length === 2, {
    timeoutMs: 20_000,
    what: 'both digests settled',
  });
  const [mixed, all] = digests();
  assert.equal(mixed!.count, 101);
  assert.equal(mixed!.status, 'delivered', 'the loud event past the first 100 is not silenced, so its digest goes');
  assert.equal(all!.count, 102);
  assert.equal(all!.status, 'silenced', 'every event it carries is silenced');
  assert.match(all!.reason ?? '', /quiet/);
  const sent = hook.requests.map((q) => q.json<DigestBody | SingleBody>()).filter((b): b is DigestBody => 'count' in b);
  assert.deepEqual(
    sent.map((b) => [b.group, b.count]),
    [[{ 'data.team': 'mixed' }, 101]],
  );
});

test('replay leaves events waiting in a group to their digest, and says so', { timeout: 60_000 }, async (t) => {
  const { r, hook } = await groupedToHook(t, '{ interval: 10m }');
  await postAll(r.url, [event('rp-1')]);
  await hook.waitFor(1, 5_000);
  await postAll(r.url, [event('rp-2'), event('rp-3')]);
  for (const dry of [['--dry-run'], []]) {
    const out = await runCli(['replay', '--since', '1h', '--json', ...dry, '--db', r.dbPath, '--rules', r.rulesPath]);
    assert.equal(out.code, 0, out.stderr);
    const { lines } = JSON.parse(out.stdout) as { lines: { event: string; action: string; reason: string }[] };
    assert.deepEqual(
      lines.map((l) => [l.event, l.action, l.reason.startsWith('already') ? 'already' : l.reason]),
      [
        ['rp-1', 'skip', 'already'],
        ['rp-2', 'skip', "waiting in its group: the group's next digest carries it"],
        ['rp-3', 'skip', "waiting in its group: the group's next digest carries it"],
      ],
      out.stdout,
    );
  }
  const replayed = readDb(r.dbPath, (db) => db.prepare(`SELECT count(*) FROM deliveries WHERE origin = 'replay'`).pluck().get());
  assert.equal(replayed, 0, 'nothing sent again');
});

test('a digest of large events carries as many as fit in 1 MiB (the count stays exact)', { timeout: 60_000 }, async (t) => {
  const { r, hook } = await groupedToHook(t, '{ interval: 2s }');
  const big = (id: string) => ({ ...event(id), data: { ...event(id).data, log: 'x'.repeat(200 * 1024) } });
  await postAll(r.url, [big('big-0')]);
  await hook.waitFor(1, 5_000);
  const ids = Array.from({ length: 12 }, (_, i) => `big-${i + 1}`);
  for (const id of ids) await postAll(r.url, [big(id)]);
  const all = await hook.waitFor(2, 15_000);
  const body = all[1]!.body.toString();
  const digest = JSON.parse(body) as DigestBody;
  assert.equal(digest.count, 12);
  assert.deepEqual(
    digest.events.map((e) => e.id),
    ids.slice(0, 5),
    'the first events, as many as fit in 1 MiB (five of 200 KiB)',
  );
  assert.ok(body.length < 1.1 * 1024 * 1024, `${body.length} bytes`);
});
