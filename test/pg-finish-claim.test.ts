// PostgresStore.finishAndClaim on a real PostgreSQL server: the outcomes of a batch of sends are
// recorded and the next due deliveries claimed in one statement, with exactly the effect of
// finish(updates) followed by claimDue(claim): attempts written, outcomes stored, claims leased to
// this replica within each destination's room and the limit, nothing another replica holds (by
// its lease or by a row lock) taken, and a finished delivery already due again claimed as a claim
// after the finish would claim it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres.js';
import type { ClaimRequest, ClaimedDelivery, DeliveryUpdate, IngestItem } from '../src/store/store.js';
import { ingestItem } from './helpers/ingest.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { queryDb } from './helpers/replicas.js';

let server: PostgresServer;
before(async () => {
  server = await startPostgres();
});
after(async () => {
  await server?.stop();
});

const opened: PostgresStore[] = [];
async function fresh(replicaId = 'replica-a'): Promise<{ url: string; store: PostgresStore }> {
  const url = await server.createDatabase();
  const store = new PostgresStore(url, { poolMax: 2, replicaId });
  opened.push(store);
  return { url, store };
}
after(async () => {
  for (const s of opened) await s.close();
});

const event = (i: number, at: number, destination: string): IngestItem => ingestItem(`e${i}`, at, { destinations: [destination] });

const claim = (now: number, o: Partial<ClaimRequest> = {}): ClaimRequest => ({ now, leaseMs: 60_000, room: new Map(), defaultRoom: 100, limit: 100, ...o });

const sent = (c: ClaimedDelivery, at: number, ok: boolean, next: number | null = null): DeliveryUpdate => ({
  id: c.id,
  attempt: {
    deliveryId: c.id,
    attempt: c.attempts + 1,
    startedAt: at,
    durationMs: 7,
    outcome: ok ? 'delivered' : 'retry',
    code: ok ? '200' : '503',
    error: ok ? null : 'HTTP 503',
  },
  status: ok ? 'delivered' : 'failed',
  nextAttemptAt: ok ? null : next,
  reason: ok ? null : 'HTTP 503',
});

const rows = (url: string, sql: string, params: unknown[] = []) => queryDb(url, sql, params);

/** The event id of a claimed delivery (its key without the kind). */
const eventOf = (c: ClaimedDelivery) => (JSON.parse(c.eventPayload) as { id: string }).id;

test('outcomes and attempts are recorded, and the due deliveries claimed, leased to this replica', async () => {
  const { url, store } = await fresh();
  const now = Date.now();
  await store.ingest([event(1, now, 'hook'), event(2, now, 'hook')]);
  const first = await store.claimDue(claim(now, { limit: 1 }));
  assert.equal(first.length, 1);
  const claimed = await store.finishAndClaim([sent(first[0]!, now, true)], claim(now + 10));
  assert.equal(claimed.length, 1, 'the other delivery');
  assert.notEqual(claimed[0]!.id, first[0]!.id);
  assert.equal(claimed[0]!.eventType, 'run.failed');
  assert.match(claimed[0]!.eventPayload, /"id":"e[12]"/);

  const done = (await store.getDelivery(first[0]!.id))!;
  assert.deepEqual([done.status, done.attempts, done.roundAttempts], ['delivered', 1, 1]);
  assert.deepEqual(
    (await store.attemptsFor(first[0]!.id)).map((a) => [a.attempt, a.outcome, a.code, a.durationMs]),
    [[1, 'delivered', '200', 7]],
  );
  const [lease] = await rows(url, 'SELECT lease_owner, lease_until FROM deliveries WHERE id = $1', [claimed[0]!.id]);
  assert.deepEqual(lease, { lease_owner: 'replica-a', lease_until: String(now + 10 + 60_000) });
  const [freed] = await rows(url, 'SELECT lease_owner, lease_until FROM deliveries WHERE id = $1', [first[0]!.id]);
  assert.deepEqual(freed, { lease_owner: null, lease_until: null }, "the finished delivery's lease is released");
  assert.equal((await store.claimDue(claim(now + 20))).length, 0, 'the claimed one stays leased');
});

test('each destination gets at most its room (defaultRoom for those not listed), and the limit holds in all', async () => {
  const { store } = await fresh();
  const now = Date.now();
  await store.ingest([
    ...Array.from({ length: 10 }, (_, i) => event(i, now, 'busy')),
    ...Array.from({ length: 4 }, (_, i) => event(100 + i, now, 'quiet')),
    ...Array.from({ length: 4 }, (_, i) => event(200 + i, now, 'unlisted')),
  ]);
  const req = claim(now + 1, {
    room: new Map([
      ['busy', 3],
      ['quiet', 8],
    ]),
    defaultRoom: 1,
    limit: 100,
  });
  const got = await store.finishAndClaim([], req);
  const by = (d: string) => got.filter((c) => c.destination === d).length;
  assert.deepEqual([by('busy'), by('quiet'), by('unlisted')], [3, 4, 1]);

  const limited = await store.finishAndClaim([], { ...req, room: new Map([['busy', 5]]), defaultRoom: 5, limit: 4 });
  assert.equal(limited.length, 4, 'the limit, over all destinations');
  const none = await store.finishAndClaim([], { ...req, room: new Map([['busy', 0]]), defaultRoom: 0 });
  assert.equal(none.length, 0, 'no room anywhere: nothing claimed');
});

