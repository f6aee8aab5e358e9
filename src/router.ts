// Composition of one running router: store → group commit → HTTP ingest → worker → channels,
// plus health, metrics, admin, retention and reload. `serve` runs one; tests may run several.
//
//   http → verify → store(event + deliveries, one transaction) → worker → channel
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import type { ServeOptions } from './config/options.js';
import type { RouterConfig } from './config/types.js';
import { DeliveryThread } from './delivery/thread-client.js';
import type { WorkerOptions } from './delivery/worker.js';
import { registerIngest } from './ingest/http.js';
import { RejectLog, type RejectLogOptions } from './ingest/log-sampler.js';
import { consoleFrameworkError, registerConsole } from './console/index.js';
import { registerAdmin } from './ops/admin.js';
import { LOG_REDACT } from './ops/log.js';
import { createMetrics, type Metrics } from './ops/metrics.js';
import { RulesHolder } from './ops/reload.js';
import { startRetention } from './ops/retention.js';
import { ReplicaPresence } from './ops/replicas.js';
import { GroupCommit } from './store/group-commit.js';
import { describeDb, isPostgresUrl, openStore } from './store/open.js';
import { ingestCommit, SqliteWriter } from './store/sqlite-writer.js';
import type { IngestItem, IngestOutcome, Store } from './store/store.js';
import { HTTP_DEFAULTS, SHUTDOWN_GRACE_MS, WORKER_DEFAULTS } from './config/defaults.js';
import { SilenceCache } from './silence/cache.js';

export class ServerLockError extends Error {
  readonly code = 'E_SERVER_LOCK';
}

export interface Router {
  app: FastifyInstance;
  store: Store;
  rules: RulesHolder;
  metrics: Metrics;
  deliveries: DeliveryThread;
  /** The SQLite writer thread; null on PostgreSQL and `:memory:`. */
  writer: SqliteWriter | null;
  log: Logger;
  /** Listens; resolves with the bound address. */
  listen(): Promise<{ port: number; host: string }>;
  /** Re-reads the rules file; swaps only when it is valid and the delivery thread has taken it. */
  reload(): Promise<boolean>;
  /** Stops taking requests, finishes what is in flight (bounded), closes the database. */
  close(): Promise<void>;
}

/** How long a SQLite write of the serving process waits for the file's lock (each of its threads' connections). */
const BUSY_TIMEOUT_MS = 1000;

/** Fastify's own errors, answered with the contract's statuses. */
const FASTIFY_ERRORS: Record<string, { status: number; reason: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, reason: 'body_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, reason: 'unsupported_media_type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, reason: 'bad_content_length' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, reason: 'empty_body' },
};

