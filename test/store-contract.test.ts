// The Store contract, the same cases on both engines: a real SQLite file, and a fresh database on
// a real PostgreSQL server (one server for this file, one database per test). What only one
// engine has (SQLite's size cap and old schemas) is tested in its own files.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { loadRulesText } from '../src/config/load.js';
import type { RouterConfig } from '../src/config/types.js';
import { PRUNE_BATCH, startRetention } from '../src/ops/retention.js';
import { replay } from '../src/ops/replay.js';
import { retryDead } from '../src/ops/retry.js';
import { allowedInWindow } from '../src/policy/policy.js';
import { decideExisting } from '../src/policy/stored.js';
import { PostgresStore } from '../src/store/postgres.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { GroupPlacement } from '../src/event/model.js';
import type { IngestItem, NewSilence, Store } from '../src/store/store.js';
import { tempDir } from './helpers/cli.js';
import { ingestItem, pendingTo } from './helpers/ingest.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

interface Engine {
  name: 'sqlite' | 'postgres';
  /** A fresh, empty database; `another()` opens a second connection (a second process) on it. */
  open(): Promise<{ store: Store; another(): Store; sql(text: string, ...params: unknown[]): Promise<Record<string, unknown>[]>; close(): Promise<void> }>;
}

let server: PostgresServer | undefined;

const engines: Engine[] = [
  {
    name: 'sqlite',
    async open() {
      const tmp = tempDir();
      const path = join(tmp.dir, 'c.db');
      const store = new SqliteStore(path);
      const others: Store[] = [];
      return {
        store,
        another: () => {
          const s = new SqliteStore(path);
          others.push(s);
          return s;
        },
        sql: async (text, ...params) => {
          const st = store.db.prepare(text);
          if (st.reader) return st.all(...params) as Record<string, unknown>[];
          st.run(...params);
          return [];
        },
        close: async () => {
          for (const s of others) await s.close();
          await store.close();
          tmp.cleanup();
        },
      };
    },
  },
  {
    name: 'postgres',
    async open() {
      const url = await server!.createDatabase();
      const store = new PostgresStore(url, { poolMax: 4, replicaId: 'replica-a' });
      const others: Store[] = [];
      let n = 0;
      return {
        store,
        another: () => {
          const s = new PostgresStore(url, { poolMax: 4, replicaId: `replica-${String.fromCharCode(98 + n++)}` });
          others.push(s);
          return s;
        },
        sql: async (text, ...params) => {
          let i = 0;
          const c = new pg.Client({ connectionString: url });
          await c.connect();
          try {
            return (
              await c.query(
                text.replace(/\?/g, () => `$${++i}`),
                params,
              )
            ).rows as Record<string, unknown>[];
          } finally {
            await c.end();
          }
        },
        close: async () => {
          for (const s of others) await s.close();
          await store.close();
        },
      };
    },
  },
];

before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

const event = (i: number, receivedAt: number, destination = 'hook'): IngestItem =>
  ingestItem(`r${i}`, receivedAt, { type: i % 2 ? 'run.failed' : 'run.succeeded', destinations: [destination] });

function payConfig(cap: number): RouterConfig {
  const { config, problems } = loadRulesText(
    `version: 1
destinations:
  payout: { type: webhook, url: "http://127.0.0.1:1/pay", privileged: true }
rules:
  - { name: pay, match: { type: pay.run }, send_to: [payout] }
policy:
  allow_privileged:
    - { rule: pay, destination: payout, max_per_hour: ${cap}, allow_replay: true }
`,
    'rules.yaml',
    {},
    { examples: false },
  );
  assert.ok(config, JSON.stringify(problems));
  return config;
}

const PAY = [{ rule: 'pay', destination: 'payout' }];

/** An event with one privileged delivery, allowed at ingest under a cap (or not privileged yet). */
function paid(i: number, at: number, opts: { cap?: number; privileged?: boolean } = {}): IngestItem {
  return ingestItem(`p${i}`, at, {
    type: 'pay.run',
    payload: JSON.stringify({ id: `p${i}`, type: 'pay.run' }),
    counted: PAY,
    plan: (counts) => {
      if (opts.privileged === false) return [{ rule: 'pay', destination: 'payout', privileged: false, status: 'pending', reason: null }];
      const used = allowedInWindow(counts, 'pay', 'payout', at);
      const ok = opts.cap === undefined || used < opts.cap;
      return [{ rule: 'pay', destination: 'payout', privileged: true, status: ok ? 'pending' : 'blocked', reason: ok ? null : `used up (${used})` }];
    },
  });
}

/** An event whose one delivery joins a group (or is held back by a silence). */
function grouped(i: number, receivedAt: number, group: GroupPlacement, status: 'pending' | 'silenced' = 'pending'): IngestItem {
  const reason = status === 'silenced' ? 'silenced by s1' : null;
  return ingestItem(`g${i}`, receivedAt, {
    plan: () => [{ ...pendingTo('hook'), status, reason, group: status === 'pending' ? group : null }],
  });
}

const claimAll = (store: Store, now: number, leaseMs = 1000) => store.claimDue({ now, leaseMs, room: new Map(), defaultRoom: 1000, limit: 1000 });

async function killAll(store: Store, now: number): Promise<void> {
  const claimed = await claimAll(store, now);
  await store.finish(claimed.map((c) => ({ id: c.id, attempt: null, status: 'dead' as const, nextAttemptAt: null, reason: 'HTTP 400' })));
}

