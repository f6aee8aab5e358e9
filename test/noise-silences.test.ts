// Noise control, silences (contract §9), end to end: the real server, real SQLite, real receivers,
// the real CLI (`silence add | list | expire`, `retry`, `deliveries`) and the admin endpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { runCli, tempDir, waitFor } from './helpers/cli.js';
import { cookieOf, signIn } from './helpers/console.js';
import { startHttpReceiver, type HttpReceiver } from './helpers/receivers.js';
import { postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';

const ev = (id: string, type: string, workflowId: string) => ({ id, type, createdAt: new Date().toISOString(), data: { workflowId, runId: `run_${id}` } });

const RULES = (a: string, b: string, backoff = '50ms') => `version: 1
destinations:
  hook-a: { type: webhook, url: ${a}/a, backoff: { initial: ${backoff}, max: ${backoff} } }
  hook-b: { type: webhook, url: ${b}/b }
rules:
  - name: failures
    match: { type: run.failed }
    send_to: [hook-a, hook-b]
  - name: successes
    match: { type: run.succeeded }
    send_to: [hook-a]
`;

interface Row {
  id: string;
  event: string;
  rule: string;
  destination: string;
  status: string;
  reason: string | null;
}

function deliveries(r: RouterProcess): Row[] {
  return readDb(r.dbPath, (db) =>
    db
      .prepare(
        `SELECT d.id, e.event_id AS event, d.rule, d.destination, d.status, d.reason FROM deliveries d JOIN events e ON e.seq = d.event_seq ORDER BY e.seq, d.destination`,
      )
      .all(),
  ) as Row[];
}

async function cli(r: RouterProcess, ...args: string[]) {
  return runCli([...args, '--db', r.dbPath, '--rules', r.rulesPath]);
}

async function silence(r: RouterProcess, ...args: string[]): Promise<string> {
  const out = await cli(r, 'silence', 'add', ...args);
  assert.equal(out.code, 0, out.stderr);
  return out.stdout.trim();
}

/** The router's admin endpoints, with its admin token (or another, to be refused). */
const adminOf =
  (r: RouterProcess) =>
  (method: string, path: string, body?: unknown, token = 'admin-secret') =>
    fetch(`${r.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

async function setup(t: { after(fn: () => Promise<void>): void }, backoff?: string): Promise<{ r: RouterProcess; a: HttpReceiver; b: HttpReceiver }> {
  const tmp = tempDir('b3os-silence-');
  const a = await startHttpReceiver();
  const b = await startHttpReceiver();
  const r = await startRouter({ dir: tmp.dir, rules: RULES(a.url, b.url, backoff), env: { ADMIN_TOKEN: 'admin-secret' } });
  t.after(async () => {
    await r.stop();
    await a.close();
    await b.close();
    tmp.cleanup();
  });
  return { r, a, b };
}

test('silences by rule, by destination and by --match stop exactly what they match', { timeout: 60_000 }, async (t) => {
  const { r, a, b } = await setup(t);
  const byRule = await silence(r, '--rule', 'successes', '--for', '10m', '--comment', 'deploying', '--by', 'ana');
  const byDest = await silence(r, '--destination', 'hook-b', '--for', '10m');
  const byMatch = await silence(r, '--match', 'data.workflowId=wf_maint*', '--match', 'type=run.failed', '--for', '10m', '--comment', 'maintenance');
  // The server reads silences within a second: post warm-up events that the last silence added
  // matches, until one is held (then all three are in force).
  let n = 0;
  const warmSettled = (id: string) => {
    const rows = deliveries(r).filter((d) => d.event === id);
    return rows.length === 2 && rows.every((d) => d.status !== 'pending' && d.status !== 'failed') ? rows : null;
  };
  await waitFor(
    async () => {
      const id = `warm${n++}`;
      assert.equal((await postEvent(r.url, ev(id, 'run.failed', 'wf_maint_0'))).status, 204);
      const rows = await waitFor(() => warmSettled(id), { what: `${id} settled` });
      return rows.every((d) => d.status === 'silenced') ? true : null;
    },
    { timeoutMs: 5_000, what: 'the silences in force on the server' },
  );
  const isWarm = (id: string) => id.startsWith('warm');

  for (const e of [
    ev('e1', 'run.failed', 'wf_x'),
    ev('e2', 'run.succeeded', 'wf_x'),
    ev('e3', 'run.failed', 'wf_maint_1'),
    ev('e4', 'run.succeeded', 'wf_maint_1'),
  ]) {
    assert.equal((await postEvent(r.url, e)).status, 204);
  }
  await waitFor(
    () => {
      const rows = deliveries(r).filter((d) => !isWarm(d.event));
      return rows.length === 6 && rows.every((d) => d.status !== 'pending' && d.status !== 'failed');
    },
    { what: '6 deliveries settled' },
  );
  const warmSilenced = deliveries(r).filter((d) => isWarm(d.event) && d.status === 'silenced').length;
  const rows = deliveries(r).filter((d) => !isWarm(d.event));
  const status = Object.fromEntries(rows.map((d) => [`${d.event}>${d.destination}`, d.status]));
  assert.deepEqual(status, {
    'e1>hook-a': 'delivered',
    'e1>hook-b': 'silenced',
    'e2>hook-a': 'silenced',
    'e3>hook-a': 'silenced',
    'e3>hook-b': 'silenced',
    'e4>hook-a': 'silenced',
  });
  const reason = (key: string) => rows.find((d) => `${d.event}>${d.destination}` === key)!.reason!;
  assert.match(reason('e2>hook-a'), new RegExp(`silence ${byRule} \\("deploying"\\)`), 'the reason names the silence and its comment');
  assert.match(reason('e1>hook-b'), new RegExp(`silence ${byDest}`));
  assert.match(reason('e3>hook-a'), new RegExp(`silence ${byMatch} \\("maintenance"\\)`));
  assert.deepEqual(
    a.requests.map((q) => q.eventId()).filter((id) => !isWarm(id)),
    ['e1'],
  );
  assert.equal(b.requests.length, 0);

  // Visible: `deliveries --status silenced`, `explain`, /metrics, `silence list`.
  const listed = await cli(r, 'deliveries', '--status', 'silenced', '--json');
  assert.equal((JSON.parse(listed.stdout) as { deliveries: unknown[] }).deliveries.length, 5 + warmSilenced);
  const explained = await cli(r, 'explain', 'e2');
  assert.match(explained.stdout, new RegExp(`was not sent: silenced by silence ${byRule} \\("deploying"\\)`));
  const metrics = await (await fetch(`${r.url}/metrics`)).text();
  const silenced = metrics.split('\n').filter((l) => l.startsWith('b3os_router_deliveries_total{') && l.includes('status="silenced"'));
  assert.equal(
    silenced.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0),
    5 + warmSilenced,
  );
  const list = await cli(r, 'silence', 'list', '--json');
  const silences = (JSON.parse(list.stdout) as { silences: { id: string; matches: string; by: string }[] }).silences;
  assert.deepEqual(silences.map((s) => s.id).sort(), [byRule, byDest, byMatch].sort());
  assert.equal(silences.find((s) => s.id === byRule)!.by, 'ana');
  assert.equal(silences.find((s) => s.id === byMatch)!.matches, 'data.workflowId=wf_maint*, type=run.failed');
});

test('a silence holds within a second of `silence add` on a running server, and ends at its expiry', { timeout: 60_000 }, async (t) => {
  const { r, a } = await setup(t);
  const added = await cli(r, 'silence', 'add', '--rule', 'successes', '--for', '3s', '--json');
  assert.equal(added.code, 0, added.stderr);
  const s = JSON.parse(added.stdout) as { id: string; until: string };
  const addedAt = Date.now();
  // Post one event every 50 ms until one is silenced: the first must come within a second.
  let n = 0;
  let firstSilencedAt = 0;
  await waitFor(
    async () => {
      const id = `hold-${n++}`;
      const posted = Date.now();
      await postEvent(r.url, ev(id, 'run.succeeded', 'wf_x'));
      const row = deliveries(r).find((d) => d.event === id);
      if (row?.status === 'silenced') firstSilencedAt = posted;
      return firstSilencedAt > 0;
    },
    { timeoutMs: 5_000, intervalMs: 50, what: 'an event silenced' },
  );
  assert.ok(firstSilencedAt - addedAt < 1_000, `silenced ${firstSilencedAt - addedAt} ms after silence add`);

  // Ended at its expiry: one event every 50 ms until one is not silenced; that one is sent, and
  // not before the silence's end. Each event's delivery is waited for until it settles: one still
  // pending may yet be held at send time (the delivery thread reads the silences on its own, and
  // may have them before the main thread does), so only one delivered counts as sent.
  const until = Date.parse(s.until);
  let after = '';
  let postedAt = 0;
  await waitFor(
    async () => {
      const id = `after-${n++}`;
      postedAt = Date.now();
      await postEvent(r.url, ev(id, 'run.succeeded', 'wf_x'));
      const settled = await waitFor(() => deliveries(r).find((x) => x.event === id && x.status !== 'pending'), {
        timeoutMs: 5_000,
        intervalMs: 20,
        what: `the delivery of ${id} settled`,
      });
      if (settled.status === 'delivered') after = id;
      return after !== '';
    },
    { timeoutMs: 5_000 + Math.max(0, until - Date.now()), intervalMs: 50, what: 'an event sent after the silence' },
  );
  assert.ok(postedAt >= until - 50, `sent ${until - postedAt} ms before the silence's end`);
  await a.waitUntil(() => a.requests.some((q) => q.eventId() === after), 5_000, 'the event after the silence');
  const list = await cli(r, 'silence', 'list');
  assert.equal(list.stdout, 'no active silences\n');
  const all = await cli(r, 'silence', 'list', '--all');
  assert.match(all.stdout, new RegExp(`${s.id}\\s+ended\\s+rule successes`));
});

