// Several real `serve` processes on one PostgreSQL database (a real server, started here): the
// guarantees of contract sections 2, 4, 5 and 8 across replicas. One server for this file, a
// fresh database per test.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, tempDir, waitFor } from './helpers/cli.js';
import type { HttpReceiver } from './helpers/receivers.js';
import { queryDb, replicaSuite } from './helpers/replicas.js';
import { cookieOf, signIn } from './helpers/console.js';
import { SECRET, postEvent, startRouter, type RouterProcess } from './helpers/router.js';
import { sign } from '../src/ingest/signature.js';
import { PG_MIGRATIONS } from '../src/store/pg-migrations.js';

const suite = replicaSuite({ LEASE_MARGIN_MS: '1000', DB_POOL_MAX: '4' });
const query = queryDb;
const replicas = suite.replicas;
const receiver = (delayMs = 0) => suite.receiver(() => ({ status: 200, delayMs }));

function rules(receiver: HttpReceiver, extra = ''): string {
  return `version: 1
destinations:
  hook:
    type: webhook
    url: ${receiver.url}/hook
    max_attempts: 50
    backoff: { initial: 50ms, max: 300ms }
    timeout: 2s
  payout:
    type: webhook
    url: ${receiver.url}/pay
    privileged: true
    timeout: 2s
rules:
  - name: failures
    match: { type: run.failed }
    send_to: [hook]
  - name: pay
    match: { type: pay.run }
    send_to: [payout]
policy:
  allow_privileged:
    - { rule: pay, destination: payout, max_per_hour: 5 }
${extra}`;
}

/** Event ids the receiver got on `path`, from the default webhook body {rule, destination, event}. */
const receivedIds = (r: HttpReceiver, path = '/hook') => new Set(r.requests.filter((q) => q.path === path).map((q) => q.eventId()));