for (const engine of engines) {
  describe(`store contract (${engine.name})`, () => {
    const withDb = (name: string, fn: (db: Awaited<ReturnType<Engine['open']>>) => Promise<void>) =>
      test(name, async () => {
        const db = await engine.open();
        try {
          await fn(db);
        } finally {
          await db.close();
        }
      });

    withDb('ingest: a new event is stored with its deliveries; a duplicate (in the batch or later) is counted, not routed', async ({ store }) => {
      const now = Date.now();
      let planned = 0;
      const item = (i: number) => ({
        ...event(i, now),
        plan: () => {
          planned++;
          return [pendingTo('hook')];
        },
      });
      const out = await store.ingest([item(1), item(2), item(1)]);
      assert.deepEqual(
        out.map((o) => o.status),
        ['accepted', 'accepted', 'duplicate'],
      );
      assert.equal(planned, 2);
      assert.equal((out[2] as { seq: number }).seq, (out[0] as { seq: number }).seq);
      const again = await store.ingest([item(2)]);
      assert.deepEqual(
        again.map((o) => o.status),
        ['duplicate'],
      );
      // A plan that counts nothing may run for a duplicate too (PostgreSQL plans before its one
      // statement; SQLite does not); what it planned is dropped.
      assert.equal(planned, store.engine === 'postgres' ? 3 : 2);
      const e = (await store.findEvent('r1'))!;
      assert.equal(e.duplicates, 1);
      assert.equal((await store.findEvent('id:r2'))!.duplicates, 1, 'found by key too');
      assert.equal((await store.deliveriesForEvent(e.seq)).length, 1);
      assert.equal((await store.deliveriesForEvent((await store.findEvent('r2'))!.seq)).length, 1, 'no second set for a duplicate');
      assert.deepEqual(await store.ingest([]), []);
    });

    withDb('ingest: an event whose delivery joins a group is planned once', async ({ store }) => {
      const now = Date.now();
      const g = { key: '["wf_a"]', values: { 'data.workflowId': 'wf_a' }, waitMs: 0, intervalMs: 60_000 };
      let planned = 0;
      const counting = (i: number): IngestItem => {
        const it = grouped(i, now + i, g);
        return {
          ...it,
          plan: (counts) => {
            planned++;
            return it.plan(counts);
          },
        };
      };
      const out = await store.ingest([counting(1), counting(2), counting(3)]);
      assert.deepEqual(
        out.map((o) => o.status),
        ['accepted', 'accepted', 'accepted'],
      );
      assert.equal(planned, 3);
    });

    withDb('ingest from two processes at once: the same event is accepted once, its deliveries made once', async ({ store, another }) => {
      const other = another();
      const now = Date.now();
      const batch = Array.from({ length: 20 }, (_, i) => event(i, now));
      const [a, b] = await Promise.all([store.ingest(batch), other.ingest([...batch].reverse())]);
      for (let i = 0; i < batch.length; i++) {
        const statuses = [a[i]!.status, b[batch.length - 1 - i]!.status].sort();
        assert.deepEqual(statuses, ['accepted', 'duplicate'], `event ${i}`);
      }
      assert.equal((await store.listDeliveries({ limit: 100 })).length, 20);
    });

    withDb('claims: a claimed delivery is not claimed again until its lease lapses; releaseLeases frees its own', async ({ store }) => {
      const now = Date.now();
      await store.ingest([event(1, now)]);
      const req = { now, leaseMs: 60_000, room: new Map<string, number>(), defaultRoom: 10, limit: 10 };
      const [c] = await store.claimDue(req);
      assert.equal(c!.eventPayload, '{"id":"r1"}');
      assert.equal(c!.eventType, 'run.failed');
      // Field for field what getDelivery gives (SQLite reads a claim's columns on its own path).
      const { eventPayload: _p, eventType: _t, ...delivery } = c!;
      assert.deepEqual(delivery, await store.getDelivery(c!.id));
      assert.equal((await store.claimDue(req)).length, 0, 'leased');
      assert.equal((await store.claimDue({ ...req, now: now + 61_000 })).length, 1, 'lease lapsed: due again');
      assert.equal(await store.releaseLeases(), 1);
      assert.equal((await store.claimDue(req)).length, 1, 'released: due again');
    });

    withDb("claims: each delivery is leased for its own destination's send; a destination not listed gets leaseMs", async ({ store, sql }) => {
      const now = Date.now();
      await store.ingest([event(1, now, 'fast'), event(2, now, 'slow'), event(3, now, 'other')]);
      const leases = new Map([
        ['fast', 40_000],
        ['slow', 330_000],
      ]);
      const claimed = await store.claimDue({ now, leaseMs: 90_000, leases, room: new Map(), defaultRoom: 10, limit: 10 });
      assert.equal(claimed.length, 3);
      const rows = await sql('SELECT destination, lease_until FROM deliveries ORDER BY destination');
      assert.deepEqual(
        rows.map((r) => [r.destination, Number(r.lease_until) - now]),
        [
          ['fast', 40_000],
          ['other', 90_000],
          ['slow', 330_000],
        ],
      );
      // A finished delivery claimed again in the same call gets its destination's lease too.
      const [fast] = claimed.filter((c) => c.destination === 'fast');
      await store.finishAndClaim([{ id: fast!.id, attempt: null, status: 'failed', nextAttemptAt: now, reason: 'HTTP 503' }], {
        now: now + 1,
        leaseMs: 90_000,
        leases,
        room: new Map(),
        defaultRoom: 10,
        limit: 10,
      });
      const [again] = await sql("SELECT lease_until FROM deliveries WHERE destination = 'fast'");
      assert.equal(Number(again!.lease_until) - now, 40_001);
    });

    withDb('claims from two processes at once never hand out the same delivery', async ({ store, another }) => {
      const other = another();
      const now = Date.now();
      await store.ingest(Array.from({ length: 60 }, (_, i) => event(i, now, `d${i % 3}`)));
      const req = { now: now + 1, leaseMs: 60_000, room: new Map<string, number>(), defaultRoom: 7, limit: 12 };
      const got: string[] = [];
      for (let round = 0; round < 6; round++) {
        const [a, b] = await Promise.all([store.claimDue(req), other.claimDue(req)]);
        got.push(...a.map((c) => c.id), ...b.map((c) => c.id));
      }
      assert.equal(new Set(got).size, got.length, 'no delivery claimed twice');
      assert.equal(got.length, 60);
    });

    withDb("per-destination room: a busy destination does not hide another one's due deliveries", async ({ store }) => {
      const now = Date.now();
      await store.ingest(Array.from({ length: 30 }, (_, i) => event(i, now, i < 25 ? 'busy' : 'quiet')));
      const claimed = await store.claimDue({
        now: now + 1,
        leaseMs: 1000,
        room: new Map([
          ['busy', 2],
          ['quiet', 8],
        ]),
        defaultRoom: 1,
        limit: 10,
      });
      const by = (d: string) => claimed.filter((c) => c.destination === d).length;
      assert.equal(by('busy'), 2);
      assert.equal(by('quiet'), 5);
      const none = await store.claimDue({
        now: now + 1,
        leaseMs: 1000,
        room: new Map([
          ['busy', 0],
          ['quiet', 0],
        ]),
        defaultRoom: 1,
        limit: 10,
      });
      assert.equal(none.length, 0, 'no room, nothing claimed');
    });

    withDb('finish records attempts and outcomes; a failed delivery is due again at its time', async ({ store }) => {
      const now = Date.now();
      await store.ingest([event(1, now), event(2, now)]);
      const [a, b] = await claimAll(store, now);
      const attempt = (id: string, outcome: 'delivered' | 'retry') => ({
        deliveryId: id,
        attempt: 1,
        startedAt: now,
        durationMs: 12,
        outcome,
        code: outcome === 'retry' ? '503' : '200',
        error: outcome === 'retry' ? 'HTTP 503' : null,
      });
      await store.finish([
        { id: a!.id, attempt: attempt(a!.id, 'delivered'), status: 'delivered', nextAttemptAt: null, reason: null },
        { id: b!.id, attempt: attempt(b!.id, 'retry'), status: 'failed', nextAttemptAt: now + 5_000, reason: 'HTTP 503' },
      ]);
      const da = (await store.getDelivery(a!.id))!;
      assert.deepEqual([da.status, da.attempts, da.roundAttempts], ['delivered', 1, 1]);
      const db = (await store.getDelivery(b!.id))!;
      assert.deepEqual([db.status, db.reason, db.nextAttemptAt], ['failed', 'HTTP 503', now + 5_000]);
      assert.deepEqual(
        (await store.attemptsFor(b!.id)).map((x) => [x.attempt, x.outcome, x.code, x.error]),
        [[1, 'retry', '503', 'HTTP 503']],
      );
      assert.equal((await claimAll(store, now + 1)).length, 0, 'not due yet');
      assert.deepEqual(
        (await claimAll(store, now + 5_001)).map((c) => c.id),
        [b!.id],
      );
      assert.deepEqual(await store.stats(now + 6_001), { queueDepth: 1, oldestDueAgeSeconds: 1.001 });
    });

    withDb('ingest: max_per_hour counts what earlier events of the same batch were allowed', async ({ store }) => {
      const now = Date.now();
      const out = await store.ingest(Array.from({ length: 5 }, (_, i) => paid(i, now, { cap: 3 })));
      const statuses = out.map((o) => (o.status === 'accepted' ? o.planned[0]!.status : o.status));
      assert.deepEqual(statuses, ['pending', 'pending', 'pending', 'blocked', 'blocked']);
      assert.equal(await store.allowedSince('pay', 'payout', now - HOUR), 3);
      const later = await store.ingest([paid(9, now + 1, { cap: 3 })]);
      assert.equal(later[0]!.status === 'accepted' && later[0]!.planned[0]!.status, 'blocked', 'the next batch sees them committed');
    });

    withDb('max_per_hour is exact with two processes ingesting at once', async ({ store, another }) => {
      const other = another();
      const now = Date.now();
      // Batches of several and of one, all at once: each must see what the others were allowed.
      const one = (from: number) => Array.from({ length: 4 }, (_, i) => paid(from + i, now, { cap: 5 }));
      await Promise.all([
        ...[0, 1, 2, 3].map((k) => (k % 2 ? other : store).ingest(one(k * 100))),
        ...Array.from({ length: 12 }, (_, k) => (k % 2 ? other : store).ingest([paid(1000 + k, now, { cap: 5 })])),
      ]);
      assert.equal(await store.allowedSince('pay', 'payout', now - HOUR), 5);
      assert.equal((await store.listDeliveries({ status: 'pending', limit: 100 })).length, 5);
    });

    withDb('admit counts each delivery after the ones admitted before it in the same call', async ({ store }) => {
      const now = Date.now();
      // Queued while not privileged: nothing counted yet.
      await store.ingest(Array.from({ length: 5 }, (_, i) => paid(i, now, { privileged: false })));
      const ids = (await store.listDeliveries({ limit: 10 })).map((d) => d.id).reverse();
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
      assert.deepEqual(
        out.map((o) => o.outcome),
        ['admitted', 'admitted', 'admitted', 'refused', 'refused'],
      );
      assert.equal((await store.getDelivery(ids[0]!))!.privileged, true);
      assert.equal((await store.getDelivery(ids[4]!))!.privileged, false, 'a refused delivery is left as it was');
      const dead = await store.admit(ids, () => ({ allowed: true, reason: '' }), { now, requeueDead: true });
      assert.ok(
        dead.every((o) => o.outcome === 'skipped'),
        'requeueDead touches dead deliveries only',
      );
    });

    withDb('admit from two processes at once: sends queued before the destination became privileged never exceed the cap', async ({ store, another }) => {
      const other = another();
      const now = Date.now();
      await store.ingest(Array.from({ length: 12 }, (_, i) => paid(i, now, { privileged: false })));
      const ids = (await store.listDeliveries({ limit: 100 })).map((d) => d.id);
      const decide = (_d: unknown, counts: { allowedSince(r: string, d: string, s: number): number }) =>
        allowedInWindow(counts, 'pay', 'payout', now) < 4 ? { allowed: true, reason: '' } : { allowed: false, reason: 'used up' };
      const results = await Promise.all(ids.map((id, i) => (i % 2 ? other : store).admit([id], decide, { now, requeueDead: false })));
      assert.equal(results.flat().filter((r) => r.outcome === 'admitted').length, 4);
      assert.equal(await store.allowedSince('pay', 'payout', now - HOUR), 4);
    });

    withDb('retry of privileged deliveries allowed over an hour ago: the cap counts the retry itself, and the send does not count again', async ({ store }) => {
      const now = Date.now();
      const cfg = payConfig(2);
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
      const claimed = await claimAll(store, now + 1);
      assert.deepEqual(claimed.map((c) => c.id).sort(), [...first.requeued].sort());
      assert.ok(
        claimed.every((c) => !c.privileged),
        'decided again at send time',
      );
      const dest = cfg.destinations.get('payout')!;
      const atSend = await store.admit(
        claimed.map((c) => c.id),
        (row, counts) => decideExisting(counts, cfg, row, dest, {}, now + 1),
        { now: now + 1, requeueDead: false },
      );
      assert.deepEqual(
        atSend.map((a) => a.outcome),
        ['admitted', 'admitted'],
      );
      assert.equal(await allowedInWindow(store, 'pay', 'payout', now + 1), 2, 'not counted twice');
      const again = await retryDead(store, () => cfg, await store.listDeliveries({ status: 'dead', limit: 100 }), now + 2);
      assert.deepEqual([again.requeued.length, again.refused.length], [0, 8]);
    });

    withDb('a dead delivery sent within the hour replaces its own allowance when retried (cap 1)', async ({ store }) => {
      const now = Date.now();
      await store.ingest([paid(1, now - 10 * 60_000)]);
      await killAll(store, now);
      assert.equal(await allowedInWindow(store, 'pay', 'payout', now), 1);
      const r = await retryDead(store, () => payConfig(1), await store.listDeliveries({ status: 'dead', limit: 10 }), now);
      assert.equal(r.requeued.length, 1, r.refused[0]?.reason);
      assert.equal(await allowedInWindow(store, 'pay', 'payout', now + 1), 1, 'counted once, as of the retry');
    });

    withDb('requeueDead moves dead deliveries only, due now', async ({ store }) => {
      const now = Date.now();
      await store.ingest([event(1, now), event(2, now)]);
      const [a, b] = await claimAll(store, now);
      await store.finish([
        { id: a!.id, attempt: null, status: 'dead', nextAttemptAt: null, reason: 'gone' },
        { id: b!.id, attempt: null, status: 'delivered', nextAttemptAt: null, reason: null },
      ]);
      assert.deepEqual(await store.requeueDead([b!.id, a!.id, 'no-such-id'], now + 10), [a!.id]);
      const d = (await store.getDelivery(a!.id))!;
      assert.deepEqual([d.status, d.roundAttempts, d.nextAttemptAt, d.reason], ['pending', 0, now + 10, null]);
      assert.deepEqual(await store.requeueDead([], now), []);
    });

    withDb('addDeliveries (replay) from two processes at once: each missing pair gets one delivery, never two', async ({ store, another, sql }) => {
      const other = another();
      const now = Date.now();
      await store.ingest(Array.from({ length: 1500 }, (_, i) => ({ ...event(i, now - 1_000), plan: () => [] })));
      const events = await store.eventsSince(0, 2000);
      const add = (st: Store) =>
        st.addDeliveries(
          events,
          (e, existing) =>
            existing.length > 0
              ? []
              : [{ eventSeq: e.seq, rule: 'all', destination: 'hook', privileged: false, status: 'pending', reason: null, origin: 'replay' }],
          now,
        );
      const made = await Promise.all([add(store), add(other), add(store), add(other), add(store), add(other)]);
      assert.equal(
        made.reduce((n, list) => n + list.length, 0),
        1500,
      );
      const [row] = await sql('SELECT count(*) AS n, count(DISTINCT event_seq) AS e FROM deliveries');
      assert.deepEqual([Number(row!.n), Number(row!.e)], [1500, 1500]);
    });

    withDb('addDeliveries (replay): an event gathered into a group whose digest is not made yet is told so, and gets nothing', async ({ store }) => {
      const now = Date.now();
      const g = { key: '["wf_a"]', values: { 'data.workflowId': 'wf_a' }, waitMs: 0, intervalMs: 600_000 };
      await store.ingest([grouped(1, now - 2, g), grouped(2, now - 1, g)]);
      const seen: { existing: number; waiting: { rule: string; destination: string }[] }[] = [];
      await store.addDeliveries(
        await store.eventsSince(0, 10),
        (_e, existing, _counts, waiting) => {
          seen.push({ existing: existing.length, waiting: [...waiting] });
          return [];
        },
        now,
      );
      assert.deepEqual(seen, [
        { existing: 1, waiting: [] },
        { existing: 0, waiting: [{ rule: 'all', destination: 'hook' }] },
      ]);
    });

    withDb('replay of a grouped rule: the replayed deliveries join the group, as at ingest (one at once, the rest in one digest)', async ({ store }) => {
      const now = Date.now();
      const { config } = loadRulesText(
        'version: 1\ndestinations:\n  hook: { type: webhook, url: "http://127.0.0.1:1/x" }\nrules:\n  - { name: all, match: { type: run.failed }, send_to: [hook], group: { interval: 1m } }\n',
        'rules.yaml',
        {},
        { examples: false },
      );
      await store.ingest(
        Array.from({ length: 4 }, (_, i) =>
          ingestItem(`g${i}`, now - 1_000 + i, { payload: JSON.stringify({ id: `g${i}`, type: 'run.failed' }), plan: () => [] }),
        ),
      );
      const lines = await replay(store, config!, await store.eventsSince(0, 10), { dryRun: false, now });
      assert.deepEqual(
        lines.map((l) => l.reason),
        Array.from({ length: 4 }, () => 'no delivery yet; joins its group (sent with it)'),
      );
      assert.deepEqual(
        (await store.listDeliveries({ limit: 10 })).map((d) => [d.eventCount, d.origin]),
        [[1, 'replay']],
        'the first opens the group and goes at once; the others are gathered',
      );
      const [digest] = await store.flushGroups(now + 61_000, 10);
      assert.equal(digest!.eventCount, 3);
      // Replayed again: the one sent is left alone, the gathered ones belong to their digest.
      assert.deepEqual(
        (await replay(store, config!, await store.eventsSince(0, 10), { dryRun: true, now })).map((l) => l.action),
        ['skip', 'skip', 'skip', 'skip'],
      );
    });

    withDb('addDeliveries (replay): a pair with no delivery gets one, through the counts; others are left alone', async ({ store }) => {
      const now = Date.now();
      const cfg = payConfig(1);
      await store.ingest([paid(1, now - 60_000, { cap: 0 }), paid(2, now - 60_000, { cap: 0 })]);
      assert.deepEqual(
        (await store.listDeliveries({ limit: 10 })).map((d) => d.status),
        ['blocked', 'blocked'],
      );
      const lines = await replay(store, cfg, await store.eventsSince(0, 10), { dryRun: false, now });
      assert.deepEqual(
        lines.map((l) => l.action),
        ['create', 'blocked'],
        JSON.stringify(lines),
      );
      const e1 = (await store.findEvent('p1'))!;
      const mine = await store.deliveriesForEvent(e1.seq);
      assert.deepEqual(
        mine.map((d) => [d.status, d.origin]),
        [
          ['blocked', 'ingest'],
          ['pending', 'replay'],
        ],
      );
      assert.deepEqual(
        (await replay(store, cfg, [e1], { dryRun: false, now })).map((l) => l.action),
        ['skip'],
      );
    });

    withDb('listings: events and deliveries by filter, newest first; recent and since oldest first', async ({ store }) => {
      const now = Date.now();
      await store.ingest([event(1, now - 3000, 'a'), event(2, now - 2000, 'b'), event(3, now - 1000, 'a')]);
      assert.deepEqual(
        (await store.listEvents({ limit: 10 })).map((e) => e.eventId),
        ['r3', 'r2', 'r1'],
      );
      assert.deepEqual(
        (await store.listEvents({ type: 'run.failed', limit: 10 })).map((e) => e.eventId),
        ['r3', 'r1'],
      );
      assert.deepEqual(
        (await store.listEvents({ since: now - 2500, limit: 10 })).map((e) => e.eventId),
        ['r3', 'r2'],
      );
      assert.deepEqual(
        (await store.listEvents({ limit: 1 })).map((e) => e.eventId),
        ['r3'],
      );
      assert.deepEqual(
        (await store.eventsSince(now - 2500, 10)).map((e) => e.eventId),
        ['r2', 'r3'],
      );
      const e2 = (await store.findEvent('r2'))!;
      assert.deepEqual(await store.getEvent(e2.seq), e2);
      assert.equal(e2.payload, '{"id":"r2"}');
      assert.equal(await store.findEvent('nope'), null);
      assert.equal(await store.getEvent(99_999), null);
      assert.deepEqual(
        (await store.listDeliveries({ destination: 'a', limit: 10 })).map((d) => d.destination),
        ['a', 'a'],
      );
      assert.equal((await store.listDeliveries({ status: 'pending', limit: 10 })).length, 3);
      assert.equal((await store.listDeliveries({ status: 'dead', limit: 10 })).length, 0);
      assert.equal(await store.getDelivery('nope'), null);
    });

    withDb('eventsSince: oldest first, from a time, a page at a time after a seq', async ({ store }) => {
      const now = Date.now();
      await store.ingest([event(1, now - 2 * DAY), event(2, now - 10), event(3, now - 5), event(4, now)]);
      const ids = (list: { eventId: string | null }[]) => list.map((e) => e.eventId);
      const first = await store.eventsSince(now - DAY, 2);
      assert.deepEqual(ids(first), ['r2', 'r3']);
      assert.deepEqual(ids(await store.eventsSince(now - DAY, 2, first.at(-1)!.seq)), ['r4']);
      assert.deepEqual(await store.eventsSince(now - DAY, 2, (await store.findEvent('r4'))!.seq), []);
    });

    withDb('typeCounts: events since a time by type, most frequent first', async ({ store }) => {
      const now = Date.now();
      await store.ingest([event(1, now - 10), event(2, now - 5), event(3, now), event(5, now - 2 * DAY)]);
      assert.deepEqual(await store.typeCounts(now - DAY), [
        { type: 'run.failed', count: 2, lastReceivedAt: now },
        { type: 'run.succeeded', count: 1, lastReceivedAt: now - 5 },
      ]);
    });

    withDb('prune: events past retention go in batches; those with deliveries waiting or finished lately stay', async ({ store, sql }) => {
      const now = Date.now();
      const old = Array.from({ length: PRUNE_BATCH + 50 }, (_, i) => event(i, now - 40 * DAY));
      await store.ingest(old);
      await store.ingest([event(9000, now - 40 * DAY), event(9001, now - DAY), event(9002, now - 40 * DAY)]);
      const claimed = await claimAll(store, now);
      await store.finish(
        claimed
          .filter((c) => c.eventPayload !== '{"id":"r9000"}')
          .map((c) => ({
            id: c.id,
            attempt: { deliveryId: c.id, attempt: 1, startedAt: now, durationMs: 1, outcome: 'delivered' as const, code: '200', error: null },
            status: 'delivered' as const,
            nextAttemptAt: null,
            reason: null,
          })),
      );
      await sql(
        `UPDATE deliveries SET updated_at = ? WHERE status = 'delivered' AND event_seq <> (SELECT seq FROM events WHERE event_id = 'r9002')`,
        now - 35 * DAY,
      );
      const config = { retentionMs: 30 * DAY } as RouterConfig;
      const retention = startRetention(store, () => config, pino({ level: 'silent' }));
      const pruned = await retention.runOnce();
      retention.stop();
      assert.equal(pruned, PRUNE_BATCH + 50);
      assert.equal(await store.findEvent('r0'), null);
      assert.ok(await store.findEvent('r9000'), 'kept: its delivery is still pending');
      assert.ok(await store.findEvent('r9001'), 'kept: younger than retention');
      assert.ok(await store.findEvent('r9002'), 'kept: its delivery finished within the retention period');
      const [orphans] = await sql('SELECT count(*) AS n FROM attempts WHERE delivery_id NOT IN (SELECT id FROM deliveries)');
      assert.equal(Number(orphans!.n), 0, 'attempts of pruned deliveries are gone too');
      const [kept] = await sql('SELECT count(*) AS n FROM attempts');
      assert.equal(Number(kept!.n), 2, "r9001's and r9002's attempts are kept");
    });

    withDb('prune: a retention under an hour keeps the last hour (max_per_hour counts it)', async ({ store, sql }) => {
      const now = Date.now();
      await store.ingest([event(1, now - 10 * 60_000), event(2, now - 2 * 3600_000)]);
      const claimed = await claimAll(store, now);
      await store.finish(
        claimed.map((c) => ({
          id: c.id,
          attempt: { deliveryId: c.id, attempt: 1, startedAt: now, durationMs: 1, outcome: 'delivered' as const, code: '200', error: null },
          status: 'delivered' as const,
          nextAttemptAt: null,
          reason: null,
        })),
      );
      await sql(`UPDATE deliveries SET updated_at = (SELECT received_at FROM events WHERE seq = deliveries.event_seq)`);
      // `retention: 1s` as a rules file says it (check warns): the hour is kept all the same.
      const { config } = loadRulesText(
        'version: 1\nretention: 1s\ndestinations:\n  hook: { type: webhook, url: "http://127.0.0.1:1/x" }\nrules: []\n',
        'rules.yaml',
        {},
        { examples: false },
      );
      const retention = startRetention(store, () => config!, pino({ level: 'silent' }));
      assert.equal(await retention.runOnce(), 1);
      retention.stop();
      assert.ok(await store.findEvent('r1'), 'kept: within the last hour');
      assert.equal(await store.findEvent('r2'), null, 'pruned: past the hour');
    });

    withDb(
      'grouping: the opener goes alone (wait 0), the rest are gathered and flushed once into one digest; a quiet interval closes the group',
      async ({ store, another }) => {
        const other = another();
        const now = Date.now();
        const g = { key: '["wf_a"]', values: { 'data.workflowId': 'wf_a' }, waitMs: 0, intervalMs: 1_000 };
        // From two processes, alternately: the group is one whichever received the event.
        for (let i = 0; i < 6; i++) await (i % 2 ? other : store).ingest([grouped(i, now + i, g)]);
        const opener = await store.listDeliveries({ limit: 10 });
        assert.deepEqual(
          opener.map((d) => [d.eventCount, d.status]),
          [[1, 'pending']],
          'one notification at once, the rest gathered',
        );
        const e3 = (await store.findEvent('g3'))!;
        const [waiting] = await store.gatheredFor(e3.seq);
        assert.deepEqual([waiting!.deliveryId, waiting!.flushAt, waiting!.group], [null, now + 1_000, { 'data.workflowId': 'wf_a' }]);
        assert.deepEqual(await store.flushGroups(now + 999, 10), [], 'not due yet');
        // Both processes flush at once: one digest, never two.
        const [a, b] = await Promise.all([store.flushGroups(now + 1_000, 10), other.flushGroups(now + 1_000, 10)]);
        const made = [...a, ...b];
        assert.equal(made.length, 1, JSON.stringify(made));
        assert.deepEqual({ ...made[0]!, deliveryId: undefined }, { deliveryId: undefined, rule: 'all', destination: 'hook', eventCount: 5 });
        assert.deepEqual(await store.flushGroups(now + 5_000, 10), [], 'flushed once');
        const carried = (await store.notificationEvents(made[0]!.deliveryId, 3))!;
        assert.equal(carried.count, 5, 'the count is exact past the limit');
        assert.deepEqual(
          carried.events.map((e) => e.eventId),
          ['g1', 'g2', 'g3'],
          'oldest first',
        );
        assert.deepEqual(carried.group, { 'data.workflowId': 'wf_a' });
        // The pages past the listed ones, as the send-time silence check reads them.
        const page = (after: number) => store.carriedAfter(made[0]!.deliveryId, after, 2);
        const [p1, p2] = [await page(carried.events.at(-1)!.seq), await page((await store.findEvent('g4'))!.seq)];
        assert.deepEqual([p1.map((e) => e.eventId), p2.map((e) => e.eventId)], [['g4', 'g5'], ['g5']]);
        assert.deepEqual(await page((await store.findEvent('g5'))!.seq), [], 'the last page is empty');
        assert.equal(await store.notificationEvents(opener[0]!.id, 3), null, 'the opener carries its own event');
        const digest = (await store.getDelivery(made[0]!.deliveryId))!;
        assert.deepEqual([digest.eventCount, digest.status, digest.eventSeq], [5, 'pending', (await store.findEvent('g1'))!.seq]);
        assert.equal((await store.gatheredFor(e3.seq))[0]!.deliveryId, digest.id);
        assert.deepEqual(
          (await store.deliveriesForEvent(e3.seq)).map((d) => d.id),
          [digest.id],
          'an event lists the digest that carried it',
        );
        // Within the interval of that digest: gathered again, due at its end.
        await other.ingest([grouped(10, now + 1_500, g)]);
        assert.deepEqual(
          (await store.gatheredFor((await store.findEvent('g10'))!.seq)).map((x) => x.flushAt),
          [now + 2_000],
        );
        assert.deepEqual(
          (await store.flushGroups(now + 2_000, 10)).map((f) => f.eventCount),
          [1],
        );
        // An interval with nothing: the due group is only cleared; the next event opens it again.
        assert.deepEqual(await store.flushGroups(now + 9_000, 10), []);
        await store.ingest([grouped(20, now + 10_000, g)]);
        const opened = await store.deliveriesForEvent((await store.findEvent('g20'))!.seq);
        assert.deepEqual(
          opened.map((d) => d.eventCount),
          [1],
          'a quiet interval closed the group: the next event goes alone',
        );
      },
    );

    withDb('grouping with wait: the first burst is gathered into one; two groups stay apart; silenced ones are never gathered', async ({ store }) => {
      const now = Date.now();
      const g = (k: string) => ({ key: JSON.stringify([k]), values: { 'data.workflowId': k }, waitMs: 500, intervalMs: 1_000 });
      await store.ingest([
        grouped(1, now, g('wf_a')),
        grouped(2, now + 1, g('wf_b')),
        grouped(3, now + 2, g('wf_a')),
        grouped(4, now + 3, g('wf_a'), 'silenced'),
      ]);
      const silenced = await store.listDeliveries({ status: 'silenced', limit: 10 });
      assert.deepEqual(
        silenced.map((d) => d.reason),
        ['silenced by s1'],
      );
      assert.deepEqual(await store.gatheredFor((await store.findEvent('g4'))!.seq), []);
      assert.equal((await store.listDeliveries({ status: 'pending', limit: 10 })).length, 0, 'all waiting for the wait');
      const made = await store.flushGroups(now + 501, 10);
      assert.deepEqual(made.map((m) => m.eventCount).sort(), [1, 2]);
      const byId = new Map(made.map((m) => [m.eventCount, m.deliveryId]));
      assert.deepEqual(
        (await store.notificationEvents(byId.get(2)!, 10))!.events.map((e) => e.eventId),
        ['g1', 'g3'],
      );
      assert.equal(await store.notificationEvents(byId.get(1)!, 10), null, 'a group of one is a plain notification');
    });

    withDb('prune keeps an event still waiting in a group, and removes gathered rows with their events', async ({ store, sql }) => {
      const now = Date.now();
      const g = { key: '["x"]', values: {}, waitMs: 0, intervalMs: 60 * DAY };
      await store.ingest([grouped(1, now - 40 * DAY, g), grouped(2, now - 40 * DAY + 1, g)]);
      await killAll(store, now);
      await sql(`UPDATE deliveries SET updated_at = ?`, now - 35 * DAY);
      assert.equal(await store.prune(now - 30 * DAY, 100), 1, 'the opener goes; the gathered one waits');
      assert.equal(await store.findEvent('g1'), null);
      assert.ok(await store.findEvent('g2'));
      const [made] = await store.flushGroups(now + 60 * DAY, 10);
      assert.ok(made, 'still flushed');
      await killAll(store, now + 60 * DAY);
      await sql(`UPDATE deliveries SET updated_at = ?`, now - 35 * DAY);
      assert.equal(await store.prune(now - 30 * DAY, 100), 1);
      const [left] = await sql('SELECT count(*) AS n FROM group_events');
      assert.equal(Number(left!.n), 0, 'gathered rows go with their events');
    });

    withDb('silences: at most maxActive active at once, exact when two processes add at once; ended ones do not count', async ({ store, another }) => {
      const other = another();
      const now = Date.now();
      const s = (i: number, endsAt = now + HOUR): NewSilence => ({
        rule: 'all',
        destination: null,
        matchers: {},
        comment: `s${i}`,
        createdBy: '',
        createdAt: now,
        endsAt,
      });
      const ended = await store.addSilence(s(0, now - 1), 5);
      assert.ok(ended.ok, 'an ended one is stored (and does not count)');
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? other : store).addSilence(s(i + 1), 5)));
      assert.equal(results.filter((r) => r.ok).length, 5);
      assert.deepEqual(
        results.filter((r) => !r.ok),
        Array.from({ length: 7 }, () => ({ ok: false, code: 'too_many_active', active: 5 })),
      );
      assert.equal((await store.listSilences({ now, all: false, limit: 100 })).length, 5);
    });

    withDb('silences: add, list active or all, expire once; retry of a silenced delivery puts it back to pending, unallowed', async ({ store, another }) => {
      const now = Date.now();
      const base = { rule: 'all', destination: null, matchers: { 'data.workflowId': ['wf_*'] }, comment: 'maintenance', createdBy: 'ana', createdAt: now };
      const added = async (st: Store, s: NewSilence) => {
        const r = await st.addSilence(s, 1000);
        assert.ok(r.ok);
        return r.silence;
      };
      const a = await added(store, { ...base, endsAt: now + HOUR });
      const b = await added(another(), { ...base, rule: null, destination: 'hook', createdAt: now + 1, endsAt: now + 2 * HOUR });
      assert.deepEqual(await store.listSilences({ now, all: false, limit: 10 }), [b, a], 'newest first, written by any process');
      const ended = await store.expireSilence(a.id, now + 10);
      assert.deepEqual(ended, { silence: { ...a, endsAt: now + 10 }, ended: true });
      assert.deepEqual((await store.expireSilence(a.id, now + 20))!.ended, false, 'ended already: left as it was');
      assert.equal((await store.expireSilence(a.id, now + 20))!.silence.endsAt, now + 10);
      assert.equal(await store.expireSilence('no-such-id', now), null);
      assert.deepEqual(
        (await store.listSilences({ now: now + 11, all: false, limit: 10 })).map((s) => s.id),
        [b.id],
      );
      assert.deepEqual(
        (await store.listSilences({ now: now + 11, all: true, limit: 10 })).map((s) => s.id),
        [b.id, a.id],
      );

      await store.ingest([
        { ...paid(1, now), plan: () => [{ rule: 'pay', destination: 'payout', privileged: true, status: 'silenced', reason: 'silenced by x' }] },
        event(2, now),
      ]);
      const [s] = await store.listDeliveries({ status: 'silenced', limit: 10 });
      assert.deepEqual([s!.reason, s!.nextAttemptAt], ['silenced by x', null]);
      assert.equal((await claimAll(store, now + 1)).filter((c) => c.id === s!.id).length, 0, 'a silenced delivery is never claimed');
      assert.equal(await store.allowedSince('pay', 'payout', now - HOUR), 0, 'a silenced privileged delivery is not counted');
      const pending = (await store.listDeliveries({ status: 'pending', limit: 10 }))[0]!;
      assert.deepEqual(await store.requeueSilenced([pending.id, s!.id, 'nope'], now + 5), [s!.id], 'silenced ones only');
      const back = (await store.getDelivery(s!.id))!;
      assert.deepEqual([back.status, back.privileged, back.nextAttemptAt, back.reason], ['pending', false, now + 5, null]);
      assert.equal(await store.allowedSince('pay', 'payout', now - HOUR), 0, 'decided afresh at send time');
      // At send time (claimed) a silence holds it again: recorded silenced, not sent.
      assert.ok((await claimAll(store, now + 5)).some((c) => c.id === s!.id));
      await store.finish([{ id: s!.id, attempt: null, status: 'silenced', nextAttemptAt: null, reason: 'silenced by y' }]);
      assert.equal((await store.getDelivery(s!.id))!.status, 'silenced');
      assert.deepEqual(await store.requeueSilenced([], now), []);
    });

    withDb('rules versions: a text kept once under its hash, read by any process; an unknown hash is null', async ({ store, another }) => {
      const now = Date.now();
      assert.equal(await store.rulesVersion('h1'), null);
      await store.saveRulesVersion('h1', 'version: 1\nrules: []\n', now);
      await store.saveRulesVersion('h1', 'something else', now + 1); // a version already kept is not replaced
      await store.saveRulesVersion('h2', 'version: 1\n# two\n', now + 2);
      const other = another();
      assert.equal(await other.rulesVersion('h1'), 'version: 1\nrules: []\n');
      assert.equal(await other.rulesVersion('h2'), 'version: 1\n# two\n');
      assert.equal(await other.rulesVersion('h3'), null);
    });

    withDb('ruleMatches counts the matched rules of decisions that list only those (matchedOnly) and of older full ones', async ({ store }) => {
      const now = Date.now();
      const decided = (i: number, routing: object): IngestItem => {
        const e = event(i, now);
        return { ...e, event: { ...e.event, routing: JSON.stringify(routing) } };
      };
      const matched = (rule: string) => ({ rule, matched: true, reason: 'type is run.failed' });
      await store.ingest([
        decided(1, { rules: 'h1', outcomes: [matched('a'), matched('b')], skipped: 0, stoppedBy: null, matchedOnly: true }),
        decided(2, { rules: 'h1', outcomes: [matched('a')], skipped: 0, stoppedBy: null, matchedOnly: true }),
        decided(3, { rules: 'h0', outcomes: [matched('b'), { rule: 'c', matched: false, reason: 'type does not match' }], skipped: 0, stoppedBy: null }),
        decided(4, { rules: 'h1', outcomes: [], skipped: 0, stoppedBy: null, matchedOnly: true }),
      ]);
      assert.deepEqual(await store.ruleMatches(now - DAY, 100), { events: 4, counts: { a: 2, b: 2 } });
    });

    withDb('writable, stats and the server heartbeat', async ({ store }) => {
      const now = Date.now();
      assert.equal(await store.writable(), true);
      assert.deepEqual(await store.stats(now), { queueDepth: 0, oldestDueAgeSeconds: 0 });
      assert.deepEqual(await store.acquireServerLock(process.pid, 'host-a', now, { version: '1.2.3', rulesHash: 'abc' }), { ok: true });
      await store.heartbeat(process.pid, now + 5, { version: '1.2.3', rulesHash: 'def' });
      const [r] = await store.replicas();
      assert.deepEqual(
        { ...r, host: undefined },
        { host: undefined, pid: process.pid, version: '1.2.3', rulesHash: 'def', startedAt: now, lastSeenAt: now + 5 },
      );
      await store.releaseServerLock(process.pid);
      assert.deepEqual(await store.replicas(), []);
    });
  });
}

