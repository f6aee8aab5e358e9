// The storage interface. HTTP, routing, the worker and the operating commands talk only to this;
// store/sqlite.ts (one process) and store/postgres.ts (several replicas) implement it, and
// store/open.ts picks one. Every method is async; the few callbacks that run inside a transaction
// (plan, decide) are synchronous, so what they read is declared up front (`counted`).
import type { DeliveryStatus, KeyKind, PlannedDelivery } from '../event/model.js';

// The domain's types live in the kernel; re-exported here for the engines and their callers.
export { DELIVERY_STATUSES, type DeliveryStatus, type KeyKind } from '../event/model.js';

export type DeliveryOrigin = 'ingest' | 'replay';

export interface NewEvent {
  key: string;
  keyKind: KeyKind;
  eventId: string | null;
  runId: string | null;
  executionId: string | null;
  type: string | null;
  receivedAt: number;
  /** The raw body text, exactly as received. */
  payload: string;
  /** JSON of the routing decision (event/model.ts RoutingDecision). */
  routing: string;
}

/** Read-only view of the store that policy needs inside a transaction that holds the write lock
 * (ingest, replay, admit): the count and the decision that uses it cannot be separated. */
export interface PlanCounts {
  /** Deliveries policy allowed to (rule, destination) after `since` (ms), by when each was allowed. */
  allowedSince(rule: string, destination: string, since: number): number;
}

/** What a plan that declared no counted pair may read: nothing (a count read without its lock
 * throws, so a missing `counted` entry is a loud bug, never a wrong cap). */
export const UNCOUNTED: PlanCounts = {
  allowedSince: (rule, destination) => {
    throw new Error(`the max_per_hour count of (${rule}, ${destination}) was read without its lock: list the pair in \`counted\``);
  },
};

/** What `admit`'s caller decided for one delivery (a PolicyDecision fits). */
export interface AdmitVerdict {
  allowed: boolean;
  reason: string;
}

export interface AdmitResult {
  id: string;
  /** admitted: counted as of now; refused: left as it was; skipped: gone, or not in the state asked for. */
  outcome: 'admitted' | 'refused' | 'skipped';
  /** Policy's reason when refused. */
  reason: string | null;
}

/** A (rule, destination) pair whose max_per_hour count a plan may read. */
export interface CountedPair {
  rule: string;
  destination: string;
}

export interface IngestItem {
  event: NewEvent;
  /**
   * Every pair whose count `plan` may read (its privileged pairs). `plan` is synchronous, so a
   * networked engine locks these pairs and reads their counts before calling it; reading a pair
   * not listed here throws there. SQLite counts any pair (its write lock covers them all).
   */
  counted?: readonly CountedPair[];
  /**
   * Its result is stored only for a new event, in the transaction that stores it. With pairs
   * `counted`, it is called only then (under their locks); without, an engine may call it
   * before the transaction, for a duplicate too (the result is dropped): keep it pure.
   * A planned delivery with a `group` (and status pending) is not inserted as it is: it joins its
   * group (see `flushGroups`). One that opens its group with `wait` 0 is inserted at once (its
   * notification carries this event alone); otherwise the event is gathered (a group_events row)
   * and the group's flush time set, in the same transaction, so the group state and the gathered
   * rows cannot part. Silenced ones are inserted with status `silenced` and their reason, never
   * gathered.
   */
  plan(counts: PlanCounts): PlannedDelivery[];
}

export type IngestOutcome =
  | { status: 'accepted'; seq: number; planned: PlannedDelivery[] }
  | { status: 'duplicate'; seq: number }
  /** This item alone could not be stored (the rest of its batch was); answer 503. */
  | { status: 'failed'; error: StoreUnavailableError };

export interface StoredEvent extends Omit<NewEvent, 'routing'> {
  seq: number;
  lastSeenAt: number;
  duplicates: number;
  routing: string | null;
}

export interface StoredDelivery {
  id: string;
  eventSeq: number;
  rule: string;
  destination: string;
  status: DeliveryStatus;
  reason: string | null;
  privileged: boolean;
  /** Attempts made in all. */
  attempts: number;
  /** Attempts since it was last (re)queued; compared with max_attempts. */
  roundAttempts: number;
  nextAttemptAt: number | null;
  createdAt: number;
  updatedAt: number;
  origin: DeliveryOrigin;
  /** How many events this notification carries: 1 for one event, more for a digest (contract §9). */
  eventCount?: number;
}

export interface ClaimedDelivery extends StoredDelivery {
  eventPayload: string;
  eventType: string | null;
}

