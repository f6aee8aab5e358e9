// Retention and the store's bookkeeping, on a real SQLite file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { SqliteStore } from '../src/store/sqlite.js';
import { startRetention, PRUNE_BATCH } from '../src/ops/retention.js';
import type { RouterConfig } from '../src/config/types.js';
import { tempDir } from './helpers/cli.js';

const DAY = 86_400_000;

function event(i: number, receivedAt: number) {
  return {
    event: { key: `id:r${i}`, keyKind: 'event_id' as const, eventId: `r${i}`, runId: null, executionId: null, type: 'run.failed', receivedAt, payload: `{"id":"r${i}"}`, routing: '{}' },
    plan: () => [{ rule: 'all', destination: 'hook', privileged: false, status: 'pending' as const, reason: null }],
  };
}

test('events past retention are pruned in batches; those with deliveries still waiting are kept', async () => {
  const tmp = tempDir();
  const store = new SqliteStore(join(tmp.dir, 'r.db'));
  try {
    const now = Date.now();
    const old = Array.from({ length: PRUNE_BATCH + 50 }, (_, i) => event(i, now - 40 * DAY));
    await store.ingest(old);
    await store.ingest([event(9000, now - 40 * DAY), event(9001, now - DAY), event(9002, now - 40 * DAY)]);
    // Settle every old delivery except r9000's, which stays pending.
    const claimed = await store.claimDue({ now, leaseMs: 1000, room: new Map(), defaultRoom: 10_000, limit: 10_000 });
    await store.finish(
      claimed
        .filter((c) => c.eventPayload !== '{"id":"r9000"}')
        .map((c) => ({ id: c.id, attempt: { deliveryId: c.id, attempt: 1, startedAt: now, durationMs: 1, outcome: 'delivered' as const, code: '200', error: null }, status: 'delivered' as const, nextAttemptAt: null, reason: null })),
    );
    // Those deliveries finished long ago, except r9002's, which was retried and died just now.
    store.db.prepare(`UPDATE deliveries SET updated_at = ? WHERE status = 'delivered' AND event_seq <> (SELECT seq FROM events WHERE event_id = 'r9002')`).run(now - 35 * DAY);
    const config = { retentionMs: 30 * DAY } as RouterConfig;
    const retention = startRetention(store, () => config, pino({ level: 'silent' }));
    const pruned = await retention.runOnce();
    retention.stop();
    assert.equal(pruned, PRUNE_BATCH + 50);
    assert.equal(await store.findEvent('r0'), null);
    assert.ok(await store.findEvent('r9000'), 'kept: its delivery is still pending');
    assert.ok(await store.findEvent('r9001'), 'kept: younger than retention');
    assert.ok(await store.findEvent('r9002'), 'kept: its delivery finished within the retention period');
    const orphans = store.db.prepare('SELECT count(*) AS n FROM attempts WHERE delivery_id NOT IN (SELECT id FROM deliveries)').get() as { n: number };
    assert.equal(orphans.n, 0, 'attempts of pruned deliveries are gone too');
    const kept = store.db.prepare('SELECT count(*) AS n FROM attempts').get() as { n: number };
    assert.equal(kept.n, 2, "r9001's and r9002's attempts are kept");
  } finally {
    await store.close();
    tmp.cleanup();
  }
});

test('a claimed delivery is not claimed again until its lease lapses; releaseLeases frees it', async () => {
  const tmp = tempDir();
  const store = new SqliteStore(join(tmp.dir, 'l.db'));
  try {
    const now = Date.now();
    await store.ingest([event(1, now)]);
    const req = { now, leaseMs: 60_000, room: new Map<string, number>(), defaultRoom: 10, limit: 10 };
    assert.equal((await store.claimDue(req)).length, 1);
    assert.equal((await store.claimDue(req)).length, 0, 'leased');
    assert.equal((await store.claimDue({ ...req, now: now + 61_000 })).length, 1, 'lease lapsed: due again');
    assert.equal(await store.releaseLeases(), 1);
    assert.equal((await store.claimDue(req)).length, 1, 'released: due again');
  } finally {
    await store.close();
    tmp.cleanup();
  }
});

test('per-destination room: a busy destination does not hide another one\'s due deliveries', async () => {
  const tmp = tempDir();
  const store = new SqliteStore(join(tmp.dir, 'c.db'));
  try {
    const now = Date.now();
    const items = Array.from({ length: 30 }, (_, i) => ({
      ...event(i, now),
      plan: () => [{ rule: 'r', destination: i < 25 ? 'busy' : 'quiet', privileged: false, status: 'pending' as const, reason: null }],
    }));
    await store.ingest(items);
    const claimed = await store.claimDue({ now: now + 1, leaseMs: 1000, room: new Map([['busy', 2], ['quiet', 8]]), defaultRoom: 1, limit: 10 });
    const by = (d: string) => claimed.filter((c) => c.destination === d).length;
    assert.equal(by('busy'), 2);
    assert.equal(by('quiet'), 5);
  } finally {
    await store.close();
    tmp.cleanup();
  }
});

test('group commit: an event that does not fit fails alone; the rest of its batch is stored', async () => {
  const tmp = tempDir();
  const store = new SqliteStore(join(tmp.dir, 'f.db'), { maxBytes: 256 * 1024 });
  try {
    const now = Date.now();
    const huge = event(2, now);
    huge.event.payload = JSON.stringify({ id: 'r2', pad: 'x'.repeat(400 * 1024) });
    const outcomes = await store.ingest([event(1, now), huge, event(3, now)]);
    assert.deepEqual(outcomes.map((o) => o.status), ['accepted', 'failed', 'accepted']);
    assert.ok(await store.findEvent('r1'));
    assert.equal(await store.findEvent('r2'), null);
    assert.ok(await store.findEvent('r3'));
  } finally {
    await store.close();
    tmp.cleanup();
  }
});
