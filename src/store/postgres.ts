// The PostgreSQL engine (node-postgres), for several replicas sharing one database. Every replica
// (and every operating command) talks to the same tables; what keeps them correct together:
//
// - dedupe: INSERT … ON CONFLICT (key) DO NOTHING; a second replica inserting the same key waits
//   for the first one's transaction and then sees a duplicate. Rows of a batch are inserted in key
//   order, so two batches never wait on each other crosswise.
// - max_per_hour: the counts a plan or an admission reads are taken under a transaction-scoped
//   advisory lock per (rule, destination), locked in one sorted statement before the first count
//   (store.ts, Store.admit). The callbacks stay synchronous: the counts are read up front.
// - claims: FOR UPDATE SKIP LOCKED with a lease (lease_until, lease_owner); a lease whose holder
//   died lapses and any replica takes the delivery. A restarted replica releases only its own.
// - migrations and retention: advisory locks (migrations once when many start; pruning by one).
// - wake-ups: commits that create due deliveries NOTIFY; every replica LISTENs (see listen()).
//
// Errors reach callers as StoreUnavailableError with the driver's code and no URL or password.
import { hostname } from 'node:os';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { describeDb, redact } from './db-url.js';
import { PG_MIGRATIONS } from './pg-migrations.js';
import {
  StoreUnavailableError,
  type Activity,
  type AdmitResult,
  type AdmitVerdict,
  type ClaimRequest,
  type ClaimedDelivery,
  type CountedPair,
  type DeliveryQuery,
  type DeliveryStatus,
  type DeliveryUpdate,
  type EventQuery,
  type FlushedNotification,
  type GatheredEvent,
  type IngestItem,
  type IngestOutcome,
  type NewDelivery,
  type NewEvent,
  type NewSilence,
  type NotificationEvents,
  type PlanCounts,
  type ReplicaInfo,
  type Store,
  type StoredAttempt,
  type StoredDelivery,
  type StoredEvent,
  type StoredReplica,
  type SilenceStored,
  type StoredSilence,
  type TypeCount,
  UNCOUNTED,
} from './store.js';
import { type Row, toAttempt, toDelivery, toEvent, toSilence } from './rows.js';
import type { GroupPlacement, PlannedDelivery } from '../event/model.js';
import { PG_DEFAULTS } from './pg-defaults.js';

export interface PostgresOptions {
  /** Connections at most in this process's pool. */
  poolMax?: number;
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  /** Create or migrate the schema on first use (serve). Commands only use an existing one. */
  migrate?: boolean;
  /** Who holds this process's leases; default host:pid (a restarted container keeps its host). */
  replicaId?: string;
}

/** NOTIFY channel: deliveries were committed that may be due now. */
export const DUE_CHANNEL = 'b3os_router_due';

/** How far back the counts read for a plan reach: max_per_hour's one-hour window, with room. */
const COUNT_HORIZON_MS = 2 * 3600_000;