export interface AttemptRecord {
  deliveryId: string;
  /** 1-based, over the delivery's whole life. */
  attempt: number;
  startedAt: number;
  durationMs: number;
  outcome: 'delivered' | 'retry' | 'permanent';
  code: string | null;
  error: string | null;
}

export interface DeliveryUpdate {
  id: string;
  /** null when no send was attempted (e.g. blocked by policy at send time). */
  attempt: AttemptRecord | null;
  status: 'delivered' | 'failed' | 'dead' | 'blocked' | 'silenced';
  nextAttemptAt: number | null;
  reason: string | null;
}

export interface StoredAttempt extends AttemptRecord {}

export interface EventQuery {
  type?: string;
  since?: number;
  limit: number;
}

export interface DeliveryQuery {
  status?: DeliveryStatus;
  destination?: string;
  since?: number;
  limit: number;
}

export interface ClaimRequest {
  now: number;
  /** Lease length: until then no other claimer takes it; after, it is due again (crash recovery). */
  leaseMs: number;
  /** Lease length per destination (its send's timeout and a margin), so that a replica's death
   * holds each delivery back only as long as its own send could have lasted; others get leaseMs. */
  leases?: Map<string, number>;
  /** Room left per destination; destinations not listed get `defaultRoom`. */
  room: Map<string, number>;
  defaultRoom: number;
  limit: number;
}

export interface NewDelivery extends PlannedDelivery {
  eventSeq: number;
  origin: DeliveryOrigin;
}

export interface Store {
  readonly engine: 'sqlite' | 'postgres';
  /** Stores events and their deliveries in one transaction, then resolves. */
  ingest(items: IngestItem[]): Promise<IngestOutcome[]>;

  claimDue(req: ClaimRequest): Promise<ClaimedDelivery[]>;
  finish(updates: DeliveryUpdate[]): Promise<void>;
  /** finish(updates) then claimDue(claim), atomically: one transaction per batch of sends rather
   * than two. */
  finishAndClaim(updates: DeliveryUpdate[], claim: ClaimRequest): Promise<ClaimedDelivery[]>;
  /** Clears every lease (a restarted sole server takes back what its previous life held). */
  releaseLeases(): Promise<number>;

  findEvent(idOrKey: string): Promise<StoredEvent | null>;
  getEvent(seq: number): Promise<StoredEvent | null>;
  listEvents(q: EventQuery): Promise<StoredEvent[]>;
  /** Events received since `since`, oldest first, after seq `afterSeq` (the next page), at most `limit`. */
  eventsSince(since: number, limit: number, afterSeq?: number): Promise<StoredEvent[]>;
  listDeliveries(q: DeliveryQuery): Promise<StoredDelivery[]>;
  getDelivery(id: string): Promise<StoredDelivery | null>;
  deliveriesForEvent(seq: number): Promise<StoredDelivery[]>;
  attemptsFor(deliveryId: string): Promise<StoredAttempt[]>;

  /** Puts these deliveries back to pending (due now) where they are still dead; returns the ids moved.
   * privileged = 0: should the server's rules make the destination privileged, its worker decides
   * at send time (Store.admit), whatever the retrying CLI's rules said. */
  requeueDead(ids: string[], now: number): Promise<string[]>;
  /**
   * Lets existing deliveries out to a privileged destination, with `max_per_hour` counted
   * atomically with the decision that uses the count: a delivery queued before its destination
   * became privileged (at send time), or a dead one being retried (`requeueDead: true`).
   *
   * In ONE write transaction, for each id in order: reads the delivery (skipped unless it is
   * waiting, or dead with `requeueDead`), calls `decide` with counts that see every allowance
   * committed or made earlier in this call (the delivery's own earlier allowance left out: it is
   * replaced, not added to), and when allowed stamps allowed_at = now and privileged = 1, and with
   * `requeueDead` puts it back to pending, due now, with privileged = 0: the CLI that retries may
   * hold another rules file than the server, so the serving worker decides again at send time, by
   * the rules in force there (its own allowance replaced again, never added). A refused delivery is
   * left as it was.
   * `decide` is synchronous and must not touch the store.
   *
   * Every reader of the counts that decides (ingest, replay, this) must hold the same lock before
   * counting. SQLite: BEGIN IMMEDIATE, the database's one write lock. PostgreSQL: inside the
   * transaction, `pg_advisory_xact_lock` on a hash of each (rule, destination) the call touches,
   * taken in sorted order (no deadlock between replicas), before the first count; ingest and
   * replay take the same per-pair locks for the privileged pairs they plan.
   */
  admit(
    ids: string[],
    decide: (delivery: StoredDelivery, counts: PlanCounts) => AdmitVerdict,
    opts: { now: number; requeueDead: boolean },
  ): Promise<AdmitResult[]>;
  /**
   * Adds deliveries for stored events (replay), in one transaction. `plan` is called per event
   * inside it, seeing the event's existing deliveries and the (rule, destination) groups it waits
   * in (gathered, its digest not yet made: it will be sent by that); it returns the ones to add.
   */
  addDeliveries(
    events: StoredEvent[],
    plan: (event: StoredEvent, existing: StoredDelivery[], counts: PlanCounts, waiting: readonly CountedPair[]) => NewDelivery[],
    now: number,
    /** The pairs whose counts `plan` may read, as IngestItem.counted. */
    counted?: readonly CountedPair[],
  ): Promise<NewDelivery[]>;

