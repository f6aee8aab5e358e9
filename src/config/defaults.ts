// Every default in one place. The contract (../shared/CONTRACT.md) fixes most of them.
import type { DeliverySettings, EventFields, ServerSettings } from './types.js';

export const DEFAULT_EVENT_FIELDS: EventFields = {
  id: ['id', 'event_id', 'eventId'],
  type: ['type', 'event_type', 'eventType'],
  runId: ['runId', 'run_id'],
  executionId: ['executionId', 'execution_id'],
  // finishedAt/startedAt: B3OS's own run and node objects carry these, not the contract's names.
  time: ['createdAt', 'created_at', 'timestamp', 'occurredAt', 'finishedAt', 'startedAt'],
  // What summaries show (Slack fields, the email subject, the default message).
  workflowId: ['workflowId', 'workflow_id', 'workflow.id'],
  workflowName: ['workflowName', 'workflow_name', 'workflow.name'],
  node: ['nodeName', 'node_name', 'nodeId', 'node_id'],
  status: ['status'],
  error: ['error.message', 'error', 'errorMessage'],
  url: ['runUrl', 'run_url', 'url', 'link'],
};

export const DEFAULT_SERVER: ServerSettings = {
  path: '/b3os/hooks',
  maxBodyBytes: 1024 * 1024,
  acceptTypes: null,
  signature: {
    scheme: 'b3os',
    header: 'x-b3os-signature',
    encoding: 'hex',
    prefix: 'sha256=',
    timestampHeader: null,
    toleranceMs: 5 * 60_000,
  },
  fields: DEFAULT_EVENT_FIELDS,
};

/** A webhook destination's `signing` when not written. */
export const DEFAULT_WEBHOOK_SIGNING = 'b3os' as const;

export const DEFAULT_DELIVERY: DeliverySettings = {
  maxAttempts: 8,
  backoffInitialMs: 1_000,
  backoffMaxMs: 5 * 60_000,
  timeoutMs: 10_000,
  concurrency: 16,
};

export const DEFAULT_RETENTION_MS = 30 * 24 * 3600_000;
/** `diff --last N` reads at most this many bytes of the newest events' payloads (then fewer events). */
export const DIFF_MAX_BYTES = 256 * 1024 * 1024;
/** Events are kept at least this long, whatever `retention` says: max_per_hour counts the last hour. */
export const MIN_RETENTION_MS = 3600_000;

/** The longest `timeout` a destination may have: check refuses more (a typo such as 30d, most likely). */
export const MAX_SEND_TIMEOUT_MS = 3600_000;

/** Problems `check` (and a refused reload, and the console's check page) lists at most; the rest
 * are counted in one last line. A file with thousands of mistakes is better fixed from the top. */
export const PROBLEMS_LISTED = 200;

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

/** server.link_hosts: an event's own link ("Open in B3OS") is shown only for these https hosts. */
export const DEFAULT_LINK_HOSTS: readonly string[] = ['b3os.org', '*.b3os.org'];

/** Admin listings (ops/admin.ts): rows per page by default and at most, and a cap on the answer. */
export const ADMIN_DEFAULTS = {
  listLimit: 100,
  maxListLimit: 1000,
  maxListingBytes: 1024 * 1024,
} as const;

/** The HTTP server's own bounds (process options REQUEST_TIMEOUT_MS and MAX_CONNECTIONS). */
export const HTTP_DEFAULTS = {
  /** A request whose headers and body have not all arrived by then is answered 408 and cut. */
  requestTimeoutMs: 30_000,
  /** Open connections at most; more are closed at once. With the body limit, this bounds the bytes
   * held before any signature is checked (max_connections × server.max_body_bytes). */
  maxConnections: 512,
  /** Hook bodies held at once before their signature is checked (INGEST_BUFFER_MB): a request
   * that would take more is answered 503 with Retry-After before its body is read. Without it the
   * bound would be max_connections × max_body_bytes (512 MiB with the defaults). */
  ingestBufferBytes: 64 * 1024 * 1024,
  /** Headers must all have arrived by then (at most the request timeout): a client that opens
   * connections and sends half a request line holds a slot this long, not the whole 30 s. */
  headersTimeoutMs: 10_000,
  /** How often node checks requests against the timeout (its default, 30 s, would double it). */
  maxCheckIntervalMs: 1_000,
} as const;

