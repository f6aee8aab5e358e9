// The queue's length that /metrics reports (b3os_router_deliveries_pending) is a counter kept by
// the store's transactions, not a count of the queue per scrape: it must agree with a count after
// every kind of write (ingest, claims, each outcome, retry of dead deliveries, retention, and noise
// control's silences and digests), and start right on a database that already had a queue before
// the counter existed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from '../src/store/migrations.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { PlannedDelivery } from '../src/event/model.js';
import type { DeliveryUpdate, IngestItem } from '../src/store/store.js';
import { tempDir } from './helpers/cli.js';
import { ingestItem } from './helpers/ingest.js';

const event = (i: number, receivedAt: number, destinations: string[]): IngestItem => ingestItem(`q${i}`, receivedAt, { destinations });

const counted = (store: SqliteStore) =>
  (store.db.prepare(`SELECT count(*) AS n FROM deliveries WHERE status IN ('pending', 'failed')`).get() as { n: number }).n;

async function assertAgrees(store: SqliteStore, now: number, expected: number, when: string) {
  const s = await store.stats(now);
  assert.equal(counted(store), expected, `count ${when}`);
  assert.equal(s.queueDepth, expected, `queueDepth ${when}`);
}

test('the pending-deliveries counter agrees with a count after ingest, outcomes, retries and retention', async () => {
  const tmp = tempDir();
  const store = new SqliteStore(join(tmp.dir, 'q.db'));
  try {
    const now = Date.now();
    await assertAgrees(store, now, 0, 'when empty');
    assert.equal((await store.stats(now)).oldestDueAgeSeconds, 0);
    // 20 events, each with two deliveries; one blocked delivery (not queued) as well.
    const items = Array.from({ length: 20 }, (_, i) => event(i, now - 1000, ['a', 'b']));
    items.push({
      ...event(99, now - 1000, []),
      plan: () => [{ rule: 'all', destination: 'priv', privileged: true, status: 'blocked' as const, reason: 'no grant' }],
    });
    await store.ingest(items);
    await store.ingest([event(0, now, ['a', 'b'])]); // a duplicate adds nothing
    await assertAgrees(store, now + 10, 40, 'after ingest');
    assert.ok((await store.stats(now + 10)).oldestDueAgeSeconds > 0, 'the oldest due delivery has waited');

    const claimed = await store.claimDue({ now: now + 10, leaseMs: 60_000, room: new Map(), defaultRoom: 1000, limit: 1000 });
    assert.equal(claimed.length, 40);
    await assertAgrees(store, now + 10, 40, 'after a claim (leased deliveries are still queued)');
    const outcome = (id: string, status: DeliveryUpdate['status'], nextAttemptAt: number | null): DeliveryUpdate => ({
      id,
      status,
      nextAttemptAt,
      reason: status === 'delivered' ? null : 'HTTP 500',
      attempt: {
        deliveryId: id,
        attempt: 1,
        startedAt: now,
        durationMs: 1,
        outcome: status === 'delivered' ? 'delivered' : status === 'dead' ? 'permanent' : 'retry',
        code: '500',
        error: null,
      },
    });
    const [deliver, retry, kill] = [claimed.slice(0, 15), claimed.slice(15, 30), claimed.slice(30)];
    await store.finish([
      ...deliver.map((c) => outcome(c.id, 'delivered', null)),
      ...retry.map((c) => outcome(c.id, 'failed', now + 60_000)),
      ...kill.map((c) => outcome(c.id, 'dead', null)),
    ]);
    await assertAgrees(store, now + 10, 15, 'after outcomes (failed ones wait for their retry)');
    assert.equal((await store.stats(now + 10)).oldestDueAgeSeconds, 0, 'nothing is due before the retries');
    await store.finish(retry.slice(0, 5).map((c) => outcome(c.id, 'failed', now + 120_000))); // failed → failed: no change
    await assertAgrees(store, now + 10, 15, 'after failing again');

    const admitted = await store.admit(
      kill.slice(0, 4).map((c) => c.id),
      () => ({ allowed: true, reason: '' }),
      { now: now + 20, requeueDead: true },
    );
    assert.ok(admitted.every((a) => a.outcome === 'admitted'));
    await assertAgrees(store, now + 20, 19, 'after a privileged retry of dead deliveries');
    await store.admit(
      kill.slice(0, 4).map((c) => c.id),
      () => ({ allowed: true, reason: '' }),
      { now: now + 20, requeueDead: false },
    );
    await assertAgrees(store, now + 20, 19, 'after admitting waiting deliveries (no change)');
    const requeued = await store.requeueDead(
      kill.map((c) => c.id),
      now + 20,
    );
    assert.equal(requeued.length, 6);
    await assertAgrees(store, now + 20, 25, 'after retrying the dead');
    assert.ok((await store.stats(now + 1020)).oldestDueAgeSeconds >= 1, 'the requeued deliveries are due');

    await store.finish([...retry, ...kill].map((c) => outcome(c.id, 'delivered', null)));
    await assertAgrees(store, now + 30, 0, 'after delivering the rest');
    await store.ingest([event(500, now, ['a'])]);
    assert.equal(await store.prune(now + 60 * 86_400_000, 1000), 21, 'every settled event is pruned; the pending one stays');
    await assertAgrees(store, now + 30, 1, 'after retention');
  } finally {
    await store.close();
    tmp.cleanup();
  }
});