  /** Deliveries policy allowed to (rule, destination) after `since` (ms), outside any transaction:
   * for what only shows a count (a dry run), never for a decision that lets a delivery out. */
  allowedSince(rule: string, destination: string, since: number): Promise<number>;

  /**
   * Keeps a rules file's text under its hash (RouterConfig.hash), once per version; saving a
   * version already kept does nothing. Stored decisions name the version that made them and list
   * only the rules that matched: `explain` re-evaluates the others with this text.
   */
  saveRulesVersion(hash: string, text: string, now: number): Promise<void>;
  /** The text saved under `hash`, or null. */
  rulesVersion(hash: string): Promise<string | null>;

  /** The queue's length and how long its oldest due delivery has waited; O(1) in the queue's length. */
  stats(now: number): Promise<{ queueDepth: number; oldestDueAgeSeconds: number }>;
  /** Deletes up to `batch` events older than `before` whose deliveries are all finished. */
  prune(before: number, batch: number): Promise<number>;
  /** True when a write transaction can be taken right now (without waiting for a lock). */
  writable(): Promise<boolean>;
  /**
   * Claims the database for this serving process (one server per database). Refused while
   * another live server holds it; a claim whose holder died (kill -9) is taken over.
   */
  acquireServerLock(pid: number, host: string, now: number, info?: ReplicaInfo): Promise<{ ok: true } | { ok: false; holder: string }>;
  /** Refreshes this server's heartbeat (and, when given, its version and rules hash). */
  heartbeat(pid: number, now: number, info?: ReplicaInfo): Promise<void>;
  releaseServerLock(pid: number): Promise<void>;
  /** The servers that have a heartbeat row, live or not (callers judge by lastSeenAt). */
  replicas(): Promise<StoredReplica[]>;
  /**
   * Calls `onDue` whenever another process (a replica, `retry`, `replay`) committed deliveries
   * that may be due. PostgreSQL: LISTEN on a dedicated connection, reconnecting. SQLite: never
   * (one server; its own commits wake its worker directly, the poll catches the rest).
   */
  listen(onDue: () => void): { close(): Promise<void> };
  close(): Promise<void>;

  /** Events received since `since` (ms), counted by type (null: no type), most frequent first. */
  typeCounts(since: number): Promise<TypeCount[]>;

  // Reads for the console (src/console/).
  /** Events and deliveries per time bucket since `since`, and the dead and blocked totals. */
  activity(since: number, bucketMs: number): Promise<Activity>;
  /** How many of the newest `limit` events received since `since` each rule matched (stored routing decisions). */
  ruleMatches(since: number, limit: number): Promise<{ events: number; counts: Record<string, number> }>;
  /** A page of events, newest first; only those older than `beforeSeq` when it is given. */
  eventPage(q: EventQuery & { beforeSeq?: number }): Promise<StoredEvent[]>;

  // ---- Noise control (contract §9): groups and digests (src/dispatch/), silences (src/silence/) ----
  // deliveriesForEvent also lists the digests that carried the event (through group_events), so
  // `explain` names them and `replay` sees the pair as taken.