/** Errors of the connection or the server as a whole (not of one event): retrying event by event is futile. */
function connectionError(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  // 08: connection exception; 57P: operator intervention (shutdown); 53: insufficient resources.
  if (/^(08|57P|53)/.test(code) || /^E(CONN|PIPE|HOSTUNREACH|NETUNREACH|TIMEDOUT|AI_AGAIN|NOTFOUND)/.test(code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
    (err as Error)?.message ?? '',
  );
}

// bigint (int8) columns hold unix milliseconds and counts: well within a double.
const TYPES = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** The outcomes of one pass with its holes filled, in order, by those of the pass that followed. */
function merge(first: (IngestOutcome | undefined)[], then: IngestOutcome[]): IngestOutcome[] {
  let j = 0;
  return first.map((o) => o ?? then[j++]!);
}

/** New events as the column arrays of an `unnest(...)` insert ($1 … $9, in the events table's order). */
function eventColumns(ev: readonly NewEvent[]): unknown[][] {
  return [
    ev.map((e) => e.key),
    ev.map((e) => e.keyKind),
    ev.map((e) => e.eventId),
    ev.map((e) => e.runId),
    ev.map((e) => e.executionId),
    ev.map((e) => e.type),
    ev.map((e) => e.receivedAt),
    ev.map((e) => e.payload),
    ev.map((e) => e.routing),
  ];
}

/**
 * A statement of the hot path, prepared once per connection (by its name) and then only bound and
 * run: the server plans it once rather than on every batch (planning these was most of the
 * server's CPU per event).
 */
interface Prepared {
  name: string;
  text: string;
}
const prepared = (name: string, text: string): Prepared => ({ name: `b3os_${name}`, text });

/** Ingest's common case in one statement (PostgresStore.ingestSimple). */
const INGEST_ONE_STATEMENT = prepared(
  'ingest',
  `WITH input AS (
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[]) AS u(k, kk, eid, rid, xid, t, at, p, r)),
   ins AS (
     INSERT INTO events (key, key_kind, event_id, run_id, execution_id, type, received_at, last_seen_at, payload, routing)
     SELECT k, kk, eid, rid, xid, t, at, at, p, r FROM input ORDER BY k
     ON CONFLICT (key) DO NOTHING RETURNING seq, key),
   dup AS (
     UPDATE events e SET duplicates = e.duplicates + 1, last_seen_at = greatest(e.last_seen_at, i.at)
     FROM input i WHERE e.key = i.k AND e.key = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM ins WHERE ins.key = i.k)
     RETURNING e.seq, e.key),
   dl AS (
     INSERT INTO deliveries (id, event_seq, rule, destination, status, reason, privileged, next_attempt_at, created_at, updated_at, origin, allowed_at)
     SELECT d.id, ins.seq, d.rule, d.dest, d.status, d.reason, d.priv, CASE WHEN d.status = 'pending' THEN d.at END, d.at, d.at, 'ingest',
            CASE WHEN d.priv AND d.status = 'pending' THEN d.at END
     FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::boolean[], $17::bigint[]) AS d(k, id, rule, dest, status, reason, priv, at)
     JOIN ins ON ins.key = d.k
     RETURNING status)
   SELECT true AS fresh, seq, key, (SELECT count(pg_notify('${DUE_CHANNEL}', '')) FROM (SELECT 1 FROM dl WHERE status = 'pending' LIMIT 1) x) AS woke FROM ins
   UNION ALL SELECT false, seq, key, 0 FROM dup`,
);

/**
 * The columns a claim returns (what toDelivery reads), named: a prepared statement whose rows were
 * the table's columns would fail on every call, on every connection that prepared it, once a newer
 * replica's migration added a column ("cached plan must not change result type").
 */
const CLAIMED_COLUMNS = [
  'id',
  'event_seq',
  'rule',
  'destination',
  'status',
  'reason',
  'privileged',
  'attempts',
  'round_attempts',
  'next_attempt_at',
  'created_at',
  'updated_at',
  'origin',
  'event_count',
]
  .map((c) => `d.${c}`)
  .join(', ');

/**
 * Recording outcomes (finish) and claiming due deliveries (claimDue), either or both, in one
 * statement. Its parts see the table as it was before the statement, so what finish changes is
 * carried to the claim by hand, to claim exactly what a claim after the finish would: the finished
 * rows are left out of the table's side ($1) and enter as they will be (`again`: waiting, unleased),
 * and those claimed are leased by the finishing UPDATE itself (a row is updated once per statement).
 *
 * The claim, as SQLite's: each destination with deliveries waiting at most its room (from $17/$18,
 * else $19, never over $20), one indexed read each (a skip-scan finds the destinations), the
 * starting one rotating with $21, $20 in all; FOR UPDATE SKIP LOCKED leaves what another replica
 * is claiming to it.
 *
 * Outcomes and leases are bookkeeping, as on SQLite's synchronous=NORMAL connection: committed
 * with synchronous_commit off (set_config(..., true): this statement's transaction only). Losing
 * the last of them to a server crash only means a delivery is sent again, which at least once
 * allows; it saves a WAL flush per claim and per batch of sends, and the claims no longer queue
 * for the WAL behind ingest's commits. Ingest and admissions keep the server's setting. A call
 * always returns at least one row (the one that applies the setting); the claimed deliveries are
 * the rows with an event.
 */
const FINISH_CLAIM = prepared(
  'finish_claim',
  `WITH RECURSIVE
   u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::int[]) AS u(id, status, reason, next, counted)),
   att AS (
     INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, code, error)
     SELECT * FROM unnest($7::text[], $8::int[], $9::bigint[], $10::int[], $11::text[], $12::text[], $13::text[])),
   again AS (
     SELECT d.id, d.destination, u.next FROM u JOIN deliveries d ON d.id = u.id WHERE u.status IN ('pending', 'failed')),
   dests(d) AS (
     SELECT (SELECT min(destination) FROM deliveries WHERE status IN ('pending', 'failed') AND id <> ALL($1::text[]))
     UNION ALL
     SELECT (SELECT min(destination) FROM deliveries WHERE status IN ('pending', 'failed') AND destination > d AND id <> ALL($1::text[]))
     FROM dests WHERE d IS NOT NULL),
   waiting AS (
     SELECT d, row_number() OVER (ORDER BY d) - 1 AS i, count(*) OVER () AS n
     FROM (SELECT d FROM dests WHERE d IS NOT NULL UNION SELECT destination FROM again) x),
   wanted AS (
     SELECT w.d AS dest, least(coalesce(r.room, $19::int), $20::int) AS room, (w.i - $21::bigint % w.n + w.n) % w.n AS ord,
       coalesce(r.lease_until, $15::bigint) AS lease_until
     FROM waiting w LEFT JOIN unnest($17::text[], $18::int[], $22::bigint[]) AS r(dest, room, lease_until) ON r.dest = w.d),
   picked AS (
     SELECT p.id, p.fin, w.lease_until FROM (SELECT * FROM wanted WHERE room > 0 ORDER BY ord) w
     CROSS JOIN LATERAL (
       SELECT c.id, c.fin FROM (
         SELECT s.id, s.next_attempt_at AS next, false AS fin FROM (
           SELECT d.id, d.next_attempt_at FROM deliveries d
           WHERE d.destination = w.dest AND d.status IN ('pending', 'failed') AND d.next_attempt_at <= $14
             AND (d.lease_until IS NULL OR d.lease_until < $14) AND d.id <> ALL($1::text[])
           ORDER BY d.next_attempt_at LIMIT w.room
           FOR UPDATE OF d SKIP LOCKED) s
         UNION ALL
         SELECT a.id, a.next, true FROM again a WHERE a.destination = w.dest AND a.next <= $14) c
       ORDER BY c.next LIMIT w.room) p
     LIMIT $20::int),
   fin AS (
     UPDATE deliveries d SET status = u.status, reason = u.reason, attempts = d.attempts + u.counted,
       round_attempts = d.round_attempts + u.counted, next_attempt_at = u.next, updated_at = $6,
       lease_until = CASE WHEN p.id IS NULL THEN NULL ELSE p.lease_until END, lease_owner = CASE WHEN p.id IS NULL THEN NULL ELSE $16::text END
     FROM u LEFT JOIN picked p ON p.id = u.id AND p.fin
     -- Only a row this replica still holds: a late outcome from a lease that lapsed must not
     -- overwrite what the replica that took the row over recorded (or its requeue, or a retry).
     WHERE d.id = u.id AND d.id = ANY($1::text[]) AND d.lease_owner = $16::text
     RETURNING ${CLAIMED_COLUMNS}, p.id IS NOT NULL AS claimed),
   leased AS (
     UPDATE deliveries d SET lease_until = p.lease_until, lease_owner = $16::text FROM picked p WHERE d.id = p.id AND NOT p.fin
     RETURNING ${CLAIMED_COLUMNS}, true AS claimed)
   -- Each event by its key (LATERAL): never a scan of the events table, whatever the estimates.
   SELECT l.*, e.payload AS event_payload, e.type AS event_type
   FROM (SELECT set_config('synchronous_commit', 'off', true) AS bookkeeping) s
   LEFT JOIN (SELECT * FROM leased UNION ALL SELECT * FROM fin WHERE claimed) l ON true
   LEFT JOIN LATERAL (SELECT payload, type FROM events WHERE seq = l.event_seq) e ON true`,
);

/** A delivery row to insert: planned (silenced ones too), or a group's notification (with its count). */
type DeliveryRow = Omit<NewDelivery, 'status'> & { status: PlannedDelivery['status']; id?: string; eventCount?: number; groupId?: string | null };

/** A grouped delivery of a new event, waiting for its group's row lock (Store.ingest). */
interface Joining {
  d: DeliveryRow;
  g: GroupPlacement;
  now: number;
}

const pairKey = (rule: string, destination: string) => `${rule}\n${destination}`;

/**
 * The counts a synchronous plan reads, loaded under the pairs' locks: the allowance times of each
 * locked pair since `from`, plus those made earlier in the same transaction.
 */
class LockedCounts implements PlanCounts {
  private readonly times = new Map<string, number[]>();
  constructor(
    private readonly from: number,
    pairs: Iterable<string>,
  ) {
    for (const k of pairs) this.times.set(k, []);
  }
  record(rule: string, destination: string, at: number): void {
    this.times.get(pairKey(rule, destination))?.push(at);
  }
  /** A delivery's earlier allowance replaced by a new one (a dead delivery admitted again). */
  replace(rule: string, destination: string, old: number | null, at: number): void {
    const t = this.times.get(pairKey(rule, destination));
    if (!t) return;
    const i = old === null ? -1 : t.indexOf(old);
    if (i >= 0) t.splice(i, 1);
    t.push(at);
  }
  allowedSince(rule: string, destination: string, since: number): number {
    const t = this.times.get(pairKey(rule, destination));
    if (!t) throw new Error(`the max_per_hour count of (${rule}, ${destination}) was read without its lock: list the pair in \`counted\``);
    if (since < this.from) throw new Error(`a max_per_hour count reaching back before ${new Date(this.from).toISOString()} was not loaded`);
    let n = 0;
    for (const x of t) if (x > since) n++;
    return n;
  }
}

export class PostgresStore implements Store {
  readonly engine = 'postgres' as const;
  private readonly pool: pg.Pool;
  private ready: Promise<void> | null = null;
  private claimTurn = 0;
  readonly replicaId: string;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly opts: PostgresOptions = {},
  ) {
    this.replicaId = opts.replicaId ?? `${hostname()}:${process.pid}`;
    this.pool = new pg.Pool({
      connectionString: url,
      max: opts.poolMax ?? PG_DEFAULTS.poolMax,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? PG_DEFAULTS.connectTimeoutMs,
      statement_timeout: opts.statementTimeoutMs ?? PG_DEFAULTS.statementTimeoutMs,
      idle_in_transaction_session_timeout: PG_DEFAULTS.idleInTransactionMs,
      application_name: opts.applicationName ?? 'b3os-router',
      idleTimeoutMillis: PG_DEFAULTS.idleTimeoutMs,
      keepAlive: true,
      types: TYPES,
    });
    // An idle connection cut by the server (restart, failover): the pool drops it and the next
    // query connects again. Without a listener this event would end the process.
    this.pool.on('error', () => undefined);
  }

  /** The database as shown to people: the URL without its password. */
  get label(): string {
    return describeDb(this.url);
  }

  /** A storage failure as callers see it: a code, no URL, no password. */
  private wrap(err: unknown): StoreUnavailableError {
    if (err instanceof StoreUnavailableError) return err;
    const e = err as { code?: string; message?: string };
    const code = e?.code ?? (connectionError(err) ? 'connection' : 'error');
    const clean = Object.assign(new Error(redact(String(e?.message ?? err), this.url)), { code });
    return new StoreUnavailableError(`database unavailable (${code})`, clean);
  }

  private ensure(): Promise<void> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('database closed'));
    this.ready ??= this.prepareSchema().catch((err: unknown) => {
      this.ready = null;
      throw this.wrap(err);
    });
    return this.ready;
  }

  private async prepareSchema(): Promise<void> {
    const c = await this.pool.connect();
    let broken: Error | undefined;
    const onError = (e: Error) => (broken = e);
    c.on('error', onError);
    try {
      if (this.opts.migrate === false) {
        const { rows } = await c.query(`SELECT to_regclass('b3os_router_schema') IS NOT NULL AS present`);
        if (!rows[0]!.present) throw new StoreUnavailableError(`no b3os-router tables in ${this.label}; has the router (serve) run against it?`);
        await this.checkVersion(c);
        return;
      }
      // A session lock: held across the migrations' own transactions, so replicas starting
      // together wait for the first one and then find nothing to do.
      await c.query(`SELECT pg_advisory_lock(hashtextextended('b3os_router:migrate', 0))`);
      try {
        await c.query(`CREATE TABLE IF NOT EXISTS b3os_router_schema (version integer PRIMARY KEY, applied_at bigint NOT NULL)`);
        for (let v = await this.checkVersion(c); v < PG_MIGRATIONS.length; v++) {
          await c.query('BEGIN');
          try {
            await c.query(PG_MIGRATIONS[v]!);
            await c.query('INSERT INTO b3os_router_schema (version, applied_at) VALUES ($1, $2)', [v + 1, Date.now()]);
            await c.query('COMMIT');
          } catch (err) {
            await c.query('ROLLBACK').catch(() => undefined);
            throw err;
          }
        }
      } finally {
        await c.query(`SELECT pg_advisory_unlock(hashtextextended('b3os_router:migrate', 0))`).catch(() => undefined);
      }
    } catch (err) {
      if (connectionError(err)) broken = err as Error;
      throw err;
    } finally {
      c.off('error', onError);
      c.release(broken);
    }
  }

  private async checkVersion(c: pg.PoolClient): Promise<number> {
    const { rows } = await c.query('SELECT coalesce(max(version), 0) AS v FROM b3os_router_schema');
    const v = rows[0]!.v as number;
    if (v > PG_MIGRATIONS.length) {
      throw new StoreUnavailableError(`the database is from a newer b3os-router (schema ${v}, this one knows ${PG_MIGRATIONS.length})`);
    }
    return v;
  }

  private async q(sql: string | Prepared, params: unknown[] = []): Promise<Row[]> {
    await this.ensure();
    try {
      return (await (typeof sql === 'string' ? this.pool.query(sql, params) : this.pool.query({ ...sql, values: params }))).rows as Row[];
    } catch (err) {
      throw this.wrap(err);
    }
  }

  /** One transaction on one connection; a connection that broke is not given back to the pool. */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.ensure();
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (err) {
      throw this.wrap(err);
    }
    let broken: Error | undefined;
    // The server may cut a checked-out connection between two statements (a restart): the error
    // then arrives as an event, which must not end the process; the next statement fails instead.
    const onError = (e: Error) => (broken = e);
    c.on('error', onError);
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      if (connectionError(err)) broken = err as Error;
      else await c.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      c.off('error', onError);
      c.release(broken);
    }
  }

  /** Takes the rate locks of these pairs (sorted: no deadlock between replicas) and reads their counts. */
  private async lockCounts(c: pg.PoolClient, pairs: Iterable<CountedPair>, now: number): Promise<LockedCounts> {
    const keys = [...new Set([...pairs].map((p) => pairKey(p.rule, p.destination)))];
    const from = now - COUNT_HORIZON_MS;
    const counts = new LockedCounts(from, keys);
    if (keys.length === 0) return counts;
    await c.query(
      `SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended('b3os_router:rate:' || k, 0) AS h FROM unnest($1::text[]) AS k) s ORDER BY h`,
      [keys],
    );
    const rules = keys.map((k) => k.slice(0, k.indexOf('\n')));
    const dests = keys.map((k) => k.slice(k.indexOf('\n') + 1));
    const { rows } = await c.query(
      `SELECT d.rule, d.destination, d.allowed_at FROM unnest($1::text[], $2::text[]) AS p(rule, destination)
       JOIN deliveries d ON d.rule = p.rule AND d.destination = p.destination
       WHERE d.allowed_at IS NOT NULL AND d.allowed_at > $3 AND d.status <> 'blocked'`,
      [rules, dests, from],
    );
    for (const r of rows) counts.record(r.rule as string, r.destination as string, r.allowed_at as number);
    return counts;
  }

  private async insertDeliveries(c: pg.PoolClient, list: DeliveryRow[], now: number | number[]): Promise<void> {
    if (list.length === 0) return;
    const at = (i: number) => (Array.isArray(now) ? now[i]! : now);
    await c.query(
      `INSERT INTO deliveries (id, event_seq, rule, destination, status, reason, privileged, next_attempt_at, created_at, updated_at, origin, allowed_at, event_count, group_id)
       SELECT id, seq, rule, dest, status, reason, priv, next, created, created, origin, allowed, n, gid
       FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::bigint[], $9::bigint[], $10::text[], $11::bigint[], $12::int[], $13::text[])
         AS u(id, seq, rule, dest, status, reason, priv, next, created, origin, allowed, n, gid)`,
      [
        list.map((d) => d.id ?? uuidv7()),
        list.map((d) => d.eventSeq),
        list.map((d) => d.rule),
        list.map((d) => d.destination),
        list.map((d) => d.status),
        list.map((d) => d.reason),
        list.map((d) => d.privileged),
        list.map((d, i) => (d.status === 'pending' ? at(i) : null)),
        list.map((_d, i) => at(i)),
        list.map((d) => d.origin),
        list.map((d, i) => (d.privileged && d.status === 'pending' ? at(i) : null)),
        list.map((d) => d.eventCount ?? 1),
        list.map((d) => d.groupId ?? null),
      ],
    );
    if (list.some((d) => d.status === 'pending')) await c.query(`SELECT pg_notify('${DUE_CHANNEL}', '')`);
  }

  /** `planned`: plans already made for items that count nothing (ingestSimple's), not made again. */
  private async ingestBatch(c: pg.PoolClient, items: IngestItem[], planned: ReadonlyMap<IngestItem, PlannedDelivery[]>): Promise<IngestOutcome[]> {
    // The first of a key in the batch is the one inserted; later ones are its duplicates.
    const first = new Map<string, number>();
    items.forEach((it, i) => {
      if (!first.has(it.event.key)) first.set(it.event.key, i);
    });
    const order = [...first.values()].sort((a, b) => (items[a]!.event.key < items[b]!.event.key ? -1 : 1));
    const ev = order.map((i) => items[i]!.event);
    const inserted = await c.query(
      `INSERT INTO events (key, key_kind, event_id, run_id, execution_id, type, received_at, last_seen_at, payload, routing)
       SELECT k, kk, eid, rid, xid, t, at, at, p, r
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[]) AS u(k, kk, eid, rid, xid, t, at, p, r)
       ORDER BY k
       ON CONFLICT (key) DO NOTHING RETURNING seq, key`,
      eventColumns(ev),
    );
    const seqOf = new Map<string, number>(inserted.rows.map((r) => [r.key as string, r.seq as number]));
    const fresh = new Set(seqOf.keys());

    // Duplicates (of stored events, or of a new one earlier in this batch): counted, not routed.
    const dupCount = new Map<string, { n: number; at: number }>();
    items.forEach((it, i) => {
      if (fresh.has(it.event.key) && first.get(it.event.key) === i) return;
      const d = dupCount.get(it.event.key) ?? { n: 0, at: 0 };
      d.n++;
      d.at = Math.max(d.at, it.event.receivedAt);
      dupCount.set(it.event.key, d);
    });
    if (dupCount.size > 0) {
      const keys = [...dupCount.keys()].sort();
      const r = await c.query(
        `UPDATE events e SET duplicates = e.duplicates + u.n, last_seen_at = greatest(e.last_seen_at, u.at)
         FROM unnest($1::text[], $2::int[], $3::bigint[]) AS u(k, n, at) WHERE e.key = u.k AND e.key = ANY($1::text[]) RETURNING e.seq, e.key`,
        [keys, keys.map((k) => dupCount.get(k)!.n), keys.map((k) => dupCount.get(k)!.at)],
      );
      for (const row of r.rows) if (!seqOf.has(row.key as string)) seqOf.set(row.key as string, row.seq as number);
    }

    const news = items.map((it, i) => fresh.has(it.event.key) && first.get(it.event.key) === i);
    const counted = items.flatMap((it, i) => (news[i] ? (it.counted ?? []) : []));
    const minNow = Math.min(...items.map((it) => it.event.receivedAt));
    const counts = await this.lockCounts(c, counted, minNow);
    const deliveries: DeliveryRow[] = [];
    const times: number[] = [];
    const joining: Joining[] = [];
    const outcomes = items.map((it, i): IngestOutcome => {
      const seq = seqOf.get(it.event.key);
      if (seq === undefined) throw new Error(`event ${it.event.key} was neither stored nor found`);
      if (!news[i]) return { status: 'duplicate', seq };
      const plan = planned.get(it) ?? it.plan(counts);
      for (const p of plan) {
        if (p.privileged && p.status === 'pending') counts.record(p.rule, p.destination, it.event.receivedAt);
        const d: DeliveryRow = { ...p, eventSeq: seq, origin: 'ingest' };
        if (p.group && p.status === 'pending') joining.push({ d, g: p.group, now: it.event.receivedAt });
        else {
          deliveries.push(d);
          times.push(it.event.receivedAt);
        }
      }
      return { status: 'accepted', seq, planned: plan };
    });
    if (joining.length > 0) {
      for (const { d, now } of await this.gather(c, joining)) {
        deliveries.push(d);
        times.push(now);
      }
    }
    await this.insertDeliveries(c, deliveries, times);
    return outcomes;
  }

  /**
   * Grouped deliveries join their groups (contract §9), as SQLite's gather: the group is open while
   * events wait for its flush, or within `interval` of its last notification, and then the event
   * is gathered with the flush due at the end of that interval; otherwise the event opens it (a
   * notification of its own with `wait` 0, else gathered with the flush due after `wait`).
   * Each group row is locked first (an upsert, in one sorted statement: no deadlock between
   * replicas' batches) and decided on under the lock, so a flush of the same group (which takes
   * it FOR UPDATE SKIP LOCKED) runs wholly before or after. Returns the deliveries to insert.
   */
  private async gather(c: pg.PoolClient, joining: Joining[]): Promise<{ d: DeliveryRow; now: number }[]> {
    const gkey = (rule: string, destination: string, key: string) => JSON.stringify([rule, destination, key]);
    const wanted = new Map<string, Joining>();
    for (const j of joining) {
      const k = gkey(j.d.rule, j.d.destination, j.g.key);
      if (!wanted.has(k)) wanted.set(k, j);
    }
    // The same total order in every replica (that of the keys) is all that avoiding deadlocks needs.
    const first = [...wanted.keys()].sort().map((k) => wanted.get(k)!);
    // A conflicting upsert locks the existing row and returns its latest committed state.
    const { rows } = await c.query(
      `INSERT INTO groups (id, rule, destination, key, group_values, opened_at)
       SELECT id, rule, destination, key, vals, at
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) WITH ORDINALITY AS u(id, rule, destination, key, vals, at, n)
       ORDER BY n
       ON CONFLICT (rule, destination, key) DO UPDATE SET rule = excluded.rule
       RETURNING id, rule, destination, key, opened_at, last_sent_at, flush_at`,
      [
        first.map(() => uuidv7()),
        first.map((j) => j.d.rule),
        first.map((j) => j.d.destination),
        first.map((j) => j.g.key),
        first.map((j) => JSON.stringify(j.g.values)),
        first.map((j) => j.now),
      ],
    );
    type State = { id: string; opened: number; last: number | null; flush: number | null; changed: boolean };
    const state = new Map<string, State>();
    for (const r of rows) {
      state.set(gkey(r.rule as string, r.destination as string, r.key as string), {
        id: r.id as string,
        opened: r.opened_at as number,
        last: r.last_sent_at as number | null,
        flush: r.flush_at as number | null,
        changed: false,
      });
    }
    const gathered: { group: string; seq: number; at: number; delivery: string | null }[] = [];
    const out: { d: DeliveryRow; now: number }[] = [];
    for (const { d, g, now } of joining) {
      const s = state.get(gkey(d.rule, d.destination, g.key));
      if (!s) throw new Error(`group of ${d.rule} → ${d.destination} was neither stored nor found`);
      const open = s.flush !== null || (s.last !== null && now < s.last + g.intervalMs);
      if (open) {
        gathered.push({ group: s.id, seq: d.eventSeq, at: now, delivery: null });
        if (s.flush === null) {
          s.flush = s.last! + g.intervalMs;
          s.changed = true;
        }
        continue;
      }
      s.opened = now;
      s.changed = true;
      if (g.waitMs === 0) {
        const id = uuidv7();
        out.push({ d: { ...d, id, eventCount: 1, groupId: s.id }, now });
        gathered.push({ group: s.id, seq: d.eventSeq, at: now, delivery: id });
        s.last = now;
        s.flush = null;
      } else {
        gathered.push({ group: s.id, seq: d.eventSeq, at: now, delivery: null });
        s.last = null;
        s.flush = now + g.waitMs;
      }
    }
    await c.query(
      `INSERT INTO group_events (group_id, event_seq, gathered_at, delivery_id)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[]) ON CONFLICT DO NOTHING`,
      [gathered.map((x) => x.group), gathered.map((x) => x.seq), gathered.map((x) => x.at), gathered.map((x) => x.delivery)],
    );
    const changed = [...state.values()].filter((x) => x.changed);
    if (changed.length > 0) {
      await c.query(
        `UPDATE groups g SET opened_at = u.opened, last_sent_at = u.last, flush_at = u.flush
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, opened, last, flush) WHERE g.id = u.id`,
        [changed.map((x) => x.id), changed.map((x) => x.opened), changed.map((x) => x.last), changed.map((x) => x.flush)],
      );
    }
    return out;
  }

  /**
   * The common case in one statement (one round trip, its own transaction): no plan reads a
   * count, so every plan runs before it (a duplicate's plan is dropped). Events, duplicates and
   * deliveries are written by one statement. null when a delivery joins a group (nothing is
   * written): the caller takes the transaction path. An item whose key was neither inserted nor
   * found (a concurrent insert of it committed after the statement's snapshot) is left undefined
   * for the caller to store that way; what this statement committed is never stored again.
   */
  private async ingestSimple(items: IngestItem[], planned: Map<IngestItem, PlannedDelivery[]>): Promise<(IngestOutcome | undefined)[] | null> {
    const first = new Map<string, number>();
    items.forEach((it, i) => {
      if (!first.has(it.event.key)) first.set(it.event.key, i);
    });
    const uniq = [...first.values()].map((i) => items[i]!);
    const ev = uniq.map((it) => it.event);
    const plans = uniq.map((it) => {
      const plan = it.plan(UNCOUNTED);
      planned.set(it, plan);
      return plan;
    });
    // A grouped delivery joins its group under the group row's lock: the transaction path (gather).
    if (plans.some((list) => list.some((p) => p.group && p.status === 'pending'))) return null;
    const dk: string[] = [],
      did: string[] = [],
      rule: string[] = [],
      dest: string[] = [],
      status: string[] = [],
      reason: (string | null)[] = [],
      priv: boolean[] = [],
      at: number[] = [];
    plans.forEach((list, i) => {
      for (const p of list) {
        dk.push(ev[i]!.key);
        did.push(uuidv7());
        rule.push(p.rule);
        dest.push(p.destination);
        status.push(p.status);
        reason.push(p.reason);
        priv.push(p.privileged);
        at.push(ev[i]!.receivedAt);
      }
    });
    const rows = await this.q(INGEST_ONE_STATEMENT, [...eventColumns(ev), dk, did, rule, dest, status, reason, priv, at]);
    const found = new Map(rows.map((r) => [r.key as string, { fresh: r.fresh as boolean, seq: r.seq as number }]));
    const planOf = new Map(uniq.map((it, i) => [it.event.key, plans[i]!]));
    const dupsInBatch = items.filter((it, i) => first.get(it.event.key) !== i && found.has(it.event.key));
    if (dupsInBatch.length > 0) {
      // Repeats of a key within the batch: counted as duplicates too (rare; a second statement).
      const keys = dupsInBatch.map((it) => it.event.key);
      await this.q(
        `UPDATE events SET duplicates = duplicates + u.n FROM (SELECT k, count(*)::int AS n FROM unnest($1::text[]) AS k GROUP BY k) u WHERE events.key = u.k AND events.key = ANY($1::text[])`,
        [keys],
      );
    }
    return items.map((it, i): IngestOutcome | undefined => {
      const f = found.get(it.event.key);
      if (!f) return undefined;
      return f.fresh && first.get(it.event.key) === i
        ? { status: 'accepted', seq: f.seq, planned: planOf.get(it.event.key)! }
        : { status: 'duplicate', seq: f.seq };
    });
  }

  async ingest(items: IngestItem[]): Promise<IngestOutcome[]> {
    if (items.length === 0) return [];
    let rest = items;
    let simple: (IngestOutcome | undefined)[] | null = null;
    // A batch with a grouped delivery is planned by ingestSimple and then stored by the
    // transaction path: its plans are made once.
    const planned = new Map<IngestItem, PlannedDelivery[]>();
    try {
      if (items.every((it) => (it.counted ?? []).length === 0)) {
        simple = await this.ingestSimple(items, planned);
        // Only what the statement left undefined goes on: what it committed is answered as it is.
        if (simple) {
          rest = items.filter((_it, i) => simple![i] === undefined);
          if (rest.length === 0) return simple as IngestOutcome[];
        }
      }
      const stored = await this.tx((c) => this.ingestBatch(c, rest, planned));
      return simple ? merge(simple, stored) : stored;
    } catch (err) {
      // A lost connection or a database that is down fails the batch; anything else is retried
      // event by event below. (q() and tx() wrap every error, so look at the cause.)
      const cause = err instanceof StoreUnavailableError ? (err.cause ?? err) : err;
      if (rest.length === 1 || connectionError(cause) || (cause as { code?: string }).code === 'connection') {
        const failed = rest.map((): IngestOutcome => ({ status: 'failed', error: this.wrap(err) }));
        return simple ? merge(simple, failed) : failed;
      }
    }
    // The batch failed as a whole (rolled back): again event by event, so that one that cannot be
    // stored fails alone (or a deadlock between two replicas' batches resolves itself).
    const out: IngestOutcome[] = [];
    for (const item of rest) {
      try {
        out.push(...(await this.tx((c) => this.ingestBatch(c, [item], planned))));
      } catch (err) {
        out.push({ status: 'failed', error: this.wrap(err) });
      }
    }
    return simple ? merge(simple, out) : out;
  }

  async claimDue(req: ClaimRequest): Promise<ClaimedDelivery[]> {
    return this.finishClaim([], req);
  }

  async finish(updates: DeliveryUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    await this.finishClaim(updates, null);
  }

  /** finish(updates) and then claimDue(claim), in one transaction: one statement, one round trip. */
  async finishAndClaim(updates: DeliveryUpdate[], claim: ClaimRequest): Promise<ClaimedDelivery[]> {
    return this.finishClaim(updates, claim);
  }

  /** FINISH_CLAIM with its parameters: outcomes to record (may be none), then a claim (or none). */
  private async finishClaim(updates: DeliveryUpdate[], claim: ClaimRequest | null): Promise<ClaimedDelivery[]> {
    const a = updates.flatMap((u) => (u.attempt ? [u.attempt] : []));
    // Each destination named by the room or the leases: its room (null: defaultRoom) and lease end.
    const dests = claim ? [...new Set([...claim.room.keys(), ...(claim.leases?.keys() ?? [])])] : [];
    const rows = await this.q(FINISH_CLAIM, [
      updates.map((u) => u.id),
      updates.map((u) => u.status),
      updates.map((u) => u.reason?.slice(0, 2000) ?? null),
      updates.map((u) => u.nextAttemptAt),
      updates.map((u) => (u.attempt ? 1 : 0)),
      Date.now(),
      a.map((x) => x.deliveryId),
      a.map((x) => x.attempt),
      a.map((x) => x.startedAt),
      a.map((x) => Math.round(x.durationMs)),
      a.map((x) => x.outcome),
      a.map((x) => x.code),
      a.map((x) => x.error?.slice(0, 2000) ?? null),
      claim?.now ?? 0,
      claim ? claim.now + claim.leaseMs : 0,
      this.replicaId,
      dests,
      dests.map((d) => claim!.room.get(d) ?? null),
      claim?.defaultRoom ?? 0,
      claim?.limit ?? 0,
      claim ? this.claimTurn++ : 0,
      dests.map((d) => claim!.now + (claim!.leases?.get(d) ?? claim!.leaseMs)),
    ]);
    // The one row of a call that claimed nothing has no delivery and no event.
    return rows
      .filter((r) => r.event_payload !== null)
      .map((r) => ({ ...toDelivery(r), eventPayload: r.event_payload as string, eventType: r.event_type as string | null }));
  }

  async releaseLeases(): Promise<number> {
    // Only this replica's: the others' leases belong to live senders (a dead one's lapse).
    const rows = await this.q(`UPDATE deliveries SET lease_until = NULL, lease_owner = NULL WHERE lease_until IS NOT NULL AND lease_owner = $1 RETURNING id`, [
      this.replicaId,
    ]);
    return rows.length;
  }

  async findEvent(idOrKey: string): Promise<StoredEvent | null> {
    const byKey = await this.q(`SELECT * FROM events WHERE key = $1`, [idOrKey]);
    const r = byKey[0] ?? (await this.q(`SELECT * FROM events WHERE event_id = $1 ORDER BY seq DESC LIMIT 1`, [idOrKey]))[0];
    return r ? toEvent(r) : null;
  }

  async getEvent(seq: number): Promise<StoredEvent | null> {
    const [r] = await this.q(`SELECT * FROM events WHERE seq = $1`, [seq]);
    return r ? toEvent(r) : null;
  }

  /** A listing with optional filters (each applied when its value is given), newest first. */
  private async filtered(table: 'events' | 'deliveries', filters: [string, unknown][], order: string, limit: number): Promise<Row[]> {
    const used = filters.filter(([, v]) => v !== undefined);
    const where = used.length ? `WHERE ${used.map(([c], i) => `${c} $${i + 1}`).join(' AND ')}` : '';
    return this.q(`SELECT * FROM ${table} ${where} ORDER BY ${order} LIMIT $${used.length + 1}`, [...used.map(([, v]) => v), limit]);
  }

  async listEvents(q: EventQuery): Promise<StoredEvent[]> {
    return (
      await this.filtered(
        'events',
        [
          ['type =', q.type],
          ['received_at >=', q.since],
        ],
        'seq DESC',
        q.limit,
      )
    ).map(toEvent);
  }

  async eventsSince(since: number, limit: number, afterSeq = 0): Promise<StoredEvent[]> {
    return (await this.q(`SELECT * FROM events WHERE received_at >= $1 AND seq > $3 ORDER BY seq LIMIT $2`, [since, limit, afterSeq])).map(toEvent);
  }

  async listDeliveries(q: DeliveryQuery): Promise<StoredDelivery[]> {
    const filters: [string, unknown][] = [
      ['status =', q.status],
      ['destination =', q.destination],
      ['updated_at >=', q.since],
    ];
    // Ids are time-ordered (UUIDv7): the tie-breaker SQLite's rowid is there.
    return (await this.filtered('deliveries', filters, 'updated_at DESC, id DESC', q.limit)).map(toDelivery);
  }

  async getDelivery(id: string): Promise<StoredDelivery | null> {
    const [r] = await this.q(`SELECT * FROM deliveries WHERE id = $1`, [id]);
    return r ? toDelivery(r) : null;
  }

  async deliveriesForEvent(seq: number): Promise<StoredDelivery[]> {
    // Its own deliveries, and the digests that carried it (through group_events).
    const rows = await this.q(
      `SELECT * FROM deliveries WHERE event_seq = $1
         OR id IN (SELECT delivery_id FROM group_events WHERE event_seq = $1 AND delivery_id IS NOT NULL)
       ORDER BY created_at, id`,
      [seq],
    );
    return rows.map(toDelivery);
  }

  async attemptsFor(deliveryId: string): Promise<StoredAttempt[]> {
    return (await this.q(`SELECT * FROM attempts WHERE delivery_id = $1 ORDER BY attempt`, [deliveryId])).map(toAttempt);
  }

  async requeueDead(ids: string[], now: number): Promise<string[]> {
    return this.requeue('dead', ids, now);
  }

  /** Back to pending, to be decided again by the serving worker (privileged false). A silenced
   * delivery was never let out, so its allowance goes too; a dead one's counted and stays. */
  private async requeue(from: 'dead' | 'silenced', ids: string[], now: number): Promise<string[]> {
    if (ids.length === 0) return [];
    try {
      const moved = await this.tx(async (c) => {
        const { rows } = await c.query(
          `UPDATE deliveries SET status = 'pending', privileged = false,${from === 'silenced' ? ' allowed_at = NULL,' : ''} round_attempts = 0,
             next_attempt_at = $2, lease_until = NULL, lease_owner = NULL, updated_at = $2, reason = NULL
           WHERE status = '${from}' AND id = ANY($1::text[]) RETURNING id`,
          [ids, now],
        );
        if (rows.length > 0) await c.query(`SELECT pg_notify('${DUE_CHANNEL}', '')`);
        return new Set(rows.map((r) => r.id as string));
      });
      return ids.filter((id) => moved.has(id));
    } catch (err) {
      throw this.wrap(err);
    }
  }

  async admit(
    ids: string[],
    decide: (delivery: StoredDelivery, counts: PlanCounts) => AdmitVerdict,
    opts: { now: number; requeueDead: boolean },
  ): Promise<AdmitResult[]> {
    if (ids.length === 0) return [];
    const waiting = (d: StoredDelivery) => (opts.requeueDead ? d.status === 'dead' : d.status === 'pending' || d.status === 'failed');
    try {
      return await this.tx(async (c) => {
        // The pairs first (unlocked), their locks, then the rows again: what is decided on is
        // what no other transaction can change until this one ends.
        const seen = await c.query(`SELECT DISTINCT rule, destination FROM deliveries WHERE id = ANY($1::text[])`, [ids]);
        const counts = await this.lockCounts(c, seen.rows as unknown as CountedPair[], opts.now);
        const { rows } = await c.query(`SELECT * FROM deliveries WHERE id = ANY($1::text[]) FOR UPDATE`, [ids]);
        const byId = new Map(rows.map((r) => [r.id as string, r as Row]));
        let requeued = false;
        const out: AdmitResult[] = [];
        for (const id of ids) {
          const row = byId.get(id);
          const d = row ? toDelivery(row) : null;
          if (!d || !waiting(d)) {
            out.push({ id, outcome: 'skipped', reason: null });
            continue;
          }
          const own = (row!.allowed_at as number | null) ?? null;
          const view: PlanCounts = {
            allowedSince: (rule, destination, since) =>
              counts.allowedSince(rule, destination, since) -
              (rule === d.rule && destination === d.destination && own !== null && own > since && d.status !== 'blocked' ? 1 : 0),
          };
          const verdict = decide(d, view);
          if (!verdict.allowed) {
            out.push({ id, outcome: 'refused', reason: verdict.reason });
            continue;
          }
          if (opts.requeueDead) {
            await c.query(
              `UPDATE deliveries SET status = 'pending', round_attempts = 0, next_attempt_at = $2, lease_until = NULL, lease_owner = NULL, updated_at = $2, reason = NULL,
                 allowed_at = $2, privileged = false WHERE status = 'dead' AND id = $1`,
              [id, opts.now],
            );
            requeued = true;
          } else {
            await c.query(`UPDATE deliveries SET allowed_at = $2, privileged = true WHERE id = $1 AND status IN ('pending', 'failed')`, [id, opts.now]);
          }
          counts.replace(d.rule, d.destination, d.status === 'blocked' ? null : own, opts.now);
          // The row now carries the new allowance: later decisions in this call count it once.
          row!.allowed_at = opts.now;
          out.push({ id, outcome: 'admitted', reason: null });
        }
        if (requeued) await c.query(`SELECT pg_notify('${DUE_CHANNEL}', '')`);
        return out;
      });
    } catch (err) {
      throw this.wrap(err);
    }
  }

  async addDeliveries(
    events: StoredEvent[],
    plan: (event: StoredEvent, existing: StoredDelivery[], counts: PlanCounts, waiting: readonly CountedPair[]) => NewDelivery[],
    now: number,
    counted: readonly CountedPair[] = [],
  ): Promise<NewDelivery[]> {
    if (events.length === 0) return [];
    try {
      return await this.tx(async (c) => {
        const counts = await this.lockCounts(c, counted, now);
        // One replay at a time per event (in seq order: no deadlock between two): a pair with no
        // delivery yet has no row to lock, and two replays at once both created it.
        const seqs = events.map((e) => e.seq);
        await c.query(`SELECT pg_advisory_xact_lock(hashtextextended('b3os_router:replay:' || s, 0)) FROM unnest($1::bigint[]) AS s ORDER BY s`, [seqs]);
        // The groups each event waits in, read before its deliveries: a flush that commits in
        // between then shows as the digest that carries it.
        const waiting = new Map<number, CountedPair[]>();
        const gathered = await c.query(
          `SELECT g.event_seq, gr.rule, gr.destination FROM group_events g JOIN groups gr ON gr.id = g.group_id
           WHERE g.event_seq = ANY($1::bigint[]) AND g.delivery_id IS NULL`,
          [seqs],
        );
        for (const r of gathered.rows) {
          const seq = r.event_seq as number;
          waiting.set(seq, [...(waiting.get(seq) ?? []), { rule: r.rule as string, destination: r.destination as string }]);
        }
        // Each event's deliveries, with the digests that carried it (as deliveriesForEvent).
        const { rows } = await c.query(
          `SELECT d.*, x.for_seq FROM (
             SELECT id, event_seq AS for_seq FROM deliveries WHERE event_seq = ANY($1::bigint[])
             UNION SELECT delivery_id, event_seq FROM group_events WHERE event_seq = ANY($1::bigint[]) AND delivery_id IS NOT NULL) x
           JOIN deliveries d ON d.id = x.id ORDER BY d.created_at, d.id FOR UPDATE OF d`,
          [seqs],
        );
        const existing = new Map<number, StoredDelivery[]>();
        for (const r of rows) {
          const seq = r.for_seq as number;
          existing.set(seq, [...(existing.get(seq) ?? []), toDelivery(r)]);
        }
        const added: NewDelivery[] = [];
        const plain: DeliveryRow[] = [];
        const joining: Joining[] = [];
        for (const e of events) {
          const list = plan(e, existing.get(e.seq) ?? [], counts, waiting.get(e.seq) ?? []);
          for (const d of list) {
            if (d.privileged && d.status === 'pending') counts.record(d.rule, d.destination, now);
            // A replayed delivery of a grouped rule joins its group, as at ingest.
            if (d.group && d.status === 'pending') joining.push({ d, g: d.group, now });
            else plain.push(d);
          }
          added.push(...list);
        }
        if (joining.length > 0) for (const { d } of await this.gather(c, joining)) plain.push(d);
        await this.insertDeliveries(c, plain, now);
        return added;
      });
    } catch (err) {
      throw this.wrap(err);
    }
  }

  async allowedSince(rule: string, destination: string, since: number): Promise<number> {
    const [r] = await this.q(
      `SELECT count(*) AS n FROM deliveries WHERE rule = $1 AND destination = $2 AND allowed_at IS NOT NULL AND allowed_at > $3 AND status <> 'blocked'`,
      [rule, destination, since],
    );
    return r!.n as number;
  }

  async saveRulesVersion(hash: string, text: string, now: number): Promise<void> {
    await this.q(`INSERT INTO rules_versions (hash, text, saved_at) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING`, [hash, text, now]);
  }

  async rulesVersion(hash: string): Promise<string | null> {
    const [r] = await this.q(`SELECT text FROM rules_versions WHERE hash = $1`, [hash]);
    return r ? (r.text as string) : null;
  }

  // Counts the queue (its partial index) on every call: a counter row, as SQLite keeps, would be
  // one row every replica's ingest and delivery transactions lock in turn.
  async stats(now: number): Promise<{ queueDepth: number; oldestDueAgeSeconds: number }> {
    const [r] = await this.q(
      `SELECT count(*) AS n, min(CASE WHEN next_attempt_at <= $1 THEN next_attempt_at END) AS oldest FROM deliveries WHERE status IN ('pending', 'failed')`,
      [now],
    );
    const oldest = r!.oldest as number | null;
    return { queueDepth: r!.n as number, oldestDueAgeSeconds: oldest === null ? 0 : Math.max(0, (now - oldest) / 1000) };
  }

  async prune(before: number, batch: number): Promise<number> {
    try {
      return await this.tx(async (c) => {
        // One replica prunes at a time; the others find the lock taken and leave it to it.
        const { rows } = await c.query(`SELECT pg_try_advisory_xact_lock(hashtextextended('b3os_router:retention', 0)) AS ok`);
        if (!rows[0]!.ok) return 0;
        const r = await c.query(
          `WITH doomed AS MATERIALIZED (
             SELECT seq FROM events e WHERE received_at < $1
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq AND (d.status IN ('pending', 'failed') OR d.updated_at >= $1))
               -- Still waiting in a group, or carried by a digest not yet done with.
               AND NOT EXISTS (SELECT 1 FROM group_events g LEFT JOIN deliveries d ON d.id = g.delivery_id
                               WHERE g.event_seq = e.seq AND (g.delivery_id IS NULL OR d.status IN ('pending', 'failed') OR d.updated_at >= $1))
             ORDER BY received_at LIMIT $2),
           gone_attempts AS (DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_seq IN (SELECT seq FROM doomed))),
           gone_deliveries AS (DELETE FROM deliveries WHERE event_seq IN (SELECT seq FROM doomed)),
           gone_gathered AS (DELETE FROM group_events WHERE event_seq IN (SELECT seq FROM doomed))
           DELETE FROM events WHERE seq IN (SELECT seq FROM doomed) RETURNING seq`,
          [before, batch],
        );
        return r.rowCount ?? 0;
      });
    } catch (err) {
      throw this.wrap(err);
    }
  }

  async writable(): Promise<boolean> {
    try {
      const [r] = await this.q(`SELECT pg_is_in_recovery() AS standby, current_setting('transaction_read_only') AS ro`);
      return r!.standby === false && r!.ro === 'off';
    } catch {
      return false;
    }
  }

  async acquireServerLock(pid: number, host: string, now: number, info?: ReplicaInfo): Promise<{ ok: true } | { ok: false; holder: string }> {
    // Any number of servers may share the database: the lock is a heartbeat row per replica.
    await this.upsertReplica(pid, host, now, info, true);
    return { ok: true };
  }

  private async upsertReplica(pid: number, host: string, now: number, info: ReplicaInfo | undefined, starting: boolean): Promise<void> {
    await this.q(
      `INSERT INTO replicas (id, host, pid, version, rules_hash, started_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $6)
       ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at, version = excluded.version,
         rules_hash = CASE WHEN excluded.rules_hash = '' THEN replicas.rules_hash ELSE excluded.rules_hash END
         ${starting ? ', started_at = excluded.started_at, pid = excluded.pid, host = excluded.host' : ''}`,
      [this.replicaId, host, pid, info?.version ?? '', info?.rulesHash ?? '', now],
    );
  }

  async heartbeat(pid: number, now: number, info?: ReplicaInfo): Promise<void> {
    await this.upsertReplica(pid, hostname(), now, info, false);
    // Rows of replicas long gone (a pod deleted a day ago) are only clutter.
    await this.q(`DELETE FROM replicas WHERE last_seen_at < $1`, [now - 24 * 3600_000]);
  }

  async releaseServerLock(_pid: number): Promise<void> {
    await this.q(`DELETE FROM replicas WHERE id = $1`, [this.replicaId]);
  }

  async replicas(): Promise<StoredReplica[]> {
    const rows = await this.q(`SELECT * FROM replicas ORDER BY host, pid`);
    return rows.map((r) => ({
      host: r.host as string,
      pid: r.pid as number,
      version: r.version as string,
      rulesHash: r.rules_hash as string,
      startedAt: r.started_at as number,
      lastSeenAt: r.last_seen_at as number,
    }));
  }

  listen(onDue: () => void): { close(): Promise<void> } {
    let client: pg.Client | null = null;
    let stopped = false;
    let delay: number = PG_DEFAULTS.listenRetryFirstMs;
    let timer: NodeJS.Timeout | undefined;
    const connect = async () => {
      if (stopped) return;
      const c = new pg.Client({
        connectionString: this.url,
        connectionTimeoutMillis: PG_DEFAULTS.connectTimeoutMs,
        application_name: 'b3os-router listen',
        keepAlive: true,
      });
      client = c;
      let retried = false;
      const retry = () => {
        if (retried || stopped) return;
        retried = true;
        client = null;
        void c.end().catch(() => undefined);
        timer = setTimeout(() => void connect(), delay);
        timer.unref();
        delay = Math.min(delay * 2, PG_DEFAULTS.listenRetryMaxMs);
      };
      c.on('error', retry);
      c.on('end', retry);
      c.on('notification', () => onDue());
      try {
        await c.connect();
        await c.query(`LISTEN ${DUE_CHANNEL}`);
        delay = PG_DEFAULTS.listenRetryFirstMs;
        // Whatever was notified while this connection was down is looked for now.
        onDue();
      } catch {
        retry();
      }
    };
    void connect();
    return {
      close: async () => {
        stopped = true;
        clearTimeout(timer);
        await client?.end().catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end().catch(() => undefined);
  }

  async typeCounts(since: number): Promise<TypeCount[]> {
    const rows = await this.q(`SELECT type, count(*) AS n, max(received_at) AS last FROM events WHERE received_at >= $1 GROUP BY type ORDER BY n DESC, type`, [
      since,
    ]);
    return rows.map((r) => ({ type: r.type as string | null, count: r.n as number, lastReceivedAt: r.last as number }));
  }

  // Reads for the console: the same answers as the SQLite engine's.
  async activity(since: number, bucketMs: number): Promise<Activity> {
    const p = [Math.floor(since), Math.max(1, Math.floor(bucketMs))];
    const [events, deliveries, totals] = await Promise.all([
      this.q(
        `SELECT ((received_at - $1) / $2)::bigint AS bucket, count(*) AS n,
                count(*) FILTER (WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq)) AS routed
         FROM events e WHERE received_at >= $1 GROUP BY 1`,
        p,
      ),
      this.q(
        `SELECT ((updated_at - $1) / $2)::bigint AS bucket, status, count(*) AS n FROM deliveries
         WHERE status IN ('pending', 'failed', 'delivered', 'dead', 'blocked') AND updated_at >= $1 GROUP BY 1, 2`,
        p,
      ),
      this.q(
        `SELECT count(*) FILTER (WHERE status = 'dead') AS dead, count(*) FILTER (WHERE status = 'blocked') AS blocked FROM deliveries WHERE status IN ('dead', 'blocked')`,
      ),
    ]);
    return {
      events: events.map((r) => ({ bucket: Number(r.bucket), routed: Number(r.routed), unrouted: Number(r.n) - Number(r.routed) })),
      deliveries: deliveries.map((r) => ({ bucket: Number(r.bucket), status: r.status as DeliveryStatus, count: Number(r.n) })),
      dead: Number(totals[0]?.dead ?? 0),
      blocked: Number(totals[0]?.blocked ?? 0),
    };
  }

  async ruleMatches(since: number, limit: number): Promise<{ events: number; counts: Record<string, number> }> {
    const recent = `SELECT routing FROM events WHERE received_at >= $1 ORDER BY seq DESC LIMIT $2`;
    const [scanned, matches] = await Promise.all([
      this.q(`SELECT count(*) AS n FROM (${recent}) e`, [since, limit]),
      this.q(
        `SELECT o->>'rule' AS rule, count(*) AS n
         FROM (${recent}) e, jsonb_array_elements(CASE WHEN e.routing IS NULL THEN '[]'::jsonb ELSE e.routing::jsonb->'outcomes' END) o
         WHERE (o->>'matched')::boolean GROUP BY 1`,
        [since, limit],
      ),
    ]);
    const counts: Record<string, number> = {};
    for (const r of matches) counts[r.rule as string] = Number(r.n);
    return { events: Number(scanned[0]?.n ?? 0), counts };
  }

  async eventPage(q: EventQuery & { beforeSeq?: number }): Promise<StoredEvent[]> {
    return (
      await this.filtered(
        'events',
        [
          ['type =', q.type],
          ['received_at >=', q.since],
          ['seq <', q.beforeSeq],
        ],
        'seq DESC',
        q.limit,
      )
    ).map(toEvent);
  }

  // ---- noise control (contract §9) ----

  async flushGroups(now: number, limit: number): Promise<FlushedNotification[]> {
    try {
      // A read first, outside any transaction: an idle poll (every replica's) is one round trip.
      if ((await this.q(`SELECT 1 FROM groups WHERE flush_at IS NOT NULL AND flush_at <= $1 LIMIT 1`, [now])).length === 0) return [];
      return await this.tx(async (c) => {
        // The due groups no other transaction holds: another replica's flush takes the others,
        // and an ingest gathering into one of them finishes first (it flushes on the next tick).
        const due = await c.query(
          `SELECT id, rule, destination FROM groups WHERE flush_at IS NOT NULL AND flush_at <= $1 ORDER BY flush_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [now, limit],
        );
        if (due.rows.length === 0) return [];
        const ids = due.rows.map((r) => r.id as string);
        const waiting = await c.query(
          `SELECT group_id, min(event_seq) AS first, count(*) AS n FROM group_events WHERE group_id = ANY($1::text[]) AND delivery_id IS NULL GROUP BY group_id`,
          [ids],
        );
        const byGroup = new Map(waiting.rows.map((r) => [r.group_id as string, { first: r.first as number, n: r.n as number }]));
        const made: DeliveryRow[] = [];
        const out: FlushedNotification[] = [];
        for (const g of due.rows) {
          const w = byGroup.get(g.id as string);
          if (!w) continue;
          const id = uuidv7();
          const rule = g.rule as string;
          const destination = g.destination as string;
          made.push({
            id,
            eventSeq: w.first,
            rule,
            destination,
            privileged: false,
            status: 'pending',
            reason: null,
            origin: 'ingest',
            eventCount: w.n,
            groupId: g.id as string,
          });
          out.push({ deliveryId: id, rule, destination, eventCount: w.n });
        }
        // The notifications, their links and the groups' new state commit together (and NOTIFY).
        await this.insertDeliveries(c, made, now);
        if (made.length > 0) {
          await c.query(
            `UPDATE group_events g SET delivery_id = u.did FROM unnest($1::text[], $2::text[]) AS u(gid, did) WHERE g.group_id = u.gid AND g.delivery_id IS NULL`,
            [made.map((d) => d.groupId), made.map((d) => d.id)],
          );
        }
        await c.query(`UPDATE groups SET last_sent_at = $2, flush_at = NULL WHERE id = ANY($1::text[])`, [ids, now]);
        return out;
      });
    } catch (err) {
      throw this.wrap(err);
    }
  }

  async notificationEvents(deliveryId: string, limit: number): Promise<NotificationEvents | null> {
    const [counted] = await this.q(
      `SELECT (SELECT count(*) FROM group_events WHERE delivery_id = $1) AS n,
              (SELECT gr.group_values FROM deliveries d JOIN groups gr ON gr.id = d.group_id WHERE d.id = $1) AS vals`,
      [deliveryId],
    );
    const count = counted!.n as number;
    if (count <= 1) return null;
    const vals = counted!.vals as string | null;
    return { count, group: vals ? (JSON.parse(vals) as Record<string, unknown>) : {}, events: await this.carriedAfter(deliveryId, 0, limit) };
  }

  async carriedAfter(deliveryId: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
    // By the group's primary key (group_id, event_seq), from a given seq: each page is a range read.
    const rows = await this.q(
      `SELECT e.* FROM group_events g JOIN events e ON e.seq = g.event_seq
       WHERE g.group_id = (SELECT group_id FROM deliveries WHERE id = $1) AND g.delivery_id = $1 AND g.event_seq > $2
       ORDER BY g.event_seq LIMIT $3`,
      [deliveryId, afterSeq, limit],
    );
    return rows.map(toEvent);
  }

  async gatheredFor(seq: number): Promise<GatheredEvent[]> {
    const rows = await this.q(
      `SELECT g.group_id, g.gathered_at, g.delivery_id, gr.rule, gr.destination, gr.group_values, gr.flush_at
       FROM group_events g JOIN groups gr ON gr.id = g.group_id WHERE g.event_seq = $1 ORDER BY g.gathered_at, g.group_id`,
      [seq],
    );
    return rows.map((r) => ({
      groupId: r.group_id as string,
      rule: r.rule as string,
      destination: r.destination as string,
      group: JSON.parse(r.group_values as string) as Record<string, unknown>,
      gatheredAt: r.gathered_at as number,
      deliveryId: r.delivery_id as string | null,
      flushAt: r.delivery_id === null ? (r.flush_at as number | null) : null,
    }));
  }

  async addSilence(s: NewSilence, maxActive: number): Promise<SilenceStored> {
    const silence: StoredSilence = { ...s, id: uuidv7() };
    return this.tx(async (c): Promise<SilenceStored> => {
      // Adds from every replica queue on one lock, so the count and the insert cannot interleave.
      await c.query(`SELECT pg_advisory_xact_lock(hashtextextended('b3os_router:silences', 0))`);
      const { rows } = await c.query(`SELECT count(*)::int AS n FROM silences WHERE ends_at > $1`, [s.createdAt]);
      const active = rows[0].n as number;
      if (active >= maxActive) return { ok: false, code: 'too_many_active', active };
      await c.query(
        `INSERT INTO silences (id, rule, destination, matchers, comment, created_by, created_at, ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          silence.id,
          silence.rule,
          silence.destination,
          JSON.stringify(silence.matchers),
          silence.comment,
          silence.createdBy,
          silence.createdAt,
          silence.endsAt,
        ],
      );
      return { ok: true, silence };
    });
  }

  async listSilences(q: { now: number; all: boolean; limit: number }): Promise<StoredSilence[]> {
    const rows = q.all
      ? await this.q(`SELECT * FROM silences ORDER BY created_at DESC, id DESC LIMIT $1`, [q.limit])
      : await this.q(`SELECT * FROM silences WHERE ends_at > $1 ORDER BY created_at DESC, id DESC LIMIT $2`, [q.now, q.limit]);
    return rows.map(toSilence);
  }

  async expireSilence(id: string, now: number): Promise<{ silence: StoredSilence; ended: boolean } | null> {
    const ended = (await this.q(`UPDATE silences SET ends_at = $1 WHERE id = $2 AND ends_at > $1 RETURNING id`, [now, id])).length > 0;
    const [row] = await this.q(`SELECT * FROM silences WHERE id = $1`, [id]);
    return row ? { silence: toSilence(row), ended } : null;
  }

  async requeueSilenced(ids: string[], now: number): Promise<string[]> {
    return this.requeue('silenced', ids, now);
  }
}
