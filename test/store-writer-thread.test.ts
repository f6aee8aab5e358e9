// Ingest transactions on the SQLite writer thread (store/sqlite-writer.ts): the real server on a
// real file under concurrent signed posts, privileged batches on the main thread's connection
// beside unprivileged ones on the writer's, the writer killed with a batch in flight (503, never
// 2xx, and ingest goes on), and SIGTERM draining. Counts read from the real database.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { loadRules } from '../src/config/load.js';
import { serveOptions } from '../src/config/options.js';
import { createRouter, type Router } from '../src/router.js';
import { tempDir, waitFor } from './helpers/cli.js';
import { startHttpReceiver } from './helpers/receivers.js';
import { postEvent, readDb, SECRET, startRouter } from './helpers/router.js';

const CAP = 5;
const rulesFor = (url: string) => `version: 1
delivery: { max_attempts: 100, backoff: { initial: 50ms, max: 100ms } }
destinations:
  hook: { type: webhook, url: "${url}/hook" }
  pay: { type: webhook, url: "${url}/pay", privileged: true }
rules:
  - { name: all, match: { type: run.failed }, send_to: [hook] }
  - { name: payout, match: { type: pay.run }, send_to: [pay] }
policy:
  allow_privileged:
    - { rule: payout, destination: pay, max_per_hour: ${CAP} }
`;