describe('several replicas on PostgreSQL', () => {
  test('three replicas starting at once on an empty database: the schema is made once, all are ready; status lists them', { timeout: 90_000 }, async () => {
    const db = await suite.server.createDatabase();
    const hooks = await receiver();
    const rs = await replicas(3, db, rules(hooks));
    for (const r of rs) assert.equal((await fetch(`${r.url}/readyz`)).status, 200);
    const versions = await query<{ version: number }>(db, 'SELECT version FROM b3os_router_schema ORDER BY version');
    assert.deepEqual(
      versions.map((v) => v.version),
      PG_MIGRATIONS.map((_m, i) => i + 1),
      'each migration applied once',
    );

    const status = await runCli(['status', '--json', '--db', db]);
    assert.equal(status.code, 0, status.stderr);
    const doc = JSON.parse(status.stdout) as {
      replicas: { host: string; pid: number; version: string; rules_hash: string; last_seen: string }[];
      queue: { pending: number; oldest_due_age_seconds: number };
    };
    assert.deepEqual(doc.replicas.map((r) => r.pid).sort(), rs.map((r) => r.child.pid).sort());
    assert.equal(new Set(doc.replicas.map((r) => r.rules_hash)).size, 1);
    assert.match(doc.replicas[0]!.rules_hash, /^[0-9a-f]{64}$/);
    assert.ok(Date.now() - Date.parse(doc.replicas[0]!.last_seen) < 30_000);
    assert.deepEqual(doc.queue, { pending: 0, oldest_due_age_seconds: 0 });
    const metrics = await (await fetch(`${rs[0]!.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`b3os_router_rules_info\\{hash="${doc.replicas[0]!.rules_hash}"\\} 1`));

    // The password is in no log line, no error and no metric.
    for (const r of rs) {
      const text = r.stderr() + JSON.stringify(r.logs);
      assert.ok(!text.includes(suite.server.password), 'password in the logs');
      assert.match(text, /\*\*\*@127\.0\.0\.1/, 'the database is named, without its password');
    }
    assert.ok(!metrics.includes(suite.server.password));
    assert.ok(!status.stdout.includes(suite.server.password) && !status.stderr.includes(suite.server.password));
  });

  test('a replica whose rules file differs says so in its log and on the console, and keeps working', { timeout: 60_000 }, async () => {
    const db = await suite.server.createDatabase();
    const hooks = await receiver();
    const [a] = await replicas(1, db, rules(hooks), { ADMIN_TOKEN: 'console-token' });
    const [b] = await replicas(1, db, rules(hooks, '# another file\n'));
    await waitFor(() => b!.logs.some((l) => /different rules file/.test(String(l.msg))), { timeoutMs: 15_000, what: 'the warning of the second replica' });
    assert.equal((await postEvent(b!.url, { id: 'diff-1', type: 'run.failed' })).status, 204);
    await waitFor(() => receivedIds(hooks).has('diff-1'), { timeoutMs: 15_000, what: 'the delivery' });
    assert.equal((await fetch(`${a!.url}/readyz`)).status, 200);

    // The console's overview on one replica lists both, and marks the one whose rules differ.
    const signedIn = await signIn(a!.url, 'console-token');
    const cookie = cookieOf(signedIn);
    assert.ok(cookie, `signed in (${signedIn.status})`);
    const page = await (await fetch(`${a!.url}/console`, { headers: { cookie } })).text();
    assert.match(page, /2 live replicas on one PostgreSQL database/);
    for (const r of [a!, b!]) assert.ok(page.includes(`<td>${r.child.pid}</td>`), `replica ${r.child.pid} listed`);
    assert.equal(page.match(/differs from the rules in force here/g)?.length, 1, 'the other replica marked');
  });

  test('the same event posted to two replicas at once: one 204, one duplicate, one set of deliveries', { timeout: 60_000 }, async () => {
    const db = await suite.server.createDatabase();
    const hooks = await receiver();
    const [a, b] = await replicas(2, db, rules(hooks));
    const ids = Array.from({ length: 40 }, (_, i) => `dup-${i}`);
    for (const id of ids) {
      const body = { id, type: 'run.failed' };
      const answers = await Promise.all([postEvent(a!.url, body), postEvent(b!.url, body)]);
      assert.deepEqual(answers.map((x) => x.status).sort(), [200, 204], `${id}: ${JSON.stringify(answers)}`);
    }
    await waitFor(async () => (await query<{ n: number }>(db, `SELECT count(*)::int AS n FROM deliveries WHERE status = 'delivered'`))[0]!.n === ids.length, {
      timeoutMs: 30_000,
      what: 'every delivery sent',
    });
    const [row] = await query<{ deliveries: number; events: number }>(
      db,
      'SELECT (SELECT count(*)::int FROM deliveries) AS deliveries, (SELECT count(*)::int FROM events) AS events',
    );
    assert.deepEqual(row, { deliveries: ids.length, events: ids.length });
    assert.equal(hooks.requests.length, ids.length, 'each event sent once');
  });

  test('max_per_hour under concurrent posts to different replicas: exactly the cap', { timeout: 60_000 }, async () => {
    const db = await suite.server.createDatabase();
    const hooks = await receiver();
    const rs = await replicas(2, db, rules(hooks));
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, i) => postEvent(rs[i % 2]!.url, { id: `pay-${i}`, type: 'pay.run', createdAt: new Date().toISOString() })),
    );
    assert.ok(
      answers.every((x) => x.status === 204),
      JSON.stringify(answers),
    );
    const counts = await query<{ status: string; n: number }>(db, `SELECT status, count(*)::int AS n FROM deliveries GROUP BY status ORDER BY status`);
    const by = Object.fromEntries(counts.map((c) => [c.status, c.n]));
    assert.equal(by.blocked, 19, JSON.stringify(by));
    assert.equal((by.pending ?? 0) + (by.delivered ?? 0), 5, JSON.stringify(by));
    await hooks.waitFor(5, 15_000);
    assert.equal(receivedIds(hooks, '/pay').size, 5);
  });

  test('kill -9 of one replica under load: every acknowledged event is delivered by the other within 60 s', { timeout: 120_000 }, async () => {
    const db = await suite.server.createDatabase();
    // Slow answers: the killed replica holds sends in flight and claims in its lease.
    const hooks = await receiver(150);
    const [a, b] = await replicas(2, db, rules(hooks));
    const accepted = new Set<string>();
    let n = 0;
    let stop = false;
    const poster = async (targets: () => RouterProcess[]) => {
      while (!stop) {
        const id = `k-${n++}`;
        const to = targets()[n % targets().length]!;
        const r = await postEvent(to.url, { id, type: 'run.failed' }).catch(() => null);
        if (r?.status === 204) accepted.add(id);
      }
    };
    let alive = [a!, b!];
    const posting = Promise.all([poster(() => alive), poster(() => alive), poster(() => alive)]);
    await waitFor(() => accepted.size >= 60 && hooks.requests.length >= 5, { timeoutMs: 20_000, what: 'load on both replicas' });
    const [killed] = await query<{ id: string }>(db, `SELECT id FROM replicas WHERE pid = $1`, [a!.child.pid]);
    a!.child.kill('SIGKILL');
    await a!.exited;
    const killedAt = Date.now();
    // What the killed replica had claimed stays leased to it until the lease lapses: the survivor
    // must take those over, not just deliver its own.
    const [held] = await query<{ n: number }>(
      db,
      `SELECT count(*)::int AS n FROM deliveries WHERE lease_owner = $1 AND lease_until > $2 AND status IN ('pending', 'failed')`,
      [killed!.id, killedAt],
    );
    assert.ok(held!.n > 0, 'the killed replica held leased deliveries');
    alive = [b!];
    await waitFor(() => accepted.size >= 120, { timeoutMs: 20_000, what: 'more events on the survivor' });
    stop = true;
    await posting;
    await waitFor(
      () => {
        const got = receivedIds(hooks);
        return [...accepted].every((id) => got.has(id));
      },
      { timeoutMs: 60_000 - (Date.now() - killedAt), intervalMs: 100, what: 'every acknowledged event delivered' },
    );
    // Events the killed replica committed but could not answer are delivered too, once its lease lapses.
    await waitFor(async () => (await query<{ n: number }>(db, `SELECT count(*)::int AS n FROM deliveries WHERE status <> 'delivered'`))[0]!.n === 0, {
      timeoutMs: 60_000 - (Date.now() - killedAt),
      what: 'every stored delivery sent',
    });
  });

  test('PostgreSQL restarted mid-load: 503 with Retry-After and /readyz 503 meanwhile, then recovery; nothing acknowledged lost', {
    timeout: 120_000,
  }, async () => {
    const db = await suite.server.createDatabase();
    const hooks = await receiver();
    const [a, b] = await replicas(2, db, rules(hooks));
    const accepted = new Set<string>();
    const answers: Record<number, number> = {};
    let sawRetryAfter = false;
    let n = 0;
    let stop = false;
    const poster = async () => {
      while (!stop) {
        const id = `pgr-${n++}`;
        const to = n % 2 ? a! : b!;
        const body = JSON.stringify({ id, type: 'run.failed' });
        const res = await postEvent(to.url, body).catch(() => null);
        if (!res) continue;
        answers[res.status] = (answers[res.status] ?? 0) + 1;
        if (res.status === 204) accepted.add(id);
        if (res.status === 503) {
          sawRetryAfter ||= JSON.parse(res.text).error === 'store_unavailable';
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const posting = Promise.all([poster(), poster()]);
    await waitFor(() => accepted.size >= 30, { timeoutMs: 20_000, what: 'load' });
    await suite.server.stopServer();
    await waitFor(() => (answers[503] ?? 0) >= 4, { timeoutMs: 20_000, what: '503 answers while the database is down' });
    const ready = await fetch(`${a!.url}/readyz`);
    assert.equal(ready.status, 503);
    const raw = JSON.stringify({ id: 'during-outage', type: 'run.failed' });
    const res = await fetch(`${b!.url}/b3os/hooks`, { method: 'POST', headers: { 'content-type': 'application/json', ...sign(SECRET, raw) }, body: raw });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    await suite.server.startServer();
    const before = accepted.size;
    await waitFor(() => accepted.size >= before + 30, { timeoutMs: 30_000, what: 'events accepted again after the restart' });
    await waitFor(async () => (await fetch(`${a!.url}/readyz`)).status === 200 && (await fetch(`${b!.url}/readyz`)).status === 200, {
      timeoutMs: 20_000,
      what: 'ready again',
    });
    stop = true;
    await posting;
    assert.ok(sawRetryAfter, 'the 503s said why');
    await waitFor(() => [...accepted].every((id) => receivedIds(hooks).has(id)), {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: 'every acknowledged event delivered',
    });
    const stored = new Set((await query<{ event_id: string }>(db, 'SELECT event_id FROM events')).map((r) => r.event_id));
    assert.ok(
      [...accepted].every((id) => stored.has(id)),
      'every 2xx event is stored',
    );
    for (const r of [a!, b!]) assert.ok(!(r.stderr() + JSON.stringify(r.logs)).includes(suite.server.password));
  });

  test('status on SQLite: the one server and the queue', { timeout: 30_000 }, async () => {
    const tmp = tempDir('b3os-status-');
    suite.cleanup(tmp.cleanup);
    const hooks = await receiver();
    const r = await startRouter({ dir: tmp.dir, rules: rules(hooks) });
    suite.cleanup(() => r.stop().then(() => undefined));
    const out = await runCli(['status', '--json', '--db', r.dbPath]);
    assert.equal(out.code, 0, out.stderr);
    const doc = JSON.parse(out.stdout) as { engine: string; replicas: { pid: number; rules_hash: string }[]; queue: { pending: number } };
    assert.equal(doc.engine, 'sqlite');
    assert.deepEqual(
      doc.replicas.map((x) => x.pid),
      [r.child.pid],
    );
    assert.match(doc.replicas[0]!.rules_hash, /^[0-9a-f]{64}$/);
    assert.equal(doc.queue.pending, 0);
    const text = await runCli(['status', '--db', r.dbPath]);
    assert.match(text.stdout, /queue: 0 pending/);
  });
});