/** Rejected-hook log lines (ingest/log-sampler.ts): at most this many per reason per window. */
export const REJECT_LOG_DEFAULTS = {
  linesPerReason: 10,
  windowMs: 10_000,
} as const;

/** `b3os-router subscription`: the registration B3OS's API takes (POST /v1/execution-webhooks). */
export const DEFAULT_SUBSCRIPTION = {
  endpoint: 'https://api.b3os.org/v1/execution-webhooks',
  name: 'b3os-router',
  maxRetries: 5,
  /** Shown when --url is not given; it cannot be guessed from inside the container. */
  placeholderOrigin: 'https://your-router.example.com',
  /** The variable the printed curl line reads the API key from (keys start with b3sk_). */
  apiKeyVariable: 'B3OS_API_KEY',
  apiKeyPrefix: 'b3sk_',
} as const;

/** "The types received lately" (`events --types`, the console): the last day. */
export const RECENT_TYPES_WINDOW_MS = 24 * 3600_000;
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
  /** `diff` on the check page runs over this many of the newest events... */
  diffEvents: 1000,
  /** ... or as many of them as fit in this many bytes (the evaluation thread has 256 MB). */
  diffBytes: 16 * 1024 * 1024,
  /** The rules page counts matches over at most this many events of the last 24 hours. */
  matchScanLimit: 100_000,
  /** The rules page's match counts are kept this long per rules version (the count scans the store). */
  matchCountsKeptMs: 60_000,
  /** Checking a pasted rules file (with its diff) or trying an event stops after this long. */
  evaluationBudgetMs: 5_000,
  /** Memory for the thread that does it (pasted text is bounded by server.max_body_bytes). */
  evaluationMemoryMb: 256,
} as const;

/** The PostgreSQL engine's bounds live beside it (the store stands below config in the layout);
 * listed here so every default can be found in one place. */
export { PG_DEFAULTS } from '../store/pg-defaults.js';

/** Several servers on one database: each writes a heartbeat this often, and counts as live
 * (in `status`, and for the rules-hash comparison) while its last one is younger than liveMs. */
export const REPLICA_DEFAULTS = {
  heartbeatMs: 5_000,
  liveMs: 30_000,
} as const;

/** Noise control (contract §9): grouping into digests (src/dispatch/) and silences (src/silence/). */
export const NOISE_DEFAULTS = {
  /** How often the delivery thread looks for groups whose notification is due. */
  flushEveryMs: 200,
  /** Groups flushed per transaction at most. */
  flushBatch: 100,
  /** How often a running process re-reads the silences (a new one holds within a second). */
  silenceRefreshMs: 250,
  /** Events a digest carries into templates and the webhook body (the count is always exact). */
  digestEvents: 100,
  /** ... and at most this many bytes of them (at least one event): a digest of large events stays
   * a size a receiver takes, and what the worker and the console hold for it stays bounded. */
  digestBytes: 1024 * 1024,
  /** Events read from the store at a time for a digest. */
  digestPage: 10,
  /** Events read per page when the send-time check must look past the ones a digest carries
   * into its text (a silence that matched all of those must match the rest too). */
  digestCheckPage: 100,
  /** Lines the default digest text shows, then "and N more". */
  digestLines: 10,
  /** Silences `silence list` and GET /admin/silences show at most. */
  silenceList: 1000,
  /** Silences active at once at most: every one is matched against every delivery, at ingest and
   * before each send; `silence add` refuses the next until one ends or is expired. */
  activeSilences: 1000,
  /** How long a silence may last: for longer, the rules file is the place (and an end past what a
   * date can hold broke every reader of the silence). */
  silenceMaxMs: 366 * 24 * 3600_000,
} as const;