test('a silence stops a delivery waiting for a retry; `retry` sends it again through the silences', { timeout: 60_000 }, async (t) => {
  // Every attempt fails, and the receiver asks for the next one in 8 s: the silence comes while
  // the retry waits, even when the CLI starts slowly on a busy machine.
  const { r, a } = await setup(t, '3s');
  a.setDefault({ status: 503, headers: { 'retry-after': '8' } });
  await postEvent(r.url, ev('r1', 'run.succeeded', 'wf_x'));
  await waitFor(() => deliveries(r)[0]?.status === 'failed', { what: 'the first attempt to fail' });
  const id = await silence(r, '--destination', 'hook-a', '--for', '10m', '--comment', 'receiver down');
  await waitFor(() => deliveries(r)[0]?.status === 'silenced', { timeoutMs: 20_000, what: 'the waiting retry to be silenced' });
  const d = deliveries(r)[0]!;
  assert.match(d.reason!, new RegExp(`silence ${id} \\("receiver down"\\)`));
  assert.equal(a.requests.length, 1, 'the retry was not sent');

  // `retry` while the silence holds: back through the silences, silenced again, not sent.
  const row = () =>
    readDb(r.dbPath, (db) => db.prepare(`SELECT status, updated_at FROM deliveries WHERE id = ?`).get(d.id)) as { status: string; updated_at: number };
  const before = row().updated_at;
  const again = await cli(r, 'retry', d.id);
  assert.equal(again.code, 0, again.stderr);
  // Requeued (updated) and decided again: silenced once more, not left as it was.
  await waitFor(() => row().status === 'silenced' && row().updated_at > before && deliveries(r)[0]!.reason !== null, { what: 'silenced again' });
  const attempts = () => readDb(r.dbPath, (db) => db.prepare(`SELECT count(*) FROM attempts`).pluck().get());
  assert.equal(attempts(), 1);

  // Expired, then retried: sent.
  const expired = await cli(r, 'silence', 'expire', id);
  assert.equal(expired.code, 0, expired.stderr);
  assert.equal(expired.stdout, `silence ${id} ended\n`);
  a.setDefault(200);
  const retried = await cli(r, 'retry', d.id);
  assert.equal(retried.code, 0, retried.stderr);
  await a.waitFor(2, 10_000);
  await waitFor(() => deliveries(r)[0]?.status === 'delivered', { what: 'delivered after retry' });
  assert.equal(a.requests[1]!.headers['idempotency-key'], d.id, 'the same delivery, the same Idempotency-Key');
  assert.equal((await cli(r, 'silence', 'expire', 'no-such-id')).code, 1);
});