export function createRouter(
  opts: ServeOptions,
  config: RouterConfig,
  extra: { logger?: Logger; worker?: Partial<WorkerOptions>; rejectLog?: Partial<RejectLogOptions> } = {},
): Router {
  const log = extra.logger ?? pino({ level: opts.logLevel, redact: LOG_REDACT });
  // A SQLite file (`:memory:` cannot be shared with another connection) is written by this thread,
  // the writer thread and the delivery thread: their transactions take turns through one lock
  // (thread/write-lock.ts) rather than SQLite's sleeps. PostgreSQL's engine is async already.
  const writeLock = isPostgresUrl(opts.dbPath) || opts.dbPath === ':memory:' ? undefined : new SharedArrayBuffer(4);
  const store = openStore(opts.dbPath, {
    sqlite: { busyTimeoutMs: BUSY_TIMEOUT_MS, maxBytes: opts.dbMaxBytes, writeLock },
    postgres: { poolMax: opts.dbPoolMax, applicationName: 'b3os-router' },
  });
  const metrics = createMetrics(store);
  const deliveries = new DeliveryThread(
    {
      dbPath: opts.dbPath,
      busyTimeoutMs: BUSY_TIMEOUT_MS,
      dbMaxBytes: opts.dbMaxBytes,
      dbPoolMax: opts.dbPoolMax,
      logLevel: opts.logLevel,
      channelEnv: opts.channelEnv,
      rulesFile: config.file,
      rulesSource: config.source,
      worker: { leaseMarginMs: opts.leaseMarginMs, ...extra.worker },
      writeLock,
    },
    metrics,
    log.child({ component: 'worker' }),
  );
  // Each version's text is kept before any event is routed by it, so explain can re-evaluate the
  // rules that did not match (stored decisions list only those that did).
  const saved = store.saveRulesVersion(config.hash, config.source, Date.now());
  saved.catch(() => undefined); // awaited by listen()
  const rules = new RulesHolder(
    config,
    async (next) => {
      await store.saveRulesVersion(next.hash, next.source, Date.now());
      await deliveries.reload(next.source);
    },
    opts.secrets,
  );
  const presence = new ReplicaPresence(store, () => rules.current.hash, metrics.registry, log.child({ component: 'replicas' }));
  metrics.rulesLoaded.set(config.rules.length);
  metrics.reloadSuccess.set(1);
  metrics.reloadTimestamp.set(Date.now() / 1000);

  // That file's ingest transactions on a writer thread of their own (store/sqlite-writer.ts).
  const writer = writeLock
    ? new SqliteWriter({ path: opts.dbPath, busyTimeoutMs: BUSY_TIMEOUT_MS, maxBytes: opts.dbMaxBytes ?? null, writeLock }, log.child({ component: 'writer' }))
    : null;
  const commit = new GroupCommit<IngestItem, IngestOutcome>(ingestCommit(store, writer));

  // Given to node when the server is made: set afterwards (as fastify's requestTimeout alone does),
  // node checks only every 30 s, so a trickled body outlived the timeout by up to as much again.
  const timeouts = {
    requestTimeout: opts.requestTimeoutMs,
    headersTimeout: Math.min(HTTP_DEFAULTS.headersTimeoutMs, opts.requestTimeoutMs),
    connectionsCheckingInterval: Math.max(50, Math.min(HTTP_DEFAULTS.maxCheckIntervalMs, Math.floor(opts.requestTimeoutMs / 4))),
  };
  const app = Fastify({
    loggerInstance: log,
    // A line per request would drown the log at volume; rejections and failures log their own.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.maxBodyBytes,
    forceCloseConnections: 'idle',
    requestTimeout: opts.requestTimeoutMs,
    return503OnClosing: true,
    // Addresses fastify cannot route (a bad %-escape): the console answers its own with its page
    // and headers; anything else gets fastify's default answer.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      if (consoleFrameworkError(opts.adminToken !== null, err, req, reply)) return;
      const status = err.statusCode ?? 400;
      void reply.code(status).send({ error: 'Bad Request', code: err.code, message: err.message, statusCode: status });
    },
    ...(opts.tls ? { https: { cert: opts.tls.cert, key: opts.tls.key, ...timeouts } } : { http: timeouts }),
  }) as unknown as FastifyInstance;
  // Connections past the cap are closed on arrival; with the body limit this bounds what is held
  // before any signature is checked.
  app.server.maxConnections = opts.maxConnections;

  // Only JSON is accepted, and as raw bytes: the signature is over the bytes, verified before parsing.
  app.removeAllContentTypeParsers();
  const raw = (_req: unknown, body: Buffer | string, done: (err: null, body: Buffer | string) => void) => done(null, body);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, raw);
  app.addContentTypeParser(/^application\/[\w.+-]+\+json$/, { parseAs: 'buffer' }, raw);

  const hookPath = config.server.path;
  const rejectLog = new RejectLog(log, extra.rejectLog);
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const known = err.code ? FASTIFY_ERRORS[err.code] : undefined;
    const status = known?.status ?? (err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500);
    const reason = known?.reason ?? (status === 500 ? 'internal_error' : 'bad_request');
    // Only hooks count as hooks: an admin or metrics error must not move the alerting metric.
    const hook = req.routeOptions.url === hookPath;
    if (hook) metrics.eventsReceived.inc({ outcome: 'rejected', reason });
    if (status >= 500) req.log.error({ err: { message: err.message, code: err.code } }, 'request failed');
    else if (hook) rejectLog.warn(req.log, { reason, status }, `request rejected: ${err.message}`);
    else req.log.warn({ reason, status }, `request rejected: ${err.message}`);
    // The message of a 4xx is ours or fastify's and safe to show; a 5xx says nothing internal.
    void reply.code(status).send({ error: reason, message: status >= 500 ? 'internal error' : err.message });
  });
  app.setNotFoundHandler((req, reply) => void reply.code(404).send({ error: 'not_found', message: `nothing at ${req.method} ${req.url.split('?')[0]}` }));

  // Noise control: the silences ingest applies (refreshed from the database; silence/cache.ts).
  const silences = new SilenceCache(store, () => rules.current.server.fields, log.child({ component: 'silences' }));
  registerIngest(
    app,
    {
      rules: () => rules.current,
      secrets: opts.secrets,
      bufferBytes: opts.ingestBufferBytes,
      commit,
      metrics,
      onDeliveries: () => deliveries.wake(),
      rejectLog,
      silences,
    },
    config.server.path,
  );

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const dbOk = await store.writable();
    const ok = dbOk && deliveries.up;
    return reply.code(ok ? 200 : 503).send({
      status: ok ? 'ready' : 'not ready',
      database: dbOk ? 'writable' : 'not writable',
      deliveries: deliveries.up ? 'running' : 'restarting',
      rules: rules.current.rules.length,
    });
  });
  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(text);
  });
  registerAdmin(app, { store, rules: () => rules.current, token: opts.adminToken });
  registerConsole(app, { store, rules, token: opts.adminToken, secure: opts.tls !== null, secureCookie: opts.consoleSecureCookie });

  const retention = startRetention(store, () => rules.current, log.child({ component: 'retention' }));
  let closed: Promise<void> | null = null;

  return {
    app,
    store,
    rules,
    metrics,
    deliveries,
    writer,
    log,
    async listen() {
      await saved;
      const lock = await presence.claim();
      if (!lock.ok) throw new ServerLockError(`another b3os-router is serving ${opts.dbPath} (${lock.holder}); one server per database`);
      presence.start();
      await deliveries.start();
      // Without it ingest runs on this thread's connection, as it would on PostgreSQL; it is retried.
      await writer?.start().catch((err: Error) => writer.scheduleRestart(`database writer thread did not start: ${err.message}`));
      await silences.start();
      await app.listen({ port: opts.port, host: opts.host });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.port;
      log.info(
        { port, host: opts.host, path: rules.current.server.path, rules: rules.current.rules.length, db: describeDb(opts.dbPath) },
        `b3os-router listening on ${opts.tls ? 'https' : 'http'}://${opts.host}:${port}${rules.current.server.path}`,
      );
      return { port, host: opts.host };
    },
    async reload() {
      const ok = (await rules.reload(log, metrics)).ok;
      presence.refresh();
      return ok;
    },
    close() {
      closed ??= (async () => {
        retention.stop();
        silences.stop();
        rejectLog.flush();
        presence.stop();
        // Both at once, each bounded, so the whole stop fits inside a container's grace period:
        // requests in flight are answered (each only after its commit) while sends in flight finish.
        let t: NodeJS.Timeout | undefined;
        // Node closes the idle keep-alive connections once, when the close begins: one whose request
        // was in flight then stays open once answered, and held the process alive after "stopped"
        // (until its client closed it). So idle ones are closed as they become idle.
        const idle = setInterval(() => app.server.closeIdleConnections(), 50);
        const http = Promise.race([app.close(), new Promise((r) => (t = setTimeout(r, SHUTDOWN_GRACE_MS)))]).finally(() => clearTimeout(t));
        await Promise.all([http, deliveries.stop(extra.worker?.drainMs ?? WORKER_DEFAULTS.drainMs)]);
        await commit.drain();
        clearInterval(idle);
        // Every request that reached a commit is answered; what is left is unanswered (a body still
        // arriving after the grace): closed, B3OS retries it.
        app.server.closeAllConnections();
        await writer?.stop();
        await presence.release().catch(() => undefined);
        await store.close();
      })();
      return closed;
    },
  };
}
