// The SQLite engine (better-sqlite3, WAL). One server process writes; CLI commands read (WAL
// readers never block the writer) and make short writes of their own (retry, replay).
//
// Durability: synchronous=FULL, so a committed transaction survives power loss as well as kill -9.
// The cost of that fsync is shared by many events through group commit (store/group-commit.ts).
// The worker's bookkeeping (claims, outcomes) goes through a second connection with
// synchronous=NORMAL: losing the last of those writes to a power cut only means a delivery is sent
// again, which at-least-once allows, and it saves an fsync per batch of sends. WAL keeps the order:
// the next FULL commit syncs everything written before it.
import Database from 'better-sqlite3';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { MIGRATIONS } from './migrations.js';
import { WriteLock } from '../thread/write-lock.js';
import type { GroupPlacement, PlannedDelivery } from '../event/model.js';
import {
  StoreUnavailableError,
  type AdmitResult,
  type AdmitVerdict,
  type Activity,
  type ClaimRequest,
  type ClaimedDelivery,
  type DeliveryQuery,
  type DeliveryStatus,
  type DeliveryUpdate,
  type EventQuery,
  type FlushedNotification,
  type GatheredEvent,
  type NewSilence,
  type NotificationEvents,
  type CountedPair,
  type SilenceStored,
  type StoredSilence,
  type IngestItem,
  type IngestOutcome,
  type NewDelivery,
  type PlanCounts,
  type ReplicaInfo,
  type Store,
  type StoredAttempt,
  type StoredDelivery,
  type StoredEvent,
  type StoredReplica,
  type TypeCount,
} from './store.js';
import { type Row, toAttempt, toDelivery, toEvent, toSilence } from './rows.js';

export interface SqliteOptions {
  /** How long a write waits for another connection's lock before giving up (ms). */
  busyTimeoutMs?: number;
  /** Cap on the database size, its write-ahead log included; past it writes fail with SQLITE_FULL
   * (answered 503) and the store is not writable(). */
  maxBytes?: number | null;
  /** false: keep the WAL within its share of `maxBytes` but let writes grow the file (the delivery
   * thread's bookkeeping must always be recorded). Default true. */
  capWrites?: boolean;
  readonly?: boolean;
  /** Ingest only (the writer thread, store/sqlite-writer-thread.ts): no bookkeeping connection. */
  ingestOnly?: boolean;
  /** The lock this process's threads that write the file share (thread/write-lock.ts). */
  writeLock?: SharedArrayBuffer;
}

/** Each connection's page cache, as SQLite's negative (KiB) form. */
const CACHE_KIB = -256;

/** How long the readiness probe waits for the write lock (it blocks the event loop meanwhile). */
const PROBE_BUSY_MS = 250;

/** Pages an event may need at worst: a new leaf in each B-tree it writes (events and their
 * indexes, deliveries and theirs). Under this much room left, the store is full for readiness. */
const EVENT_PAGES = 16;

/** The share of DB_MAX_MB the write-ahead log may use: the database file gets the rest. The WAL is
 * checkpointed, and truncated, at half of it, so one transaction past that still fits. */
export function walBudgetBytes(maxBytes: number): number {
  return Math.min(4 * 1024 * 1024, Math.max(64 * 1024, Math.floor(maxBytes / 8)));
}

/** Errors of the database as a whole, not of one event: retrying a batch event by event is futile. */
const WHOLE_DB_ERRORS = /^SQLITE_(BUSY|LOCKED|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)/;

/** A server whose heartbeat is older than this has stopped, whatever its lock row says. */
export const LOCK_STALE_MS = 15_000;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

function storeError(err: unknown): StoreUnavailableError {
  if (err instanceof StoreUnavailableError) return err;
  return new StoreUnavailableError(`database unavailable (${(err as { code?: string }).code ?? 'unknown'})`, err);
}

/** Wraps a storage failure so callers can answer 503 without knowing SQLite. */
function unavailable(err: unknown): never {
  if (err instanceof StoreUnavailableError) throw err;
  const code = (err as { code?: string }).code ?? 'unknown';
  throw new StoreUnavailableError(`database unavailable (${code})`, err);
}

/** The destinations with deliveries queued: a skip-scan of the index, one seek per destination. */
const QUEUED_DESTINATIONS = `WITH RECURSIVE dests(d) AS (
    SELECT (SELECT min(destination) FROM deliveries INDEXED BY deliveries_due_destination WHERE status IN ('pending', 'failed'))
    UNION ALL
    SELECT (SELECT min(destination) FROM deliveries INDEXED BY deliveries_due_destination WHERE status IN ('pending', 'failed') AND destination > d)
    FROM dests WHERE d IS NOT NULL)`;

/** What a claim reads of each delivery, as `toClaimed` takes it (rowid first, for the lease). */
const CLAIM_COLUMNS = `d.rowid, d.id, d.event_seq, d.rule, d.destination, d.status, d.reason, d.privileged, d.attempts, d.round_attempts,
  d.next_attempt_at, d.created_at, d.updated_at, d.origin, d.event_count, e.payload, e.type`;

/** A claimed delivery from a raw row of CLAIM_COLUMNS: the fields `toDelivery` gives, then the event's. */
function toClaimed(r: unknown[]): ClaimedDelivery {
  return {
    id: r[1] as string,
    eventSeq: r[2] as number,
    rule: r[3] as string,
    destination: r[4] as string,
    status: r[5] as ClaimedDelivery['status'],
    reason: r[6] as string | null,
    privileged: r[7] === 1,
    attempts: r[8] as number,
    roundAttempts: r[9] as number,
    nextAttemptAt: r[10] as number | null,
    createdAt: r[11] as number,
    updatedAt: r[12] as number,
    origin: r[13] as ClaimedDelivery['origin'],
    eventCount: (r[14] as number | null) ?? 1,
    eventPayload: r[15] as string,
    eventType: r[16] as string | null,
  };
}

export class SqliteStore implements Store {
  readonly engine = 'sqlite' as const;
  readonly db: Database.Database;
  /** Bookkeeping connection (see above); the same as `db` when read-only. */
  private readonly bk: Database.Database;
  private readonly s: ReturnType<SqliteStore['prepare']>;

