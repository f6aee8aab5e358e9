// Every default in one place. The contract (../shared/CONTRACT.md) fixes most of them.
import type { DeliverySettings, EventFields, ServerSettings } from './types.js';

export const DEFAULT_EVENT_FIELDS: EventFields = {
  id: ['id', 'event_id', 'eventId'],
  type: ['type', 'event_type', 'eventType'],
  runId: ['runId', 'run_id'],
  executionId: ['executionId', 'execution_id'],
  time: ['createdAt', 'created_at', 'timestamp', 'occurredAt'],
};

export const DEFAULT_SERVER: ServerSettings = {
  path: '/b3os/hooks',
  maxBodyBytes: 1024 * 1024,
  acceptTypes: null,
  signature: {
    header: 'x-b3os-signature',
    encoding: 'hex',
    prefix: 'sha256=',
    timestampHeader: null,
    toleranceMs: 5 * 60_000,
  },
  fields: DEFAULT_EVENT_FIELDS,
};

export const DEFAULT_DELIVERY: DeliverySettings = {
  maxAttempts: 8,
  backoffInitialMs: 1_000,
  backoffMaxMs: 5 * 60_000,
  timeoutMs: 10_000,
  concurrency: 16,
};

export const DEFAULT_RETENTION_MS = 30 * 24 * 3600_000;

/** Process-level options (flags and environment), see config/options.ts. */
export const DEFAULT_OPTIONS = {
  rulesFile: './rules.yaml',
  rulesFallback: './rules.example.yaml',
  dbPath: './data/router.db',
  port: 8080,
  host: '0.0.0.0',
  logLevel: 'info',
} as const;

/** Worker-wide bounds (not per destination). */
export const WORKER_DEFAULTS = {
  /** Deliveries in flight at once across all destinations. */
  globalConcurrency: 64,
  /** How often the worker looks for due deliveries when nothing woke it. */
  pollMs: 250,
  /** Extra time over a send's timeout before its claim (lease) lapses and another process may retry it. */
  leaseMarginMs: 30_000,
  /** On shutdown, how long in-flight sends may take before the process exits anyway. */
  drainMs: 7_000,
} as const;

/** On shutdown, how long requests in flight may take (at the same time as the drain, which with
 * its 1.5 s margin ends by 8.5 s): the whole stop fits inside Docker's 10 s grace period. */
export const SHUTDOWN_GRACE_MS = 8_000;

/** The web console (src/console/, contract §10). */
export const CONSOLE_DEFAULTS = {
  /** A session lasts this long from sign-in. */
  sessionMs: 8 * 3600_000,
  /** Sessions kept at once; past it the oldest is signed out. */
  maxSessions: 1000,
  /** Failed sign-ins per client address per minute, then 429 until the minute is over. */
  failedSignInsPerIp: 5,
  /** Failed sign-ins per minute from all addresses together (a bound on guessing from many). */
  failedSignInsTotal: 50,
  /** Rows per page of events and deliveries. */
  pageSize: 50,
  /** `diff` on the check page runs over this many of the newest events. */
  diffEvents: 1000,
  /** The rules page counts matches over at most this many events of the last 24 hours. */
  matchScanLimit: 100_000,
} as const;