describe('store contract: what differs by engine', () => {
  test('SQLite: one server per database; PostgreSQL: every replica has its own heartbeat row', async () => {
    const [sqlite, postgres] = await Promise.all(engines.map((e) => e.open()));
    try {
      const now = Date.now();
      const s2 = sqlite!.another();
      assert.deepEqual(await sqlite!.store.acquireServerLock(process.pid, 'h', now), { ok: true });
      const refused = await s2.acquireServerLock(process.pid + 1, 'other-host', now);
      assert.equal(refused.ok, false);
      const p2 = postgres!.another();
      assert.deepEqual(await postgres!.store.acquireServerLock(process.pid, 'h', now), { ok: true });
      assert.deepEqual(await p2.acquireServerLock(process.pid, 'h', now), { ok: true });
      assert.equal((await postgres!.store.replicas()).length, 2);
    } finally {
      await sqlite!.close();
      await postgres!.close();
    }
  });

  test("PostgreSQL: releaseLeases takes back this replica's leases only; another replica's lapse", async () => {
    const db = await engines[1]!.open();
    try {
      const other = db.another();
      const now = Date.now();
      await db.store.ingest([event(1, now), event(2, now)]);
      const req = (limit: number) => ({ now, leaseMs: 60_000, room: new Map<string, number>(), defaultRoom: 10, limit });
      assert.equal((await db.store.claimDue(req(1))).length, 1);
      assert.equal((await other.claimDue(req(1))).length, 1);
      assert.equal(await db.store.releaseLeases(), 1, 'only its own');
      assert.equal((await other.claimDue(req(10))).length, 1, "its own, freed; the other replica's still leased");
      assert.equal((await db.store.claimDue({ ...req(10), now: now + 61_000 })).length, 2, 'every lease lapses');
    } finally {
      await db.close();
    }
  });

  test('PostgreSQL: a plan that reads a count it did not declare fails loudly, and nothing is stored', async () => {
    const db = await engines[1]!.open();
    try {
      const item = { ...paid(1, Date.now()), counted: [] };
      const [out] = await db.store.ingest([item]);
      assert.equal(out!.status, 'failed');
      assert.equal(await db.store.findEvent('p1'), null);
    } finally {
      await db.close();
    }
  });
});