  constructor(
    readonly path: string,
    opts: SqliteOptions = {},
  ) {
    if (!opts.readonly && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    this.busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
    this.lock = opts.writeLock && !opts.readonly ? new WriteLock(opts.writeLock) : null;
    this.db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
    // A small page cache (256 KiB, not 2 MiB): in WAL mode a connection's cache is thrown away
    // whenever another connection commits, which here is all the time, so a large one only holds
    // memory (8-14 MB less peak RSS with four connections, the same CPU; docs/performance.md).
    this.db.pragma(`cache_size = ${CACHE_KIB}`);
    if (!opts.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.migrate();
      this.bk = path === ':memory:' || opts.ingestOnly ? this.db : new Database(path);
      this.bk.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
      this.bk.pragma(`cache_size = ${CACHE_KIB}`);
      if (this.bk !== this.db) this.bk.pragma('synchronous = NORMAL');
      if (opts.maxBytes) {
        // The WAL counts in the cap: it is kept to its budget by checkpointing (and truncating)
        // often, from every connection that writes, and the file gets what is left.
        const pageSize = this.db.pragma('page_size', { simple: true }) as number;
        const walBytes = walBudgetBytes(opts.maxBytes);
        for (const c of new Set([this.db, this.bk])) {
          c.pragma(`wal_autocheckpoint = ${Math.max(1, Math.floor(walBytes / 2 / pageSize))}`);
          c.pragma(`journal_size_limit = ${Math.floor(walBytes / 2)}`);
        }
        // The cap applies to ingest (this connection) only: bookkeeping writes must always succeed,
        // or a sent delivery could not be recorded and would be sent again.
        if (opts.capWrites ?? true) {
          this.cap = { pageSize, walBytes, pages: Math.max(1, Math.floor((opts.maxBytes - walBytes) / pageSize)), set: 0 };
          this.limitPages();
        }
      }
    } else {
      this.bk = this.db;
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version > MIGRATIONS.length) throw new Error(`database ${path} is from a newer b3os-router (schema ${version})`);
    }
    this.s = this.prepare();
  }

  /** DB_MAX_MB as pages of the file: `pages` when the WAL is within its budget. */
  private readonly cap: { pageSize: number; walBytes: number; pages: number; set: number } | null = null;
  /** Taken around every write transaction of the serving process (thread/write-lock.ts); null when no other thread writes. */
  private readonly lock: WriteLock | null;
  private readonly busyTimeoutMs: number;

  private walSize(): number {
    try {
      return statSync(`${this.path}-wal`).size;
    } catch {
      return 0;
    }
  }

  /** Pages the file may have now: the cap, less what the WAL holds beyond its budget (a checkpoint
   * held back by a long reader). Applied as max_page_count, so ingest fails (503) past it. */
  private limitPages(): number {
    const cap = this.cap!;
    const over = Math.max(0, this.walSize() - cap.walBytes);
    const pages = Math.max(1, cap.pages - Math.ceil(over / cap.pageSize));
    if (pages !== cap.set) {
      // SQLite never sets it below the file's current page count; that page count is then the limit.
      this.db.pragma(`max_page_count = ${pages}`);
      cap.set = pages;
    }
    return pages;
  }

  /** Pages ingest can still fill (free pages inside the file count), or null without a cap. */
  private pagesLeft(): number | null {
    if (!this.cap) return null;
    const limit = this.limitPages();
    const count = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    return limit - count + free;
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(`database ${this.path} is from a newer b3os-router (schema ${version}, this one knows ${MIGRATIONS.length})`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db
        .transaction(() => {
          this.db.exec(MIGRATIONS[v]!);
          this.db.pragma(`user_version = ${v + 1}`);
        })
        .immediate();
    }
  }

