// Scenario 2: end-to-end delivery. 10,000 events that match a rule to a local webhook receiver (the
// sink process), posted with bounded concurrency (autocannon, 50 connections); measured from the
// first post to the last delivery received.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { benchRules } from './ingest.js';
import { load, startRouter, until, type Sink } from './common.js';

export interface DeliveryResult {
  events: number;
  connections: number;
  accepted: number;
  /** First post → all posts answered (s). */
  ingestSeconds: number;
  /** First post → last delivery received (s). */
  totalSeconds: number;
  deliveriesPerSecond: number;
  /** Last answer → last delivery (s): how far delivery trailed ingest. */
  trailSeconds: number;
  receivedAtSink: number;
  uniqueAtSink: number;
  missingAtSink: number;
  deliveriesByStatus: Record<string, number>;
  peakRssBytes: number;
}

export async function runDelivery(o: {
  dir: string;
  sink: Sink;
  events: number;
  connections: number;
  routerNodeArgs: string[];
  log: (line: string) => void;
}): Promise<DeliveryResult> {
  const { sink } = o;
  const router = await startRouter({ dir: join(o.dir, 'router-delivery'), rules: benchRules(sink.url), nodeArgs: o.routerNodeArgs, logFile: join(o.dir, 'router-delivery.log') });
  const accepted = new Set<string>();
  let ingestDone = 0;
  let start = 0;
  try {
    // A few events first so that connections to the sink and the JIT are warm; then a clean count.
    await load({ url: router.url, connections: 10, amount: 200, idPrefix: 'dwarm', onOk: (id) => accepted.add(id) });
    await until(async () => (await sink.stats()).unique >= accepted.size, 30_000, 'warm-up deliveries', 20);
    await sink.reset();
    accepted.clear();

    start = Date.now();
    await load({ url: router.url, connections: o.connections, amount: o.events, idPrefix: 'deliv', onOk: (id) => accepted.add(id) });
    ingestDone = Date.now();
    await until(async () => (await sink.stats()).unique >= accepted.size, 180_000, `${accepted.size} deliveries at the sink`, 10);
  } finally {
    router.rss.stop();
    await router.stop();
  }
  const stats = await sink.stats();
  const atSink = new Set(await sink.ids());
  let missing = 0;
  for (const id of accepted) if (!atSink.has(id)) missing++;
  const deliveriesByStatus: Record<string, number> = {};
  const db = new Database(router.dbPath, { readonly: true });
  try {
    for (const row of db.prepare(`SELECT status, count(*) AS n FROM deliveries GROUP BY status`).all() as { status: string; n: number }[]) {
      deliveriesByStatus[row.status] = row.n;
    }
  } finally {
    db.close();
  }
  const last = stats.lastAt ?? Date.now();
  const totalSeconds = (last - start) / 1000;
  return {
    events: o.events,
    connections: o.connections,
    accepted: accepted.size,
    ingestSeconds: (ingestDone - start) / 1000,
    totalSeconds,
    deliveriesPerSecond: stats.unique / totalSeconds,
    trailSeconds: (last - ingestDone) / 1000,
    receivedAtSink: stats.total,
    uniqueAtSink: stats.unique,
    missingAtSink: missing,
    deliveriesByStatus,
    peakRssBytes: router.rss.peak,
  };
}