test('a database that already had a queue gets the counter at its length when it is upgraded', async () => {
  const tmp = tempDir();
  const path = join(tmp.dir, 'old.db');
  const before = MIGRATIONS.findIndex((m) => m.includes('CREATE TABLE queue_depth'));
  assert.ok(before > 0);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  for (let v = 0; v < before; v++) db.exec(MIGRATIONS[v]!);
  db.pragma(`user_version = ${before}`);
  const insert = db.prepare(
    `INSERT INTO events (seq, key, key_kind, type, received_at, last_seen_at, payload) VALUES (1, 'id:x', 'event_id', 'run.failed', 1, 1, '{}')`,
  );
  insert.run();
  const delivery = db.prepare(
    `INSERT INTO deliveries (id, event_seq, rule, destination, status, next_attempt_at, created_at, updated_at) VALUES (?, 1, 'r', 'd', ?, 1, 1, 1)`,
  );
  for (const [i, status] of ['pending', 'pending', 'failed', 'delivered', 'dead', 'blocked', 'silenced'].entries()) delivery.run(`d${i}`, status);
  db.close();
  const store = new SqliteStore(path);
  try {
    await assertAgrees(store, Date.now(), 3, 'after the upgrade');
  } finally {
    await store.close();
    tmp.cleanup();
  }
});

test('the counter agrees with a count through noise control: silenced at ingest and at send time, requeued silences, gathered events and digests', async () => {
  const tmp = tempDir();
  const store = new SqliteStore(join(tmp.dir, 'noise.db'));
  try {
    const now = Date.now();
    const group = (key: string, waitMs: number) => ({ key, values: { k: key }, waitMs, intervalMs: 60_000 });
    const planned = (i: number, p: PlannedDelivery[]): IngestItem => ({ ...event(i, now, []), plan: () => p });
    // A silenced delivery is stored but not queued; one of a grouped rule with a wait is gathered
    // (no delivery yet); one that opens its group with wait 0 is queued at once.
    await store.ingest([
      planned(1, [{ rule: 'all', destination: 'a', privileged: false, status: 'silenced', reason: 'silenced by s1' }]),
      planned(2, [{ rule: 'g', destination: 'a', privileged: false, status: 'pending', reason: null, group: group('x', 1000) }]),
      planned(3, [{ rule: 'g', destination: 'a', privileged: false, status: 'pending', reason: null, group: group('x', 1000) }]),
      planned(4, [{ rule: 'g0', destination: 'b', privileged: false, status: 'pending', reason: null, group: group('y', 0) }]),
    ]);
    await assertAgrees(store, now, 1, 'after ingest (silenced and gathered ones are not queued)');

    // The flush makes one digest delivery carrying the two gathered events.
    const flushed = await store.flushGroups(now + 1000, 100);
    assert.equal(flushed.length, 1);
    assert.equal(flushed[0]!.eventCount, 2);
    await assertAgrees(store, now + 1000, 2, 'after a flush (the digest is queued)');
    assert.deepEqual(await store.flushGroups(now + 1000, 100), [], 'a second flush makes nothing');
    await assertAgrees(store, now + 1000, 2, 'after an empty flush');

    // A silence that began after ingest holds a claimed delivery back at send time.
    const claimed = await store.claimDue({ now: now + 1000, leaseMs: 60_000, room: new Map(), defaultRoom: 1000, limit: 1000 });
    assert.equal(claimed.length, 2);
    await store.finish(claimed.map((c) => ({ id: c.id, status: 'silenced' as const, nextAttemptAt: null, reason: 'silenced by s2', attempt: null })));
    await assertAgrees(store, now + 1000, 0, 'after silencing at send time');

    // Expiring a silence with --requeue puts its deliveries back in the queue (once).
    const silenced = (await store.listDeliveries({ status: 'silenced', limit: 100 })).map((d) => d.id);
    assert.equal(silenced.length, 3);
    assert.equal((await store.requeueSilenced(silenced, now + 2000)).length, 3);
    await assertAgrees(store, now + 2000, 3, 'after requeueing the silenced');
    assert.equal((await store.requeueSilenced(silenced, now + 2000)).length, 0);
    await assertAgrees(store, now + 2000, 3, 'after requeueing them again (no change)');
  } finally {
    await store.close();
    tmp.cleanup();
  }
});