test('silence add refuses what would hold nothing back or never end; the admin endpoints', { timeout: 60_000 }, async (t) => {
  const { r } = await setup(t);
  const refused: [string[], RegExp][] = [
    [['--for', '1h'], /at least one condition/],
    [['--rule', 'failures'], /needs an end/],
    [['--rule', 'failures', '--until', '2001-01-01T00:00:00Z'], /in the past/],
    [['--rule', 'failures', '--for', '0s'], /longer than zero/],
    [['--rule', 'failures', '--for=-5m'], /--for/],
    [['--rule', 'failures', '--for', 'soon'], /not a duration/],
    [['--rule', 'nope', '--for', '1h'], /no rule "nope"/],
    [['--destination', 'hook-c', '--for', '1h'], /no destination "hook-c"/],
    [['--match', 'data.workflowId', '--for', '1h'], /FIELD=VALUE/],
    [['--rule', 'failures', '--for', '1h', '--until', '2999-01-01T00:00:00Z'], /not both/],
    // An end past what a date holds broke every reader of the silence (ingest answered 503).
    [['--rule', 'failures', '--for', '300000y'], /at most 366 days/],
    [['--rule', 'failures', '--until', '9999-01-01T00:00:00Z'], /at most 366 days/],
  ];
  for (const [args, why] of refused) {
    const out = await cli(r, 'silence', 'add', ...args);
    assert.equal(out.code, 1, `${args.join(' ')}: ${out.stderr}`);
    assert.match(out.stderr, why, args.join(' '));
    assert.doesNotMatch(out.stderr, /\n\s+at /, 'no stack trace');
  }
  assert.equal(
    readDb(r.dbPath, (db) => db.prepare(`SELECT count(*) FROM silences`).pluck().get()),
    0,
  );

  const admin = adminOf(r);
  assert.equal((await admin('GET', '/admin/silences', undefined, 'wrong')).status, 401);
  const bad = await admin('POST', '/admin/silences', { rule: 'failures' });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { message: string }).message, /needs an end/);
  const made = await admin('POST', '/admin/silences', { match: { 'data.workflowId': 'wf_payroll' }, for: '2h', comment: 'maintenance', by: 'ops' });
  assert.equal(made.status, 201);
  const { silence: s } = (await made.json()) as { silence: { id: string; matches: string; active: boolean } };
  assert.equal(s.matches, 'data.workflowId=wf_payroll');
  const listed = (await (await admin('GET', '/admin/silences')).json()) as { silences: { id: string }[] };
  assert.deepEqual(
    listed.silences.map((x) => x.id),
    [s.id],
  );
  // Honoured by the running server like one from the CLI.
  await waitFor(
    async () => {
      const id = `adm-${Date.now()}`;
      await postEvent(r.url, ev(id, 'run.succeeded', 'wf_payroll'));
      return deliveries(r).find((d) => d.event === id)?.status === 'silenced';
    },
    { what: 'the admin silence to hold', intervalMs: 100 },
  );
  const ended = await admin('DELETE', `/admin/silences/${s.id}`);
  assert.equal(ended.status, 200);
  assert.equal(((await ended.json()) as { ended: boolean }).ended, true);
  assert.equal((await admin('DELETE', '/admin/silences/nope')).status, 404);
  assert.deepEqual(((await (await admin('GET', '/admin/silences')).json()) as { silences: unknown[] }).silences, []);
});

