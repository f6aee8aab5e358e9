// max_per_hour in the store, on a real SQLite file: counted by when a delivery was allowed
// (allowed_at), stamped in the same transaction as the decision (Store.admit), and carried over
// from databases that counted by created_at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadRulesText } from '../src/config/load.js';
import type { RouterConfig } from '../src/config/types.js';
import { decideExisting } from '../src/policy/stored.js';
import { retryDead } from '../src/ops/retry.js';
import { allowedInWindow } from '../src/policy/policy.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { tempDir } from './helpers/cli.js';

const HOUR = 3_600_000;

function config(cap: number): RouterConfig {
  const { config, problems } = loadRulesText(
    `version: 1
destinations:
  payout: { type: webhook, url: "http://127.0.0.1:1/pay", privileged: true }
rules:
  - { name: pay, match: { type: pay.run }, send_to: [payout] }
policy:
  allow_privileged:
    - { rule: pay, destination: payout, max_per_hour: ${cap} }
`,
    'rules.yaml',
    {},
    { examples: false },
  );
  assert.ok(config, JSON.stringify(problems));
  return config;
}

/** An event with one privileged delivery allowed at ingest, at `at`. */
function paid(i: number, at: number) {
  return {
    event: { key: `id:p${i}`, keyKind: 'event_id' as const, eventId: `p${i}`, runId: null, executionId: null, type: 'pay.run', receivedAt: at, payload: `{"id":"p${i}","type":"pay.run"}`, routing: '{}' },
    plan: () => [{ rule: 'pay', destination: 'payout', privileged: true, status: 'pending' as const, reason: null }],
  };
}

async function killAll(store: SqliteStore, now: number): Promise<void> {
  const claimed = await store.claimDue({ now, leaseMs: 1000, room: new Map(), defaultRoom: 1000, limit: 1000 });
  await store.finish(claimed.map((c) => ({ id: c.id, attempt: null, status: 'dead' as const, nextAttemptAt: null, reason: 'HTTP 400' })));
}

test('retry of privileged deliveries allowed over an hour ago: the cap counts the retry itself, and the send does not count again', async () => {
  const tmp = tempDir();
  const store = new SqliteStore(join(tmp.dir, 'r.db'));
  try {
    const now = Date.now();
    const cfg = config(2);
    await store.ingest(Array.from({ length: 10 }, (_, i) => paid(i, now - 2 * HOUR)));
    await killAll(store, now);
    assert.equal(await allowedInWindow(store, 'pay', 'payout', now), 0, 'allowed two hours ago: outside the window');

    const dead = await store.listDeliveries({ status: 'dead', limit: 100 });
    const first = await retryDead(store, () => cfg, dead, now);
    assert.equal(first.requeued.length, 2);
    assert.equal(first.refused.length, 8);
    assert.match(first.refused[0]!.reason, /max_per_hour of 2 .* is used up \(2 in the last hour\)/);
    assert.equal(await allowedInWindow(store, 'pay', 'payout', now + 1), 2, 'counted as of the retry');

    // Sent: the serving worker decides again by its own rules (the retrying CLI may hold another
    // file), and each delivery's allowance from the retry is replaced, not added to: still two.
    const claimed = await store.claimDue({ now: now + 1, leaseMs: 1000, room: new Map(), defaultRoom: 1000, limit: 1000 });
    assert.deepEqual(claimed.map((c) => c.id).sort(), [...first.requeued].sort());
    assert.ok(claimed.every((c) => !c.privileged), 'decided again at send time');
    const dest = cfg.destinations.get('payout')!;
    const atSend = await store.admit(
      claimed.map((c) => c.id),
      (row, counts) => decideExisting(counts, cfg, row, dest, {}, now + 1),
      { now: now + 1, requeueDead: false },
    );
    assert.deepEqual(atSend.map((a) => a.outcome), ['admitted', 'admitted']);
    assert.equal(await allowedInWindow(store, 'pay', 'payout', now + 1), 2, 'not counted twice');

    const again = await retryDead(store, () => cfg, await store.listDeliveries({ status: 'dead', limit: 100 }), now + 2);
    assert.deepEqual([again.requeued.length, again.refused.length], [0, 8]);
  } finally {
    await store.close();
    tmp.cleanup();
  }
});