  private prepare() {
    const db = this.db;
    const bk = this.bk;
    return {
      upsertEvent: db.prepare(
        `INSERT INTO events (key, key_kind, event_id, run_id, execution_id, type, received_at, last_seen_at, payload, routing)
         VALUES (@key, @keyKind, @eventId, @runId, @executionId, @type, @receivedAt, @receivedAt, @payload, @routing)
         ON CONFLICT(key) DO UPDATE SET duplicates = duplicates + 1, last_seen_at = excluded.last_seen_at
         RETURNING seq, duplicates`,
      ),
      insertDelivery: db.prepare(
        `INSERT INTO deliveries (id, event_seq, rule, destination, status, reason, privileged, next_attempt_at, created_at, updated_at, origin, allowed_at, event_count, group_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      // By allowed_at: when policy let it out (at ingest, at send time, or at its retry). One
      // blocked later, at send time, was never sent and no longer counts.
      allowedSince: db.prepare(
        `SELECT count(*) AS n FROM deliveries INDEXED BY deliveries_allowed
         WHERE rule = ? AND destination = ? AND allowed_at IS NOT NULL AND allowed_at > ? AND status <> 'blocked'`,
      ),
      admitted: db.prepare(`UPDATE deliveries SET allowed_at = @now, privileged = 1 WHERE id = @id AND status IN ('pending', 'failed')`),
      admittedDead: db.prepare(
        `UPDATE deliveries SET status = 'pending', round_attempts = 0, next_attempt_at = @now, lease_until = NULL, updated_at = @now, reason = NULL,
           allowed_at = @now, privileged = 0
         WHERE status = 'dead' AND id = @id`,
      ),
      // `+@limit`, not `@limit`: SQLite (3.53) lets the planner read a bare bound LIMIT, which
      // marks the statement to be compiled again whenever that parameter is bound, on every
      // claim (a fifth of its CPU). The plan is the same either way (INDEXED BY, in due order).
      // Rows as arrays (`raw`), in CLAIM_COLUMNS' order: an object per row, one property at a
      // time, cost more than the query itself.
      dueFor: bk
        .prepare(
          `SELECT ${CLAIM_COLUMNS}
         FROM deliveries d INDEXED BY deliveries_due_destination JOIN events e ON e.seq = d.event_seq
         WHERE d.destination = @dest AND d.status IN ('pending', 'failed') AND d.next_attempt_at <= @now
           AND (d.lease_until IS NULL OR d.lease_until < @now)
         ORDER BY d.next_attempt_at LIMIT +@limit`,
        )
        .raw(),
      // The destinations that have deliveries waiting: a skip-scan of the index, one seek per destination.
      dueDestinations: bk
        .prepare(
          `${QUEUED_DESTINATIONS}
           SELECT d FROM dests WHERE d IS NOT NULL`,
        )
        .pluck(),
      // By rowid, as the claim read it: no seek through the primary key's index.
      lease: bk.prepare(`UPDATE deliveries SET lease_until = ? WHERE rowid = ?`),
      // Two forms, so the queue counter knows what a finished delivery was: the first updates
      // only a queued one (nearly always, it was claimed), the second anything else.
      finishQueued: bk.prepare(
        `UPDATE deliveries SET status = @status, reason = @reason, attempts = attempts + @counted,
           round_attempts = round_attempts + @counted, next_attempt_at = @nextAttemptAt, lease_until = NULL, updated_at = @now
         WHERE id = @id AND status IN ('pending', 'failed')`,
      ),
      finish: bk.prepare(
        `UPDATE deliveries SET status = @status, reason = @reason, attempts = attempts + @counted,
           round_attempts = round_attempts + @counted, next_attempt_at = @nextAttemptAt, lease_until = NULL, updated_at = @now
         WHERE id = @id`,
      ),
      insertAttempt: bk.prepare(
        `INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, outcome, code, error)
         VALUES (@deliveryId, @attempt, @startedAt, @durationMs, @outcome, @code, @error)`,
      ),
      releaseLeases: bk.prepare(`UPDATE deliveries SET lease_until = NULL WHERE lease_until IS NOT NULL`),
      heartbeat: bk.prepare(
        'UPDATE server_lock SET heartbeat_at = ?, version = coalesce(?, version), rules_hash = coalesce(?, rules_hash) WHERE id = 1 AND pid = ?',
      ),
      probe: db.prepare('SELECT 1'),
      eventBySeq: db.prepare(`SELECT * FROM events WHERE seq = ?`),
      eventByKey: db.prepare(`SELECT * FROM events WHERE key = ?`),
      eventById: db.prepare(`SELECT * FROM events WHERE event_id = ? ORDER BY seq DESC LIMIT 1`),
      eventsSince: db.prepare(`SELECT * FROM events WHERE received_at >= ? AND seq > ? ORDER BY seq LIMIT ?`),
      delivery: db.prepare(`SELECT * FROM deliveries WHERE id = ?`),
      // Its own deliveries, and the digests that carried it (through group_events).
      deliveriesForEvent: db.prepare(
        `SELECT * FROM deliveries WHERE event_seq = @seq
           OR id IN (SELECT delivery_id FROM group_events WHERE event_seq = @seq AND delivery_id IS NOT NULL)
         ORDER BY created_at, rowid`,
      ),
      attempts: db.prepare(`SELECT * FROM attempts WHERE delivery_id = ? ORDER BY attempt`),
      requeue: db.prepare(
        `UPDATE deliveries SET status = 'pending', round_attempts = 0, next_attempt_at = @now, lease_until = NULL, updated_at = @now, reason = NULL, privileged = 0
         WHERE status = 'dead' AND id = @id`,
      ),
      // O(1) in the queue's length: the counter of migration 8 (kept by `queuedTx`), and the earliest
      // due time as one index seek per destination (the skip-scan claims use).
      depth: db.prepare(`SELECT n FROM queue_depth WHERE id = 1`).pluck(),
      queuedOnDb: db.prepare(`UPDATE queue_depth SET n = n + ? WHERE id = 1`),
      queuedOnBk: bk.prepare(`UPDATE queue_depth SET n = n + ? WHERE id = 1`),
      earliestDue: db
        .prepare(
          `${QUEUED_DESTINATIONS}
           SELECT min((SELECT min(next_attempt_at) FROM deliveries INDEXED BY deliveries_due_destination
                        WHERE destination = dests.d AND status IN ('pending', 'failed')))
           FROM dests WHERE d IS NOT NULL`,
        )
        .pluck(),
      // Old events whose deliveries are all finished, and finished before the cut-off too (a
      // delivery retried yesterday on an old event stays visible for a full retention period).
      prunable: db.prepare(
        `SELECT seq FROM events e WHERE received_at < @before
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq
                           AND (d.status IN ('pending', 'failed') OR d.updated_at >= @before))
           AND NOT EXISTS (SELECT 1 FROM group_events g LEFT JOIN deliveries d ON d.id = g.delivery_id
                           WHERE g.event_seq = e.seq AND (g.delivery_id IS NULL OR d.status IN ('pending', 'failed') OR d.updated_at >= @before))
         ORDER BY received_at LIMIT @batch`,
      ),
      deleteGatheredOfEvent: db.prepare(`DELETE FROM group_events WHERE event_seq = ?`),
      deleteAttemptsOfEvent: db.prepare(`DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_seq = ?)`),
      deleteDeliveriesOfEvent: db.prepare(`DELETE FROM deliveries WHERE event_seq = ?`),
      deleteEvent: db.prepare(`DELETE FROM events WHERE seq = ?`),
    };
  }

  private readonly counts: PlanCounts = {
    allowedSince: (rule, destination, since) => (this.s.allowedSince.get(rule, destination, since) as { n: number }).n,
  };

  /**
   * The change the open transaction makes to the queue's length (deliveries pending or failed),
   * added to queue_depth in that same transaction by `queuedTx`. Every statement that changes
   * deliveries.status is in this file and counts here.
   */
  private queued = 0;

  /** An IMMEDIATE transaction on `conn` that also records its change to the queue's length. */
  private queuedTx<T>(conn: Database.Database, body: () => T): T {
    this.queued = 0;
    try {
      return conn
        .transaction(() => {
          const result = body();
          if (this.queued !== 0) (conn === this.db ? this.s.queuedOnDb : this.s.queuedOnBk).run(this.queued);
          return result;
        })
        .immediate();
    } finally {
      this.queued = 0;
    }
  }

  /** One delivery row; returns its id. */
  private insertOne(d: Omit<NewDelivery, 'status'> & { status: PlannedDelivery['status'] }, now: number, eventCount: number, groupId: string | null): string {
    // Time-ordered ids (UUIDv7): stable and unique like any UUID, but new rows land at the end
    // of the primary-key index instead of all over it.
    const id = uuidv7();
    if (d.status === 'pending') this.queued++;
    this.s.insertDelivery.run(
      id,
      d.eventSeq,
      d.rule,
      d.destination,
      d.status,
      d.reason,
      d.privileged ? 1 : 0,
      d.status === 'pending' ? now : null,
      now,
      now,
      d.origin,
      d.privileged && d.status === 'pending' ? now : null,
      eventCount,
      groupId,
    );
    return id;
  }

  private ingestOne(item: IngestItem): IngestOutcome {
    const row = this.s.upsertEvent.get(item.event) as { seq: number; duplicates: number };
    if (row.duplicates > 0) return { status: 'duplicate', seq: row.seq };
    const planned = item.plan(this.counts);
    const now = item.event.receivedAt;
    for (const p of planned) this.place({ ...p, eventSeq: row.seq, origin: 'ingest' }, now);
    return { status: 'accepted', seq: row.seq, planned };
  }

  /** A new delivery: one of a grouped rule joins its group, any other is inserted. */
  private place(d: NewDelivery, now: number): void {
    if (d.group && d.status === 'pending') this.gather({ ...d, status: 'pending' }, d.group, now);
    else this.insertOne(d, now, 1, null);
  }

  /**
   * A grouped delivery joins its group (contract §9). The group is open while events wait for
   * its flush, or within `interval` of its last notification; then the event is gathered and
   * the flush is due at the end of that interval. Otherwise the event opens the group: sent at
   * once with `wait` 0 (a notification of its own), else gathered with the flush due after `wait`.
   */
  private gather(d: Omit<NewDelivery, 'status'> & { status: 'pending' }, g: GroupPlacement, now: number): void {
    const s = this.g;
    let group = s.group.get(d.rule, d.destination, g.key) as { id: string; last_sent_at: number | null; flush_at: number | null } | undefined;
    if (!group) {
      group = { id: uuidv7(), last_sent_at: null, flush_at: null };
      s.insertGroup.run(group.id, d.rule, d.destination, g.key, JSON.stringify(g.values), now);
    }
    const open = group.flush_at !== null || (group.last_sent_at !== null && now < group.last_sent_at + g.intervalMs);
    if (open) {
      s.gather.run(group.id, d.eventSeq, now, null);
      if (group.flush_at === null) s.setFlush.run(group.last_sent_at! + g.intervalMs, group.id);
      return;
    }
    if (g.waitMs === 0) {
      const id = this.insertOne(d, now, 1, group.id);
      s.gather.run(group.id, d.eventSeq, now, id);
      s.reopen.run({ id: group.id, now, last: now, flush: null });
    } else {
      s.gather.run(group.id, d.eventSeq, now, null);
      s.reopen.run({ id: group.id, now, last: null, flush: now + g.waitMs });
    }
  }

  private noise: ReturnType<SqliteStore['prepareNoise']> | null = null;

  /** Statements of noise control (groups, gathered events, silences), prepared on first use. */
  private get g(): ReturnType<SqliteStore['prepareNoise']> {
    if (this.noise === null) this.noise = this.prepareNoise();
    return this.noise;
  }

  private prepareNoise() {
    const db = this.db;
    return {
      group: db.prepare(`SELECT id, last_sent_at, flush_at FROM groups WHERE rule = ? AND destination = ? AND key = ?`),
      insertGroup: db.prepare(`INSERT INTO groups (id, rule, destination, key, group_values, opened_at) VALUES (?, ?, ?, ?, ?, ?)`),
      gather: db.prepare(`INSERT OR IGNORE INTO group_events (group_id, event_seq, gathered_at, delivery_id) VALUES (?, ?, ?, ?)`),
      setFlush: db.prepare(`UPDATE groups SET flush_at = ? WHERE id = ?`),
      reopen: db.prepare(`UPDATE groups SET opened_at = @now, last_sent_at = @last, flush_at = @flush WHERE id = @id`),
      anyDue: db.prepare(`SELECT 1 FROM groups INDEXED BY groups_flush WHERE flush_at IS NOT NULL AND flush_at <= ? LIMIT 1`).pluck(),
      due: db.prepare(`SELECT * FROM groups INDEXED BY groups_flush WHERE flush_at IS NOT NULL AND flush_at <= ? ORDER BY flush_at LIMIT ?`),
      waiting: db.prepare(`SELECT event_seq FROM group_events WHERE group_id = ? AND delivery_id IS NULL ORDER BY event_seq`).pluck(),
      link: db.prepare(`UPDATE group_events SET delivery_id = ? WHERE group_id = ? AND delivery_id IS NULL`),
      sent: db.prepare(`UPDATE groups SET last_sent_at = ?, flush_at = NULL WHERE id = ?`),
      // By the group's primary key (group_id, event_seq), from a given seq: each page is a range read.
      carried: db.prepare(
        `SELECT e.* FROM group_events g JOIN events e ON e.seq = g.event_seq
         WHERE g.group_id = (SELECT group_id FROM deliveries WHERE id = @id) AND g.delivery_id = @id AND g.event_seq > @after
         ORDER BY g.event_seq LIMIT @limit`,
      ),
      carriedCount: db.prepare(`SELECT count(*) AS n FROM group_events WHERE delivery_id = ?`).pluck(),
      groupOfDelivery: db.prepare(`SELECT gr.group_values FROM deliveries d JOIN groups gr ON gr.id = d.group_id WHERE d.id = ?`).pluck(),
      gatheredFor: db.prepare(
        `SELECT g.group_id, g.gathered_at, g.delivery_id, gr.rule, gr.destination, gr.group_values, gr.flush_at
         FROM group_events g JOIN groups gr ON gr.id = g.group_id WHERE g.event_seq = ? ORDER BY g.gathered_at`,
      ),
      insertSilence: db.prepare(
        `INSERT INTO silences (id, rule, destination, matchers, comment, created_by, created_at, ends_at)
         VALUES (@id, @rule, @destination, @matchers, @comment, @createdBy, @createdAt, @endsAt)`,
      ),
      silence: db.prepare(`SELECT * FROM silences WHERE id = ?`),
      activeSilenceCount: db.prepare(`SELECT count(*) FROM silences WHERE ends_at > ?`).pluck(),
      activeSilences: db.prepare(`SELECT * FROM silences WHERE ends_at > ? ORDER BY created_at DESC, id DESC LIMIT ?`),
      allSilences: db.prepare(`SELECT * FROM silences ORDER BY created_at DESC, id DESC LIMIT ?`),
      expireSilence: db.prepare(`UPDATE silences SET ends_at = ? WHERE id = ? AND ends_at > ?`),
      requeueSilenced: db.prepare(
        `UPDATE deliveries SET status = 'pending', privileged = 0, allowed_at = NULL, round_attempts = 0, next_attempt_at = @now,
           lease_until = NULL, updated_at = @now, reason = NULL
         WHERE status = 'silenced' AND id = @id`,
      ),
    };
  }

  ingest(items: IngestItem[]): Promise<IngestOutcome[]> {
    return this.exclusive(() => this.ingestNow(items));
  }

  /** Its write transactions wait for the other threads' in turn (thread/write-lock.ts): on the
   * main thread and the delivery thread a SQLite busy wait would sleep their event loop. */
  private exclusive<T>(body: () => T, timeoutMs = this.busyTimeoutMs): Promise<T> {
    if (this.lock) return this.lock.run(timeoutMs, body);
    try {
      return Promise.resolve(body());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private ingestNow(items: IngestItem[]): IngestOutcome[] {
    try {
      if (this.cap) this.limitPages();
      return this.queuedTx(this.db, () => items.map((item) => this.ingestOne(item)));
    } catch (err) {
      if (items.length === 1 || WHOLE_DB_ERRORS.test((err as { code?: string }).code ?? ''))
        return items.map(() => ({ status: 'failed', error: storeError(err) }));
    }
    // The batch failed as a whole (rolled back). Again with a savepoint per event, so that one
    // that cannot be stored (say, too large for what is left under DB_MAX_MB) fails alone and the
    // rest still commit. The fast path above pays for no savepoints.
    try {
      return this.queuedTx(this.db, () =>
        items.map((item): IngestOutcome => {
          const before = this.queued;
          try {
            return this.db.transaction(() => this.ingestOne(item))();
          } catch (err) {
            this.queued = before; // its savepoint was rolled back
            return { status: 'failed', error: storeError(err) };
          }
        }),
      );
    } catch (err) {
      unavailable(err);
    }
  }

  async claimDue(req: ClaimRequest): Promise<ClaimedDelivery[]> {
    // A read first, without the write lock: an idle poll never contends with ingest.
    if (this.s.dueDestinations.all().length === 0) return [];
    return this.exclusive(() => this.claimNow(req));
  }

  private claimNow(req: ClaimRequest): ClaimedDelivery[] {
    return this.bk.transaction(() => this.claimRows(req)).immediate();
  }

  /** The claim, inside the caller's transaction on the bookkeeping connection. */
  private claimRows(req: ClaimRequest): ClaimedDelivery[] {
    const claimed: ClaimedDelivery[] = [];
    // Each destination with deliveries waiting and room left: one indexed read of at most its
    // room. A destination's backlog costs the others nothing (a single query ordered by due time
    // had to walk past it on every claim, which made claiming O(backlog)).
    // The starting destination rotates from one claim to the next, so that when the global
    // bound is what limits a claim, no destination is always last in line.
    const dests = this.s.dueDestinations.all() as string[];
    const start = dests.length === 0 ? 0 : this.claimTurn++ % dests.length;
    for (let i = 0; i < dests.length; i++) {
      const dest = dests[(start + i) % dests.length]!;
      if (claimed.length >= req.limit) break;
      const left = req.room.get(dest) ?? req.defaultRoom;
      if (left <= 0) continue;
      const until = req.now + (req.leases?.get(dest) ?? req.leaseMs);
      for (const r of this.s.dueFor.all({ dest, now: req.now, limit: Math.min(left, req.limit - claimed.length) }) as unknown[][]) {
        this.s.lease.run(until, r[0]);
        claimed.push(toClaimed(r));
      }
    }
    return claimed;
  }

  private claimTurn = 0;

  /** The outcomes, inside the caller's transaction on the bookkeeping connection. */
  private finishRows(updates: DeliveryUpdate[], withAttempts: boolean, now: number): void {
    for (const u of updates) {
      if (u.attempt && withAttempts) this.s.insertAttempt.run({ ...u.attempt, error: u.attempt.error?.slice(0, 2000) ?? null });
      const p = { id: u.id, status: u.status, reason: u.reason?.slice(0, 2000) ?? null, nextAttemptAt: u.nextAttemptAt, counted: u.attempt ? 1 : 0, now };
      const wasQueued = this.s.finishQueued.run(p).changes > 0;
      if (!wasQueued) this.s.finish.run(p);
      this.queued += (u.status === 'failed' ? 1 : 0) - (wasQueued ? 1 : 0);
    }
  }

  finish(updates: DeliveryUpdate[]): Promise<void> {
    return this.exclusive(() => {
      const now = Date.now();
      try {
        this.queuedTx(this.bk, () => this.finishRows(updates, true, now));
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_FULL') unavailable(err);
        this.finishWithoutAttempts(updates, now);
      }
    });
  }

  /** A full database still takes status updates (they need no new pages); the attempt rows are
   * what is given up, so that a sent delivery is never sent again for want of space. */
  private finishWithoutAttempts(updates: DeliveryUpdate[], now: number): void {
    try {
      this.queuedTx(this.bk, () => this.finishRows(updates, false, now));
    } catch (err) {
      unavailable(err);
    }
  }

  finishAndClaim(updates: DeliveryUpdate[], claim: ClaimRequest): Promise<ClaimedDelivery[]> {
    return this.exclusive(() => {
      try {
        return this.queuedTx(this.bk, () => {
          this.finishRows(updates, true, Date.now());
          return this.claimRows(claim);
        });
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_FULL') unavailable(err);
        // Full: the outcomes without their attempt rows (not tried with them again), then the claim
        // on its own (the worker counts on this call having claimed for the batch's slots).
        this.finishWithoutAttempts(updates, Date.now());
        try {
          return this.claimNow(claim);
        } catch {
          return [];
        }
      }
    });
  }

  async releaseLeases(): Promise<number> {
    return this.s.releaseLeases.run().changes;
  }

  async findEvent(idOrKey: string): Promise<StoredEvent | null> {
    const r = (this.s.eventByKey.get(idOrKey) ?? this.s.eventById.get(idOrKey)) as Row | undefined;
    return r ? toEvent(r) : null;
  }

  async getEvent(seq: number): Promise<StoredEvent | null> {
    const r = this.s.eventBySeq.get(seq) as Row | undefined;
    return r ? toEvent(r) : null;
  }

  async listEvents(q: EventQuery): Promise<StoredEvent[]> {
    const rows = this.filtered(
      'events',
      [
        ['type = ?', q.type],
        ['received_at >= ?', q.since],
      ],
      'seq DESC',
      q.limit,
    );
    return rows.map(toEvent);
  }

  /** A listing with optional filters (each applied when its value is given), newest first. */
  private filtered(table: 'events' | 'deliveries', filters: [string, unknown][], order: string, limit: number): Row[] {
    const used = filters.filter(([, v]) => v !== undefined);
    const where = used.length ? `WHERE ${used.map(([c]) => c).join(' AND ')}` : '';
    return this.db.prepare(`SELECT * FROM ${table} ${where} ORDER BY ${order} LIMIT ?`).all(...used.map(([, v]) => v), limit) as Row[];
  }

  async eventsSince(since: number, limit: number, afterSeq = 0): Promise<StoredEvent[]> {
    return (this.s.eventsSince.all(since, afterSeq, limit) as Row[]).map(toEvent);
  }

  async listDeliveries(q: DeliveryQuery): Promise<StoredDelivery[]> {
    const filters: [string, unknown][] = [
      ['status = ?', q.status],
      ['destination = ?', q.destination],
      ['updated_at >= ?', q.since],
    ];
    return this.filtered('deliveries', filters, 'updated_at DESC, rowid DESC', q.limit).map(toDelivery);
  }

  async getDelivery(id: string): Promise<StoredDelivery | null> {
    const r = this.s.delivery.get(id) as Row | undefined;
    return r ? toDelivery(r) : null;
  }

  async deliveriesForEvent(seq: number): Promise<StoredDelivery[]> {
    return (this.s.deliveriesForEvent.all({ seq }) as Row[]).map(toDelivery);
  }

  async attemptsFor(deliveryId: string): Promise<StoredAttempt[]> {
    return (this.s.attempts.all(deliveryId) as Row[]).map(toAttempt);
  }

  requeueDead(ids: string[], now: number): Promise<string[]> {
    return this.exclusive(() => this.requeue(ids, (id) => this.s.requeue.run({ id, now }).changes > 0));
  }

  /** Back to pending (the statement says from what), counted into the queue in the same transaction. */
  private requeue(ids: string[], moved: (id: string) => boolean): string[] {
    try {
      return this.queuedTx(this.db, () => {
        const requeued = ids.filter(moved);
        this.queued += requeued.length;
        return requeued;
      });
    } catch (err) {
      unavailable(err);
    }
  }

  admit(
    ids: string[],
    decide: (delivery: StoredDelivery, counts: PlanCounts) => AdmitVerdict,
    opts: { now: number; requeueDead: boolean },
  ): Promise<AdmitResult[]> {
    return this.exclusive(() => {
      const waiting = (d: StoredDelivery) => (opts.requeueDead ? d.status === 'dead' : d.status === 'pending' || d.status === 'failed');
      try {
        // IMMEDIATE: the write lock is taken before the first count, so no other connection (the
        // server's ingest, the delivery thread, a CLI retry or replay) can count between this
        // count and this stamp.
        return this.queuedTx(this.db, () =>
          ids.map((id): AdmitResult => {
            const row = this.s.delivery.get(id) as Row | undefined;
            const d = row ? toDelivery(row) : null;
            if (!d || !waiting(d)) return { id, outcome: 'skipped', reason: null };
            const own = row!.allowed_at as number | null;
            // Its own earlier allowance (a dead delivery sent within the hour) is replaced by this one.
            const counts: PlanCounts = {
              allowedSince: (rule, destination, since) =>
                this.counts.allowedSince(rule, destination, since) -
                (rule === d.rule && destination === d.destination && own !== null && own > since && d.status !== 'blocked' ? 1 : 0),
            };
            const verdict = decide(d, counts);
            if (!verdict.allowed) return { id, outcome: 'refused', reason: verdict.reason };
            // A dead one requeued joins the queue; one already waiting is only stamped.
            if ((opts.requeueDead ? this.s.admittedDead : this.s.admitted).run({ id, now: opts.now }).changes > 0 && opts.requeueDead) this.queued++;
            return { id, outcome: 'admitted', reason: null };
          }),
        );
      } catch (err) {
        unavailable(err);
      }
    });
  }

  addDeliveries(
    events: StoredEvent[],
    plan: (event: StoredEvent, existing: StoredDelivery[], counts: PlanCounts, waiting: readonly CountedPair[]) => NewDelivery[],
    now: number,
  ): Promise<NewDelivery[]> {
    return this.exclusive(() => {
      try {
        return this.queuedTx(this.db, () => {
          const added: NewDelivery[] = [];
          for (const e of events) {
            const existing = (this.s.deliveriesForEvent.all({ seq: e.seq }) as Row[]).map(toDelivery);
            // The groups it waits in: gathered, no notification made yet.
            const waiting: CountedPair[] = (this.g.gatheredFor.all(e.seq) as Row[])
              .filter((g) => g.delivery_id === null)
              .map((g) => ({ rule: g.rule as string, destination: g.destination as string }));
            const list = plan(e, existing, this.counts, waiting);
            // A replayed delivery of a grouped rule joins its group, as at ingest.
            for (const d of list) this.place(d, now);
            added.push(...list);
          }
          return added;
        });
      } catch (err) {
        unavailable(err);
      }
    });
  }

  async allowedSince(rule: string, destination: string, since: number): Promise<number> {
    return this.counts.allowedSince(rule, destination, since);
  }

  saveRulesVersion(hash: string, text: string, now: number): Promise<void> {
    return this.exclusive(() => {
      try {
        this.db.prepare(`INSERT INTO rules_versions (hash, text, saved_at) VALUES (?, ?, ?) ON CONFLICT(hash) DO NOTHING`).run(hash, text, now);
      } catch (err) {
        unavailable(err);
      }
    });
  }

  async rulesVersion(hash: string): Promise<string | null> {
    const text = this.db.prepare(`SELECT text FROM rules_versions WHERE hash = ?`).pluck().get(hash) as string | undefined;
    return text ?? null;
  }

  async stats(now: number): Promise<{ queueDepth: number; oldestDueAgeSeconds: number }> {
    const n = (this.s.depth.get() as number | undefined) ?? 0;
    const earliest = n === 0 ? null : (this.s.earliestDue.get() as number | null);
    return { queueDepth: n, oldestDueAgeSeconds: earliest === null || earliest > now ? 0 : (now - earliest) / 1000 };
  }

  prune(before: number, batch: number): Promise<number> {
    return this.exclusive(() =>
      this.db
        .transaction(() => {
          const seqs = this.s.prunable.all({ before, batch }) as { seq: number }[];
          for (const { seq } of seqs) {
            this.s.deleteAttemptsOfEvent.run(seq);
            this.s.deleteDeliveriesOfEvent.run(seq);
            this.s.deleteGatheredOfEvent.run(seq);
            this.s.deleteEvent.run(seq);
          }
          return seqs.length;
        })
        .immediate(),
    );
  }

  async writable(): Promise<boolean> {
    if (!this.db.open || this.db.readonly) return false;
    // Ready means an event would be stored: under DB_MAX_MB, room for one is needed too (the
    // lock probe below needs no new page, so a full database would pass it).
    try {
      const left = this.pagesLeft();
      if (left !== null && left < EVENT_PAGES) return false;
    } catch {
      return false;
    }
    return this.exclusive(() => {
      const busy = this.db.pragma('busy_timeout', { simple: true }) as number;
      try {
        // BEGIN IMMEDIATE takes the write lock: it fails when the file is read-only, locked by
        // another writer for longer than a short wait (the delivery thread's brief claims are not
        // that), or the disk is gone.
        this.db.pragma(`busy_timeout = ${PROBE_BUSY_MS}`);
        this.db.transaction(() => this.s.probe.get()).immediate();
        return true;
      } catch {
        return false;
      } finally {
        this.db.pragma(`busy_timeout = ${busy}`);
      }
    }, PROBE_BUSY_MS);
  }

  async acquireServerLock(pid: number, host: string, now: number, info?: ReplicaInfo): Promise<{ ok: true } | { ok: false; holder: string }> {
    return this.db
      .transaction(() => {
        const held = this.db.prepare('SELECT * FROM server_lock WHERE id = 1').get() as { pid: number; host: string; heartbeat_at: number } | undefined;
        if (held && held.pid !== pid && now - held.heartbeat_at < LOCK_STALE_MS) {
          // A fresh heartbeat from a process that is gone (kill -9 on this host) is no claim.
          const alive = held.host !== host || processAlive(held.pid);
          if (alive) return { ok: false as const, holder: `pid ${held.pid} on ${held.host}, last seen ${Math.round((now - held.heartbeat_at) / 1000)}s ago` };
        }
        this.db
          .prepare(
            `INSERT INTO server_lock (id, pid, host, started_at, heartbeat_at, version, rules_hash) VALUES (1, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET pid = excluded.pid, host = excluded.host, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
             version = excluded.version, rules_hash = excluded.rules_hash`,
          )
          .run(pid, host, now, now, info?.version ?? null, info?.rulesHash ?? null);
        return { ok: true as const };
      })
      .immediate();
  }

  async heartbeat(pid: number, now: number, info?: ReplicaInfo): Promise<void> {
    await this.exclusive(() => this.s.heartbeat.run(now, info?.version ?? null, info?.rulesHash ?? null, pid));
  }

  async replicas(): Promise<StoredReplica[]> {
    const rows = this.db.prepare('SELECT * FROM server_lock').all() as Row[];
    return rows.map((r) => ({
      host: r.host as string,
      pid: r.pid as number,
      version: (r.version as string | null) ?? '',
      rulesHash: (r.rules_hash as string | null) ?? '',
      startedAt: r.started_at as number,
      lastSeenAt: r.heartbeat_at as number,
    }));
  }

  listen(_onDue: () => void): { close(): Promise<void> } {
    // One server per database: its own commits wake its worker; the poll covers the CLI's.
    return { close: async () => undefined };
  }

  async releaseServerLock(pid: number): Promise<void> {
    this.db.prepare('DELETE FROM server_lock WHERE id = 1 AND pid = ?').run(pid);
  }

  async close(): Promise<void> {
    if (this.bk !== this.db && this.bk.open) this.bk.close();
    if (this.db.open) this.db.close();
  }

  async typeCounts(since: number): Promise<TypeCount[]> {
    // Linear in the stored events, and it never reads a payload: (type, received_at) is indexed.
    const rows = this.db
      .prepare(`SELECT type, count(*) AS n, max(received_at) AS last FROM events WHERE received_at >= ? GROUP BY type ORDER BY n DESC, type`)
      .all(since) as { type: string | null; n: number; last: number }[];
    return rows.map((r) => ({ type: r.type, count: r.n, lastReceivedAt: r.last }));
  }

  // Reads for the console. Prepared on first use: most processes never open the console.
  private consoleStatements?: ReturnType<SqliteStore['prepareConsole']>;

  private prepareConsole() {
    const db = this.db;
    return {
      events: db.prepare(
        `SELECT CAST((received_at - @since) / @bucket AS INTEGER) AS bucket, count(*) AS n,
                sum(EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq)) AS routed
         FROM events e WHERE received_at >= @since GROUP BY bucket`,
      ),
      deliveries: db.prepare(
        `SELECT CAST((updated_at - @since) / @bucket AS INTEGER) AS bucket, status, count(*) AS n FROM deliveries
         WHERE status IN ('pending', 'failed', 'delivered', 'dead', 'blocked') AND updated_at >= @since GROUP BY bucket, status`,
      ),
      status: db.prepare(`SELECT count(*) AS n FROM deliveries WHERE status = ?`).pluck(),
      scanned: db.prepare(`SELECT count(*) FROM (SELECT 1 FROM events WHERE received_at >= ? ORDER BY seq DESC LIMIT ?)`).pluck(),
      matches: db.prepare(
        `SELECT json_extract(j.value, '$.rule') AS rule, count(*) AS n
         FROM (SELECT routing FROM events WHERE received_at >= ? AND json_valid(routing) ORDER BY seq DESC LIMIT ?) e,
              json_each(e.routing, '$.outcomes') j
         WHERE json_extract(j.value, '$.matched') = 1 GROUP BY rule`,
      ),
    };
  }

  private get cs() {
    if (!this.consoleStatements) this.consoleStatements = this.prepareConsole();
    return this.consoleStatements;
  }

  async activity(since: number, bucketMs: number): Promise<Activity> {
    const p = { since: Math.floor(since), bucket: Math.max(1, Math.floor(bucketMs)) };
    const events = (this.cs.events.all(p) as { bucket: number; n: number; routed: number }[]).map((r) => ({
      bucket: r.bucket,
      routed: r.routed,
      unrouted: r.n - r.routed,
    }));
    const deliveries = (this.cs.deliveries.all(p) as { bucket: number; status: DeliveryStatus; n: number }[]).map((r) => ({
      bucket: r.bucket,
      status: r.status,
      count: r.n,
    }));
    return { events, deliveries, dead: this.cs.status.get('dead') as number, blocked: this.cs.status.get('blocked') as number };
  }

  async ruleMatches(since: number, limit: number): Promise<{ events: number; counts: Record<string, number> }> {
    const counts: Record<string, number> = {};
    for (const r of this.cs.matches.all(since, limit) as { rule: string; n: number }[]) counts[r.rule] = r.n;
    return { events: this.cs.scanned.get(since, limit) as number, counts };
  }

  async eventPage(q: EventQuery & { beforeSeq?: number }): Promise<StoredEvent[]> {
    return this.filtered(
      'events',
      [
        ['type = ?', q.type],
        ['received_at >= ?', q.since],
        ['seq < ?', q.beforeSeq],
      ],
      'seq DESC',
      q.limit,
    ).map(toEvent);
  }

  // ---- noise control (contract §9) ----

  async flushGroups(now: number, limit: number): Promise<FlushedNotification[]> {
    try {
      // A read first, without the write lock: an idle poll never contends with ingest.
      if (this.g.anyDue.get(now) === undefined) return [];
      // On the FULL connection: a digest is created rarely, and it must not be made twice.
      return await this.exclusive(() =>
        this.queuedTx(this.db, () => {
          const out: FlushedNotification[] = [];
          for (const g of this.g.due.all(now, limit) as Row[]) {
            const id = g.id as string;
            const seqs = this.g.waiting.all(id) as number[];
            if (seqs.length > 0) {
              const rule = g.rule as string;
              const destination = g.destination as string;
              const delivery = this.insertOne(
                { eventSeq: seqs[0]!, rule, destination, privileged: false, status: 'pending', reason: null, origin: 'ingest' },
                now,
                seqs.length,
                id,
              );
              this.g.link.run(delivery, id);
              out.push({ deliveryId: delivery, rule, destination, eventCount: seqs.length });
            }
            this.g.sent.run(now, id);
          }
          return out;
        }),
      );
    } catch (err) {
      unavailable(err);
    }
  }

  async notificationEvents(deliveryId: string, limit: number): Promise<NotificationEvents | null> {
    const count = this.g.carriedCount.get(deliveryId) as number;
    if (count <= 1) return null;
    const values = this.g.groupOfDelivery.get(deliveryId) as string | undefined;
    return {
      count,
      group: values ? (JSON.parse(values) as Record<string, unknown>) : {},
      events: await this.carriedAfter(deliveryId, 0, limit),
    };
  }

  async carriedAfter(deliveryId: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
    return (this.g.carried.all({ id: deliveryId, after: afterSeq, limit }) as Row[]).map(toEvent);
  }

  async gatheredFor(seq: number): Promise<GatheredEvent[]> {
    return (this.g.gatheredFor.all(seq) as Row[]).map((r) => ({
      groupId: r.group_id as string,
      rule: r.rule as string,
      destination: r.destination as string,
      group: JSON.parse(r.group_values as string) as Record<string, unknown>,
      gatheredAt: r.gathered_at as number,
      deliveryId: r.delivery_id as string | null,
      flushAt: r.delivery_id === null ? (r.flush_at as number | null) : null,
    }));
  }

  addSilence(s: NewSilence, maxActive: number): Promise<SilenceStored> {
    return this.exclusive(() => {
      const silence: StoredSilence = { ...s, id: uuidv7() };
      try {
        // The count and the insert in one write transaction: the limit is exact between processes.
        return this.db
          .transaction((): SilenceStored => {
            const active = this.g.activeSilenceCount.get(s.createdAt) as number;
            if (active >= maxActive) return { ok: false, code: 'too_many_active', active };
            this.g.insertSilence.run({ ...silence, matchers: JSON.stringify(silence.matchers) });
            return { ok: true, silence };
          })
          .immediate();
      } catch (err) {
        unavailable(err);
      }
    });
  }

  async listSilences(q: { now: number; all: boolean; limit: number }): Promise<StoredSilence[]> {
    const rows = (q.all ? this.g.allSilences.all(q.limit) : this.g.activeSilences.all(q.now, q.limit)) as Row[];
    return rows.map(toSilence);
  }

  expireSilence(id: string, now: number): Promise<{ silence: StoredSilence; ended: boolean } | null> {
    return this.exclusive(() => {
      try {
        const ended = this.g.expireSilence.run(now, id, now).changes > 0;
        const row = this.g.silence.get(id) as Row | undefined;
        return row ? { silence: toSilence(row), ended } : null;
      } catch (err) {
        unavailable(err);
      }
    });
  }

  requeueSilenced(ids: string[], now: number): Promise<string[]> {
    return this.exclusive(() => this.requeue(ids, (id) => this.g.requeueSilenced.run({ id, now }).changes > 0));
  }
}