test('what another replica holds is not claimed: its lease, or a row it is claiming right now (no wait)', async () => {
  const { url, store } = await fresh();
  const other = new PostgresStore(url, { poolMax: 2, replicaId: 'replica-b' });
  opened.push(other);
  const now = Date.now();
  await store.ingest(Array.from({ length: 4 }, (_, i) => event(i, now, 'hook')));
  const theirs = await other.claimDue(claim(now, { limit: 1 }));
  assert.equal(theirs.length, 1);
  // A third claimer in the middle of its transaction: the row it locked is skipped, not waited for.
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('BEGIN');
    const [locked] = (await c.query(`SELECT id FROM deliveries WHERE lease_owner IS NULL ORDER BY id LIMIT 1 FOR UPDATE`)).rows as { id: string }[];
    const started = Date.now();
    const got = await store.finishAndClaim([], claim(now + 1));
    assert.ok(Date.now() - started < 5_000, 'did not wait for the locked row');
    const ids = got.map((g) => g.id);
    assert.equal(got.length, 2);
    assert.ok(!ids.includes(theirs[0]!.id), "the other replica's lease");
    assert.ok(!ids.includes(locked!.id), 'the row locked by another transaction');
    await c.query('ROLLBACK');
  } finally {
    await c.end();
  }
  assert.equal((await store.finishAndClaim([], claim(now + 2))).length, 1, 'the row no longer locked');
  const lapsed = await store.finishAndClaim([], claim(now + 61_000));
  assert.ok(
    lapsed.some((g) => g.id === theirs[0]!.id),
    "the other replica's lease, lapsed",
  );
});

test('a finished delivery due again is claimed in the same call, as a claim after the finish would; one not due is not', async () => {
  const { url, store } = await fresh();
  const now = Date.now();
  await store.ingest([event(1, now, 'hook'), event(2, now, 'hook'), event(3, now, 'hook')]);
  const [a, b, c] = await store.claimDue(claim(now));
  const got = await store.finishAndClaim(
    [sent(a!, now, false, now + 5), sent(b!, now, false, now + 60_000), sent(c!, now, true)],
    claim(now + 10, { leaseMs: 30_000 }),
  );
  assert.deepEqual(
    got.map((g) => g.id),
    [a!.id],
  );
  // Returned as it now is: its attempt counted, its outcome recorded, leased.
  assert.deepEqual([got[0]!.status, got[0]!.attempts, got[0]!.reason], ['failed', 1, 'HTTP 503']);
  const lease = async (id: string) => (await rows(url, 'SELECT lease_owner, lease_until FROM deliveries WHERE id = $1', [id]))[0];
  assert.deepEqual(await lease(a!.id), { lease_owner: 'replica-a', lease_until: String(now + 10 + 30_000) });
  assert.deepEqual(
    (await store.attemptsFor(a!.id)).map((x) => x.outcome),
    ['retry'],
  );
  const later = (await store.getDelivery(b!.id))!;
  assert.deepEqual([later.status, later.nextAttemptAt], ['failed', now + 60_000]);
  assert.deepEqual(await lease(b!.id), { lease_owner: null, lease_until: null });
  // The claim counts the finished one against the room: with room 1, only the earliest due.
  const { store: s2 } = await fresh();
  await s2.ingest([event(1, now, 'hook'), event(2, now + 1, 'hook')]);
  const [x] = await s2.claimDue(claim(now + 1, { limit: 1 }));
  const one = await s2.finishAndClaim([sent(x!, now, false, now - 5)], claim(now + 10, { defaultRoom: 1 }));
  assert.deepEqual(
    one.map((g) => g.id),
    [x!.id],
    'due before the other: first in line',
  );
});