test("a dead delivery sent within the hour replaces its own allowance when retried (cap 1)", async () => {
  const tmp = tempDir();
  const store = new SqliteStore(join(tmp.dir, 's.db'));
  try {
    const now = Date.now();
    await store.ingest([paid(1, now - 10 * 60_000)]);
    await killAll(store, now);
    assert.equal(await allowedInWindow(store, 'pay', 'payout', now), 1);
    const r = await retryDead(store, () => config(1), await store.listDeliveries({ status: 'dead', limit: 10 }), now);
    assert.equal(r.requeued.length, 1, r.refused[0]?.reason);
    assert.equal(await allowedInWindow(store, 'pay', 'payout', now + 1), 1, 'counted once, as of the retry');
  } finally {
    await store.close();
    tmp.cleanup();
  }
});

test('admit counts each delivery after the ones admitted before it in the same call', async () => {
  const tmp = tempDir();
  const store = new SqliteStore(join(tmp.dir, 'a.db'));
  try {
    const now = Date.now();
    // Queued while not privileged: nothing counted yet.
    await store.ingest(Array.from({ length: 5 }, (_, i) => ({ ...paid(i, now), plan: () => [{ rule: 'pay', destination: 'payout', privileged: false, status: 'pending' as const, reason: null }] })));
    const ids = (await store.listDeliveries({ limit: 10 })).map((d) => d.id);
    const seen: number[] = [];
    const out = await store.admit(
      ids,
      (_d, counts) => {
        const n = allowedInWindow(counts, 'pay', 'payout', now);
        seen.push(n);
        return n < 3 ? { allowed: true, reason: 'ok' } : { allowed: false, reason: 'used up' };
      },
      { now, requeueDead: false },
    );
    assert.deepEqual(seen, [0, 1, 2, 3, 3]);
    assert.deepEqual(out.map((o) => o.outcome), ['admitted', 'admitted', 'admitted', 'refused', 'refused']);
    assert.equal((await store.getDelivery(ids[0]!))!.privileged, true);
    assert.equal((await store.getDelivery(ids[4]!))!.privileged, false, 'a refused delivery is left as it was');
    const dead = await store.admit(ids, () => ({ allowed: true, reason: '' }), { now, requeueDead: true });
    assert.ok(dead.every((o) => o.outcome === 'skipped'), 'requeueDead touches dead deliveries only');
  } finally {
    await store.close();
    tmp.cleanup();
  }
});

test('a database that counted by created_at keeps its counts after the migration', async () => {
  const tmp = tempDir();
  const path = join(tmp.dir, 'old.db');
  const now = Date.now();
  const db = new Database(path);
  // The schema before allowed_at (migrations 1 to 4), with what the old code wrote.
  for (const m of MIGRATIONS.slice(0, 4)) db.exec(m);
  db.pragma('user_version = 4');
  db.prepare(`INSERT INTO events (key, key_kind, received_at, last_seen_at, payload) VALUES ('k', 'event_id', ?, ?, '{}')`).run(now, now);
  const ins = db.prepare(`INSERT INTO deliveries (id, event_seq, rule, destination, status, privileged, created_at, updated_at) VALUES (?, 1, 'pay', 'payout', ?, ?, ?, ?)`);
  ins.run('a', 'delivered', 1, now - 60_000, now);
  ins.run('b', 'dead', 1, now - 30_000, now);
  ins.run('c', 'blocked', 1, now - 30_000, now);
  ins.run('d', 'delivered', 0, now - 30_000, now);
  ins.run('e', 'delivered', 1, now - 2 * HOUR, now);
  db.close();
  const store = new SqliteStore(path);
  try {
    assert.equal(await allowedInWindow(store, 'pay', 'payout', now), 2, 'the privileged, not blocked, within the hour');
  } finally {
    await store.close();
    tmp.cleanup();
  }
});
