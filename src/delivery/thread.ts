// The delivery worker's thread. Sends (HTTP clients, SMTP, templates, claims and outcome writes)
// run here, on their own event loop, so that they never hold up ingest: the main thread answers
// hooks while this one delivers. It shares nothing with the main thread but the database file;
// messages carry wake-ups, reloads (the rules file's exact text), metric reads and the stop.
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { Registry } from 'prom-client';
import { loadRulesText } from '../config/load.js';
import type { RouterConfig } from '../config/types.js';
import { createDeliveryMetrics } from '../ops/metrics.js';
import { SqliteStore } from '../store/sqlite.js';
import { createChannels } from './channels/index.js';
import type { ChannelEnv } from './channels/channel.js';
import { DeliveryWorker, type WorkerOptions } from './worker.js';
import { LOG_REDACT } from '../ops/log.js';

export interface ThreadData {
  dbPath: string;
  busyTimeoutMs: number;
  maxBytes: number | null;
  logLevel: string;
  channelEnv: ChannelEnv;
  rulesFile: string;
  rulesSource: string;
  worker?: Partial<WorkerOptions>;
}

export type ToThread =
  | { type: 'wake' }
  | { type: 'reload'; source: string }
  | { type: 'metrics'; id: number }
  | { type: 'stop'; drainMs: number };

export type FromThread =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'metrics'; id: number; data: unknown }
  | { type: 'stopped' };

function compile(file: string, source: string): RouterConfig {
  const { config, problems } = loadRulesText(source, file);
  // The main thread accepted this very text; a difference here is a bug, not a user's mistake.
  if (config === null) throw new Error(`the delivery thread could not compile the rules: ${problems.map((p) => p.message).join('; ')}`);
  return config;
}

async function main(port: NonNullable<typeof parentPort>, data: ThreadData): Promise<void> {
  const log = pino({ level: data.logLevel, redact: LOG_REDACT }).child({ component: 'worker' });
  let config = compile(data.rulesFile, data.rulesSource);
  const store = new SqliteStore(data.dbPath, { busyTimeoutMs: data.busyTimeoutMs, maxBytes: data.maxBytes });
  const registry = new Registry();
  const metrics = createDeliveryMetrics(registry);
  const channels = createChannels(data.channelEnv);
  const worker = new DeliveryWorker({ store, rules: () => config, channels, metrics, log, options: data.worker });
  const send = (m: FromThread) => port.postMessage(m);

  port.on('message', (m: ToThread) => {
    switch (m.type) {
      case 'wake':
        worker.wake();
        break;
      case 'reload':
        try {
          config = compile(data.rulesFile, m.source);
        } catch (err) {
          log.error({ err: { message: (err as Error).message } }, 'delivery thread kept its previous rules');
        }
        break;
      case 'metrics':
        void registry.getMetricsAsJSON().then((json) => send({ type: 'metrics', id: m.id, data: json }));
        break;
      case 'stop':
        void (async () => {
          await worker.stop(m.drainMs);
          await channels.close();
          await store.close();
          send({ type: 'stopped' });
          port.close();
        })();
        break;
    }
  });
  await worker.start();
  send({ type: 'ready' });
}

if (parentPort) {
  const port = parentPort;
  main(port, workerData as ThreadData).catch((err) => port.postMessage({ type: 'failed', message: (err as Error).message } satisfies FromThread));
}
