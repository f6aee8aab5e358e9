// The delivery worker's thread. Sends (HTTP clients, SMTP, templates, claims and outcome writes)
// run here, on their own event loop, so that they never hold up ingest: the main thread answers
// hooks while this one delivers. It shares nothing with the main thread but the database file;
// messages carry wake-ups, reloads (the rules file's exact text, acknowledged), metric updates
// and the stop.
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { loadRulesText } from '../config/load.js';
import type { RouterConfig } from '../config/types.js';
import { LOG_REDACT } from '../ops/log.js';
import type { DeliveryMetrics } from '../ops/metrics.js';
import { openStore } from '../store/open.js';
import type { Lifecycle } from '../thread/supervisor.js';
import { ChannelRegistry } from './channels/index.js';
import type { ChannelEnv } from './channels/channel.js';
import { DeliveryWorker, type WorkerOptions } from './worker.js';
import { GroupFlusher } from '../dispatch/flusher.js';
import { SilenceCache } from '../silence/cache.js';

export interface ThreadData {
  /** A SQLite file or a PostgreSQL URL (with its password: never logged). */
  dbPath: string;
  dbPoolMax?: number;
  busyTimeoutMs: number;
  /** DB_MAX_MB in bytes: here only to keep the WAL within its share (writes are not capped). */
  dbMaxBytes?: number | null;
  logLevel: string;
  channelEnv: ChannelEnv;
  rulesFile: string;
  rulesSource: string;
  worker?: Partial<WorkerOptions>;
  /** On a SQLite file, the process's lock on it (thread/write-lock.ts). */
  writeLock?: SharedArrayBuffer;
}

/** A metric update, applied by the main thread to the one registry /metrics serves. */
export type MetricOp =
  | { m: 'deliveries'; destination: string; status: string }
  | { m: 'policyBlocked'; rule: string; destination: string }
  | { m: 'attempts'; channel: string; outcome: string; seconds: number };

export type ToThread = { type: 'wake' } | { type: 'reload'; id: number; source: string } | { type: 'stop'; drainMs: number };

export type FromThread = Lifecycle | { type: 'reloaded'; id: number; error: string | null } | { type: 'metrics'; ops: MetricOp[] } | { type: 'stopped' };

/** How often metric updates are sent to the main thread. */
const METRICS_EVERY_MS = 250;

function compile(file: string, source: string): RouterConfig {
  // The main thread checked this very text in full (examples included); this only builds it.
  const { config, problems } = loadRulesText(source, file, process.env, { examples: false });
  if (config === null) throw new Error(`the delivery thread could not compile the rules: ${problems.map((p) => p.message).join('; ')}`);
  return config;
}

/** Metric updates, buffered and sent in batches (one registry, in the main thread, serves them). */
function forwardedMetrics(send: (ops: MetricOp[]) => void): DeliveryMetrics & { flush(): void } {
  let ops: MetricOp[] = [];
  return {
    deliveries: { inc: (l) => void ops.push({ m: 'deliveries', destination: l.destination, status: l.status }) },
    policyBlocked: { inc: (l) => void ops.push({ m: 'policyBlocked', rule: l.rule, destination: l.destination }) },
    attempts: { observe: (l, seconds) => void ops.push({ m: 'attempts', channel: l.channel, outcome: l.outcome, seconds }) },
    flush() {
      if (ops.length === 0) return;
      send(ops);
      ops = [];
    },
  };
}

async function main(port: NonNullable<typeof parentPort>, data: ThreadData): Promise<void> {
  const send = (m: FromThread) => port.postMessage(m);
  const log = pino({ level: data.logLevel, redact: LOG_REDACT }).child({ component: 'worker' });
  let config = compile(data.rulesFile, data.rulesSource);
  // No size cap on writes here: outcome writes must always succeed (DB_MAX_MB caps ingest, not
  // bookkeeping); but this thread's commits checkpoint the WAL within the cap's budget too.
  const store = openStore(data.dbPath, {
    sqlite: { busyTimeoutMs: data.busyTimeoutMs, maxBytes: data.dbMaxBytes ?? null, capWrites: false, writeLock: data.writeLock },
    postgres: { poolMax: data.dbPoolMax, applicationName: 'b3os-router delivery' },
  });
  const metrics = forwardedMetrics((ops) => send({ type: 'metrics', ops }));
  const flusher = setInterval(() => metrics.flush(), METRICS_EVERY_MS);
  const channels = new ChannelRegistry(data.channelEnv);
  // Noise control: the silences, checked again before each send, and the flush of due groups.
  const silences = new SilenceCache(store, () => config.server.fields, log);
  const worker = new DeliveryWorker({ store, rules: () => config, channels, metrics, log, options: data.worker, silences });
  const groups = new GroupFlusher(store, () => worker.wake(), log);

  port.on('message', (m: ToThread) => {
    switch (m.type) {
      case 'wake':
        worker.wake();
        break;
      case 'reload':
        try {
          config = compile(data.rulesFile, m.source);
          send({ type: 'reloaded', id: m.id, error: null });
        } catch (err) {
          send({ type: 'reloaded', id: m.id, error: (err as Error).message });
        }
        break;
      case 'stop':
        void (async () => {
          await groups.stop();
          silences.stop();
          await worker.stop(m.drainMs);
          await listener.close();
          clearInterval(flusher);
          metrics.flush();
          await channels.close();
          await store.close();
          send({ type: 'stopped' });
          port.close();
        })();
        break;
    }
  });
  // Deliveries committed by another replica, `retry` or `replay` (PostgreSQL's NOTIFY).
  const listener = store.listen(() => worker.wake());
  await silences.start();
  await worker.start();
  groups.start();
  send({ type: 'ready' });
}

if (parentPort) {
  const port = parentPort;
  main(port, workerData as ThreadData).catch((err) => port.postMessage({ type: 'failed', message: (err as Error).message } satisfies FromThread));
}