test('at most 1,000 silences active at once: the next is refused (409) until one ends; all of them hold', { timeout: 90_000 }, async (t) => {
  const { r } = await setup(t);
  const admin = adminOf(r);
  const ids: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const res = await admin('POST', '/admin/silences', { match: { 'data.workflowId': `wf_${i}` }, for: '1h' });
    assert.equal(res.status, 201);
    ids.push(((await res.json()) as { silence: { id: string } }).silence.id);
  }
  const refused = await admin('POST', '/admin/silences', { match: { 'data.workflowId': 'wf_more' }, for: '1h' });
  assert.equal(refused.status, 409);
  assert.match(((await refused.json()) as { message: string }).message, /1000 silences are active, the most there can be at once; expire one/);
  const cliRefused = await cli(r, 'silence', 'add', '--match', 'data.workflowId=wf_more', '--for', '1h');
  assert.equal(cliRefused.code, 1);
  assert.match(cliRefused.stderr, /1000 silences are active/);

  // The oldest still holds (every active one is read), and the newest.
  for (const wf of ['wf_0', 'wf_999']) {
    await waitFor(
      async () => {
        const id = `${wf}-${Date.now()}`;
        await postEvent(r.url, ev(id, 'run.succeeded', wf));
        return deliveries(r).find((d) => d.event === id)?.status === 'silenced';
      },
      { timeoutMs: 5_000, intervalMs: 100, what: `${wf} silenced` },
    );
  }
  assert.equal((await admin('DELETE', `/admin/silences/${ids[0]}`)).status, 200);
  assert.equal((await admin('POST', '/admin/silences', { match: { 'data.workflowId': 'wf_more' }, for: '1h' })).status, 201, 'room again once one ended');
});

test('a silence stored with an end past what a date holds (before the 366-day limit) is listed, shown, honoured and expired', {
  timeout: 60_000,
}, async (t) => {
  const { r } = await setup(t);
  const id = await silence(r, '--rule', 'successes', '--for', '1h');
  // What `--for 300000y` stored before the limit.
  const db = new Database(r.dbPath);
  try {
    db.prepare('UPDATE silences SET ends_at = 1e19 WHERE id = ?').run(id);
  } finally {
    db.close();
  }
  const list = await cli(r, 'silence', 'list');
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`${id}\\s+active\\s+rule successes\\s+\\+275760-`));
  const page = await fetch(`${r.url}/console/silences`, { headers: { cookie: cookieOf(await signIn(r.url, 'admin-secret'))! } });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /275760/);
  await waitFor(
    async () => {
      const eid = `far-${Date.now()}`;
      assert.equal((await postEvent(r.url, ev(eid, 'run.succeeded', 'wf_x'))).status, 204);
      return deliveries(r).find((d) => d.event === eid)?.status === 'silenced';
    },
    { timeoutMs: 5_000, intervalMs: 100, what: 'an event silenced by it' },
  );
  const expired = await cli(r, 'silence', 'expire', id);
  assert.equal(expired.code, 0, expired.stderr);
  assert.equal((await cli(r, 'silence', 'list')).stdout, 'no active silences\n');
});