  /**
   * Turns every group whose flush time has come into one notification, atomically per group: in
   * ONE transaction, for each due group (at most `limit`), the events gathered and not yet sent
   * become one delivery (pending, due now; a digest when more than one, carrying `eventCount`,
   * anchored on the first event), each gathered row is linked to it, and the group's last
   * notification is stamped `now` with no flush due. A group due with nothing gathered is only
   * cleared. So a kill -9 leaves either the gathered rows and the due group (flushed again after
   * the restart) or the delivery with its links (sent like any other): nothing lost, no second digest.
   *
   * SQLite: BEGIN IMMEDIATE (the one writer), after a lock-free read that finds nothing due on an
   * idle poll. PostgreSQL: `SELECT … FROM groups WHERE flush_at <= now ORDER BY flush_at LIMIT n
   * FOR UPDATE SKIP LOCKED`, then the insert, the links and the group update in the same
   * transaction: whichever replicas gathered the events, one digest per group per interval, and
   * two replicas flushing at once take different groups. Ingest locks the group row it joins
   * (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, or `SELECT … FOR UPDATE`) before deciding
   * whether the group is open, so a gather and a flush of one group are serialised.
   */
  flushGroups(now: number, limit: number): Promise<FlushedNotification[]>;
  /** The events a notification carries (a digest's gathered events, oldest first, at most `limit`),
   * with the exact count and the group's `by` values; null when it carries one event of its own. */
  notificationEvents(deliveryId: string, limit: number): Promise<NotificationEvents | null>;
  /** A digest's events after `afterSeq`, oldest first, at most `limit`: the pages past the first
   * (each read from the group's rows in order, so reading them all is linear in the count). */
  carriedAfter(deliveryId: string, afterSeq: number, limit: number): Promise<StoredEvent[]>;
  /** The groups an event was gathered into, and the notification that carried it (or none yet). */
  gatheredFor(seq: number): Promise<GatheredEvent[]>;

  /** Stores a silence (already validated: src/silence/model.ts). Every process reads them. */
  addSilence(s: NewSilence, maxActive: number): Promise<SilenceStored>;
  /** Active silences (ends_at after `now`), or all with `all`, newest first. */
  listSilences(q: { now: number; all: boolean; limit: number }): Promise<StoredSilence[]>;
  /** Ends a silence now. null: no such id; `ended: false`: it had ended already (left as it was). */
  expireSilence(id: string, now: number): Promise<{ silence: StoredSilence; ended: boolean } | null>;
  /**
   * `retry` of silenced deliveries: back to pending, due now, as if never allowed (privileged = 0,
   * no allowance), so the send-time check decides afresh: the full policy for a privileged
   * destination (Store.admit, counted then) and the silences again. Returns the ids moved.
   */
  requeueSilenced(ids: string[], now: number): Promise<string[]>;
}

export interface FlushedNotification {
  deliveryId: string;
  rule: string;
  destination: string;
  eventCount: number;
}

/** Stored, or refused because `maxActive` silences are active already (counted with the insert, under
 * one lock, so the limit holds however many processes add at once). */
export type SilenceStored = { ok: true; silence: StoredSilence } | { ok: false; code: 'too_many_active'; active: number };

export interface NotificationEvents {
  count: number;
  /** The group's `by` values, by path as written (`data.workflowId`). */
  group: Record<string, unknown>;
  events: StoredEvent[];
}

export interface GatheredEvent {
  groupId: string;
  rule: string;
  destination: string;
  group: Record<string, unknown>;
  gatheredAt: number;
  /** The notification that carried (or carries) it; null while it waits for the group's flush. */
  deliveryId: string | null;
  /** When the group's next notification is due (while this event waits), else null. */
  flushAt: number | null;
}

export interface NewSilence {
  rule: string | null;
  destination: string | null;
  /** FIELD → values (any of), as `match` reads them (`*` wildcards). */
  matchers: Record<string, string[]>;
  endsAt: number;
  comment: string;
  createdBy: string;
  createdAt: number;
}

export interface StoredSilence extends NewSilence {
  id: string;
}

export interface ReplicaInfo {
  version: string;
  rulesHash: string;
}

export interface StoredReplica extends ReplicaInfo {
  host: string;
  pid: number;
  startedAt: number;
  lastSeenAt: number;
}

export interface TypeCount {
  type: string | null;
  count: number;
  lastReceivedAt: number;
}

/** For the console's chart. `bucket` is the bucket's index from `since` (0, 1, ...). */
export interface Activity {
  /** Events received, split by whether they led to at least one delivery. */
  events: { bucket: number; routed: number; unrouted: number }[];
  /** Deliveries by their status now, bucketed by when they last changed. */
  deliveries: { bucket: number; status: DeliveryStatus; count: number }[];
  /** All deliveries that are dead or blocked, whenever they became so. */
  dead: number;
  blocked: number;
}

/** Errors from the storage layer carry a code the HTTP layer maps to 503. */
export class StoreUnavailableError extends Error {
  readonly code = 'E_STORE_UNAVAILABLE';
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}
