// The storage interface. HTTP, routing, the worker and the operating commands talk only to this;
// store/sqlite.ts is the one engine today. Every method is async so that a networked engine
// (PostgreSQL, for several replicas) can implement the same interface unchanged.
import type { PlannedDelivery } from '../rules/route.js';

export type KeyKind = 'event_id' | 'run_type' | 'execution_type' | 'body_hash';

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'dead' | 'blocked';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'failed', 'dead', 'blocked'];

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
  /** JSON of the routing decision (rules/route.ts RoutingDecision). */
  routing: string;
}

/** Read-only view of the store that policy needs inside the ingest transaction. */
export interface PlanCounts {
  /** Deliveries policy allowed to (rule, destination) since `since` (ms). */
  allowedSince(rule: string, destination: string, since: number): number;
}

export interface IngestItem {
  event: NewEvent;
  /** Called only for a new event, inside the transaction that stores it. */
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
  status: 'delivered' | 'failed' | 'dead' | 'blocked';
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
  /** Stores events and their deliveries in one transaction, then resolves. */
  ingest(items: IngestItem[]): Promise<IngestOutcome[]>;

  claimDue(req: ClaimRequest): Promise<ClaimedDelivery[]>;
  finish(updates: DeliveryUpdate[]): Promise<void>;
  /** Clears every lease (a restarted sole server takes back what its previous life held). */
  releaseLeases(): Promise<number>;

  findEvent(idOrKey: string): Promise<StoredEvent | null>;
  getEvent(seq: number): Promise<StoredEvent | null>;
  listEvents(q: EventQuery): Promise<StoredEvent[]>;
  /** The newest `limit` events, oldest first (for `diff`). */
  recentEvents(limit: number): Promise<StoredEvent[]>;
  eventsSince(since: number, limit: number): Promise<StoredEvent[]>;
  listDeliveries(q: DeliveryQuery): Promise<StoredDelivery[]>;
  getDelivery(id: string): Promise<StoredDelivery | null>;
  deliveriesForEvent(seq: number): Promise<StoredDelivery[]>;
  attemptsFor(deliveryId: string): Promise<StoredAttempt[]>;

  /** Puts these deliveries back to pending (due now) where they are still dead; returns the ids moved. */
  requeueDead(ids: string[], now: number): Promise<string[]>;
  /** Marks a delivery as counted by policy (a destination that became privileged after it was queued). */
  markPrivileged(id: string): Promise<void>;
  /**
   * Adds deliveries for stored events (replay), in one transaction. `plan` is called per event
   * inside it, seeing the event's existing deliveries; it returns the ones to add.
   */
  addDeliveries(
    events: StoredEvent[],
    plan: (event: StoredEvent, existing: StoredDelivery[], counts: PlanCounts) => NewDelivery[],
    now: number,
  ): Promise<NewDelivery[]>;

  /** Deliveries policy allowed to (rule, destination) since `since` (ms), outside any transaction. */
  allowedSince(rule: string, destination: string, since: number): Promise<number>;

  stats(now: number): Promise<{ queueDepth: number; oldestDueAgeSeconds: number }>;
  /** Deletes up to `batch` events older than `before` whose deliveries are all finished. */
  prune(before: number, batch: number): Promise<number>;
  /** True when a write transaction can be taken right now (without waiting for a lock). */
  writable(): Promise<boolean>;
  /**
   * Claims the database for this serving process (one server per database). Refused while
   * another live server holds it; a claim whose holder died (kill -9) is taken over.
   */
  acquireServerLock(pid: number, host: string, now: number): Promise<{ ok: true } | { ok: false; holder: string }>;
  heartbeat(pid: number, now: number): Promise<void>;
  releaseServerLock(pid: number): Promise<void>;
  close(): Promise<void>;

  // Reads for the console (src/console/).
  /** Events and deliveries per time bucket since `since`, and the dead and blocked totals. */
  activity(since: number, bucketMs: number): Promise<Activity>;
  /** How many of the newest `limit` events received since `since` each rule matched (stored routing decisions). */
  ruleMatches(since: number, limit: number): Promise<{ events: number; counts: Record<string, number> }>;
  /** A page of events, newest first; only those older than `beforeSeq` when it is given. */
  eventPage(q: EventQuery & { beforeSeq?: number }): Promise<StoredEvent[]>;
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