/** Runs `fn` over `items`, `width` at a time. */
async function pool<T, R>(items: T[], width: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

const storedIds = (db: string) => new Set(readDb(db, (d) => d.prepare(`SELECT event_id FROM events`).pluck().all() as string[]));

test('concurrent posts through the writer thread, privileged ones beside: every 2xx stored with its delivery and delivered, duplicates 200 across batches, max_per_hour exact, the queue counter exact', async () => {
  const tmp = tempDir();
  const rx = await startHttpReceiver();
  const r = await startRouter({ dir: tmp.dir, rules: rulesFor(rx.url) });
  try {
    assert.ok(
      r.logs.some((l) => l.msg === 'ingest transactions run on the database writer thread'),
      'the writer thread started',
    );
    const ids = Array.from({ length: 400 }, (_, i) => (i % 20 === 7 ? { id: `pay-${i}`, type: 'pay.run' } : { id: `evt-${i}`, type: 'run.failed' }));
    const first = await pool(ids, 40, async (e) => (await postEvent(r.url, e)).status);
    assert.deepEqual([...new Set(first)], [204], 'every new event accepted');
    // Again, concurrently: each is a duplicate of an event committed in an earlier batch.
    const again = await pool(ids.slice(0, 100), 40, async (e) => (await postEvent(r.url, e)).status);
    assert.deepEqual([...new Set(again)], [200], 'every repeat answered as a duplicate');

    const stored = storedIds(r.dbPath);
    for (const e of ids) assert.ok(stored.has(e.id), `${e.id} stored`);
    const plain = ids.filter((e) => e.type === 'run.failed');
    await rx.waitFor(plain.length + CAP, 30_000);
    await waitFor(() => readDb(r.dbPath, (d) => d.prepare(`SELECT count(*) FROM deliveries WHERE status IN ('pending', 'failed')`).pluck().get() === 0), {
      what: 'the queue to drain',
      timeoutMs: 30_000,
    });
    const delivered = new Set(rx.requests.filter((q) => q.path === '/hook').map((q) => q.eventId()));
    assert.equal(delivered.size, plain.length, 'each plain event delivered once at least');
    for (const e of plain) assert.ok(delivered.has(e.id), `${e.id} delivered`);
    const pay = readDb(r.dbPath, (d) => d.prepare(`SELECT status, count(*) AS n FROM deliveries WHERE destination = 'pay' GROUP BY status`).all()) as {
      status: string;
      n: number;
    }[];
    assert.deepEqual(
      Object.fromEntries(pay.map((p) => [p.status, p.n])),
      { delivered: CAP, blocked: ids.length / 20 - CAP },
      'max_per_hour counted under the write lock',
    );
    const depth = readDb(r.dbPath, (d) => d.prepare(`SELECT n FROM queue_depth WHERE id = 1`).pluck().get());
    assert.equal(depth, 0, 'queue_depth kept by both connections');
    const metrics = await (await fetch(`${r.url}/metrics`)).text();
    assert.match(metrics, /^b3os_router_deliveries_pending 0$/m);
  } finally {
    await r.stop();
    await rx.close();
    tmp.cleanup();
  }
});

async function inProcess(dir: string, rules: string, env: Record<string, string> = {}): Promise<{ router: Router; url: string; db: string }> {
  const file = join(dir, 'rules.yaml');
  writeFileSync(file, rules);
  const { config, problems } = loadRules(file, {});
  assert.ok(config, JSON.stringify(problems));
  const db = join(dir, 'r.db');
  const router = createRouter(serveOptions({ rules: file, db, port: '0', host: '127.0.0.1' }, { B3OS_WEBHOOK_SECRET: SECRET, ...env }), config, {
    logger: pino({ level: 'silent' }),
  });
  const { port } = await router.listen();
  return { router, url: `http://127.0.0.1:${port}`, db };
}

for (const at of ['before', 'after'] as const) {
  test(`the writer thread dies with a batch in flight (${at} its commit): that event gets 503, never 2xx; ingest goes on, the thread restarts and takes batches again`, async () => {
    const tmp = tempDir();
    const rx = await startHttpReceiver();
    const { router, url, db } = await inProcess(tmp.dir, rulesFor(rx.url));
    const writer = router.writer!;
    try {
      assert.ok(writer.up);
      assert.equal((await postEvent(url, { id: 'before', type: 'run.failed' })).status, 204);
      assert.ok(writer.batches >= 1, 'the batch went to the writer thread');

      writer.crashForTest(at);
      assert.equal((await postEvent(url, { id: 'in-flight', type: 'run.failed' })).status, 503, 'not known to be stored: 503');
      // Committed or not, as the thread died: the retry finds it stored (200) or stores it (204).
      assert.equal(storedIds(db).has('in-flight'), at === 'after');

      // Meanwhile ingest runs on the main thread's connection; then the writer is back.
      assert.equal(writer.up, false);
      assert.equal((await postEvent(url, { id: 'while-down', type: 'run.failed' })).status, 204);
      await waitFor(() => writer.up, { what: 'the writer thread restarted', timeoutMs: 10_000 });
      const batches = writer.batches;
      assert.equal((await postEvent(url, { id: 'in-flight', type: 'run.failed' })).status, at === 'after' ? 200 : 204, 'the retry');
      assert.equal((await postEvent(url, { id: 'after', type: 'run.failed' })).status, 204);
      assert.ok(writer.batches > batches, 'by the restarted writer thread');
      assert.equal((await postEvent(url, { id: 'while-down', type: 'run.failed' })).status, 200, 'a duplicate of what the main thread stored');
      await rx.waitFor(4, 10_000);
      assert.deepEqual(rx.requests.map((q) => q.eventId()).sort(), ['after', 'before', 'in-flight', 'while-down']);
    } finally {
      await router.close();
      await rx.close();
      tmp.cleanup();
    }
  });
}

test('the writer thread dies again and again under concurrent load: every answer 204 or 503, every 204 stored, every 503 stored on retry', async () => {
  const tmp = tempDir();
  const rx = await startHttpReceiver();
  const { router, url, db } = await inProcess(tmp.dir, rulesFor(rx.url));
  const writer = router.writer!;
  try {
    // Posts go on, 30 at a time, until the thread has died three times (each after a restart).
    const ids: string[] = [];
    const statuses: number[] = [];
    let crashes = 0;
    let done = false;
    const killer = (async () => {
      try {
        for (; crashes < 3; crashes++) {
          await waitFor(() => writer.up && writer.batches > 0, { what: 'the writer thread up and taking batches', timeoutMs: 10_000 });
          writer.crashForTest(crashes % 2 === 0 ? 'after' : 'before');
          await waitFor(() => !writer.up, { what: 'the writer thread down', timeoutMs: 10_000 });
        }
      } finally {
        done = true;
      }
    })();
    await Promise.all(
      Array.from({ length: 30 }, async () => {
        while (!done || ids.length < 300) {
          const i = ids.length;
          ids.push(`load-${i}`);
          statuses[i] = (await postEvent(url, { id: ids[i], type: 'run.failed' })).status;
        }
      }),
    );
    await killer;
    assert.equal(crashes, 3, 'the writer died three times during the load');
    assert.ok(statuses.includes(503), 'some batches were lost with their thread');
    assert.ok(
      statuses.every((s) => s === 204 || s === 503),
      JSON.stringify([...new Set(statuses)]),
    );
    const stored = storedIds(db);
    for (const [i, id] of ids.entries()) if (statuses[i] === 204) assert.ok(stored.has(id), `${id} answered 204 and stored`);
    const retried = await pool(
      ids.filter((_, i) => statuses[i] === 503),
      10,
      async (id) => (await postEvent(url, { id, type: 'run.failed' })).status,
    );
    assert.ok(
      retried.every((s) => s === 204 || s === 200),
      JSON.stringify(retried),
    );
    const all = storedIds(db);
    for (const id of ids) assert.ok(all.has(id), `${id} stored`);
    await rx.waitUntil(() => new Set(rx.requests.map((q) => q.eventId())).size === ids.length, 30_000, 'every event delivered');
  } finally {
    await router.close();
    await rx.close();
    tmp.cleanup();
  }
});

test('DB_MAX_MB reached on the writer thread: 503 with the reason, nothing stored for it, the thread still up; the 2xx ones all stored', async () => {
  const tmp = tempDir();
  const rx = await startHttpReceiver();
  const { router, url, db } = await inProcess(tmp.dir, rulesFor(rx.url), { DB_MAX_MB: '0.25' });
  const writer = router.writer!;
  try {
    const accepted: string[] = [];
    let full: { id: string; text: string } | null = null;
    for (let i = 0; i < 400 && !full; i++) {
      const id = `fill-${i}`;
      const res = await postEvent(url, { id, type: 'run.failed', pad: 'y'.repeat(900) });
      if (res.status === 204) accepted.push(id);
      else {
        assert.equal(res.status, 503, res.text);
        full = { id, text: res.text };
      }
    }
    assert.ok(full, 'the cap was reached');
    assert.match(full.text, /database unavailable \(SQLITE_FULL\)/, "the writer thread's failure, as data, is the same 503");
    assert.ok(writer.batches >= accepted.length, 'the batches went to the writer thread');
    assert.ok(writer.up, 'a failed batch is an outcome, not a dead thread');
    const stored = storedIds(db);
    assert.equal(stored.has(full.id), false);
    for (const id of accepted) assert.ok(stored.has(id), id);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    assert.equal((await fetch(`${url}/readyz`)).status, 503, 'the main thread sees the same cap: not ready');
  } finally {
    await router.close();
    await rx.close();
    tmp.cleanup();
  }
});

test('SIGTERM during concurrent keep-alive posts: what is in flight is answered, every 2xx stored, exit 0 within the grace', async () => {
  const tmp = tempDir();
  const rx = await startHttpReceiver();
  const r = await startRouter({ dir: tmp.dir, rules: rulesFor(rx.url) });
  const answers = new Map<string, number>();
  let stopping: Promise<number | null> | null = null;
  try {
    const ids = Array.from({ length: 300 }, (_, i) => `term-${i}`);
    await pool(ids, 30, async (id) => {
      if (stopping) return;
      try {
        const res = await postEvent(r.url, { id, type: 'run.failed' });
        answers.set(id, res.status);
        // Within Docker's grace: keep-alive connections answered after the close began used to
        // hold the process open after "stopped".
        if (answers.size === 50) stopping = r.stop('SIGTERM', 9_000);
      } catch {
        // refused once the server has closed: not an answer
      }
    });
    assert.equal(await (stopping ?? r.stop()), 0, r.stderr());
    const ok = [...answers].filter(([, s]) => s >= 200 && s < 300).map(([id]) => id);
    assert.ok(ok.length >= 50);
    const stored = storedIds(r.dbPath);
    for (const id of ok) assert.ok(stored.has(id), `${id} answered ${answers.get(id)} and stored`);
  } finally {
    if (!stopping) await r.stop();
    await rx.close();
    tmp.cleanup();
  }
});