test('the same calls give the same database as finish followed by claimDue', async () => {
  const now = Date.now();
  const dests = ['a', 'b', 'c'];
  const setup = async () => {
    const { url, store } = await fresh();
    await store.ingest(Array.from({ length: 30 }, (_, i) => event(i, now + (i % 7), dests[i % 3]!)));
    return { url, store };
  };
  const one = await setup();
  const two = await setup();
  // The same deliveries are claimed and finished the same way in both (by their event), through
  // rounds in which finished deliveries become due again, rooms vary and the limit bites.
  const state = async (url: string) =>
    (
      await rows(
        url,
        `SELECT e.event_id, d.destination, d.status, d.attempts, d.round_attempts, d.next_attempt_at, d.reason, d.lease_owner, d.lease_until,
                (SELECT count(*) FROM attempts a WHERE a.delivery_id = d.id) AS tries
         FROM deliveries d JOIN events e ON e.seq = d.event_seq ORDER BY e.event_id`,
      )
    ).map((r) => JSON.stringify(r));
  let heldOne = await one.store.claimDue(claim(now + 10, { limit: 12 }));
  let heldTwo = await two.store.claimDue(claim(now + 10, { limit: 12 }));
  assert.deepEqual(heldOne.map(eventOf).sort(), heldTwo.map(eventOf).sort());
  for (let round = 0; round < 6; round++) {
    const t = now + 100 * (round + 1);
    const outcome = (c: ClaimedDelivery, i: number): DeliveryUpdate => (i % 3 === 0 ? sent(c, t, true) : sent(c, t, false, i % 3 === 1 ? t - 1 : t + 100_000));
    const byEvent = (list: ClaimedDelivery[]) => [...list].sort((p, q) => (eventOf(p) < eventOf(q) ? -1 : 1));
    const req = claim(t, {
      room: new Map([
        ['a', round % 3],
        ['b', 2],
      ]),
      defaultRoom: 3,
      limit: 2 + round,
    });
    await one.store.finish(byEvent(heldOne).map(outcome));
    heldOne = await one.store.claimDue(req);
    heldTwo = await two.store.finishAndClaim(byEvent(heldTwo).map(outcome), req);
    assert.deepEqual(heldTwo.map(eventOf).sort(), heldOne.map(eventOf).sort(), `round ${round}: the same deliveries claimed`);
    assert.deepEqual(await state(two.url), await state(one.url), `round ${round}: the same rows`);
  }
});

test('the bookkeeping commit setting ends with the call: the connection keeps its own', async () => {
  const url = await server.createDatabase();
  // One connection: the call and the checks around it share it.
  const store = new PostgresStore(url, { poolMax: 1, replicaId: 'replica-a' });
  opened.push(store);
  const now = Date.now();
  await store.ingest([event(1, now, 'hook')]);
  const [c] = await store.claimDue(claim(now));
  const pool = (store as unknown as { pool: pg.Pool }).pool;
  const setting = async () => ((await pool.query('SHOW synchronous_commit')).rows[0] as { synchronous_commit: string }).synchronous_commit;
  // The test server runs with synchronous_commit off; the session asks for the durable default.
  await pool.query('SET synchronous_commit = on');
  await store.finishAndClaim([sent(c!, now, true)], claim(now + 1));
  assert.equal(await setting(), 'on', 'set_config(..., true) must not outlive its transaction');
  await store.finish([]);
  await store.claimDue(claim(now + 2));
  assert.equal(await setting(), 'on');
});

test('a column a newer replica adds to deliveries or events does not break the statements this one prepared', async () => {
  const url = await server.createDatabase();
  // One connection: the statements prepared before the change are the ones run after it.
  const store = new PostgresStore(url, { poolMax: 1, replicaId: 'replica-a' });
  opened.push(store);
  const now = Date.now();
  await store.ingest([event(1, now, 'hook')]);
  const [c] = await store.finishAndClaim([], claim(now));
  await rows(url, 'ALTER TABLE deliveries ADD COLUMN added_later integer');
  await rows(url, 'ALTER TABLE events ADD COLUMN added_later integer');
  // A statement whose rows had the table's columns would fail now, on this connection, every time
  // ("cached plan must not change result type").
  await store.ingest([event(2, now, 'hook')]);
  const next = await store.finishAndClaim([sent(c!, now, true)], claim(now + 1));
  assert.deepEqual(next.map(eventOf), ['e2']);
  await store.finish([sent(next[0]!, now, true)]);
  assert.equal((await store.getDelivery(next[0]!.id))!.status, 'delivered');
});

test("a late outcome from a replica whose lease lapsed does not overwrite the new holder's", async () => {
  const { url, store: a } = await fresh('replica-a');
  const b = new PostgresStore(url, { poolMax: 2, replicaId: 'replica-b' });
  opened.push(b);
  const now = Date.now();
  await a.ingest([event(1, now, 'hook')]);
  const [byA] = await a.claimDue(claim(now, { leaseMs: 1_000 }));
  // A's lease lapses (a stalled connection, say); B claims it and delivers it.
  const [byB] = await b.claimDue(claim(now + 2_000));
  assert.equal(byB!.id, byA!.id);
  await b.finish([sent(byB!, now + 2_000, true)]);
  // A's outcome comes in late: a failure.
  await a.finish([sent(byA!, now + 3_000, false, now + 10_000)]);
  const d = (await a.getDelivery(byA!.id))!;
  assert.deepEqual([d.status, d.attempts], ['delivered', 1], 'B’s outcome stands');
  // A's own outcome on a row it still holds is recorded as always (the other tests).
});
