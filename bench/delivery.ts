// Scenario "delivery": end to end. 10,000 events that match the one rule of the rules file, to a
// local webhook receiver (the sink process), posted with bounded concurrency (autocannon, 50
// connections); measured from the first post to the last delivery received. The sink records when
// it first received each event, so the bench can tell how many were delivered by the time the
// last event was acknowledged (deliveries that starve while ingest runs show there).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { cpuSecondsOf, load, startRouter, until, type Sink } from './common.js';

/** One webhook destination (the sink) and one rule that every bench event matches. */
export function oneRule(sinkUrl: string): string {
  return `version: 1
destinations:
  bench-hook:
    type: webhook
    url: ${sinkUrl}/bench
rules:
  - name: bench-failures
    match: { type: run.failed, data.workflowId: wf_bench }
    send_to: [bench-hook]
`;
}

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
  /** Distinct events delivered by the time the last one was acknowledged (2xx), as a share of those acknowledged. */
  deliveredByLastAck: number;
  deliveredByLastAckShare: number;
  /** Router CPU (all threads) from the first post to the last delivery, µs per delivered event. */
  cpuUsPerDelivery: number;
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
  await sink.reset();
  const router = await startRouter({
    dir: join(o.dir, 'router-delivery'),
    rules: oneRule(sink.url),
    nodeArgs: o.routerNodeArgs,
    logFile: join(o.dir, 'router-delivery.log'),
  });
  const accepted = new Set<string>();
  let lastAck = 0;
  let ingestDone = 0;
  let start = 0;
  let cpu0 = 0;
  let cpu1 = 0;
  try {
    // A few events first so that connections to the sink and the JIT are warm; then a clean count.
    await load({ url: router.url, connections: 10, amount: 200, idPrefix: 'dwarm', onOk: (id) => accepted.add(id) });
    await until(async () => (await sink.stats()).unique >= accepted.size, 30_000, 'warm-up deliveries', 20);
    await sink.reset();
    accepted.clear();

    cpu0 = cpuSecondsOf(router.pid);
    start = Date.now();
    await load({
      url: router.url,
      connections: o.connections,
      amount: o.events,
      idPrefix: 'deliv',
      onOk: (id) => {
        accepted.add(id);
        lastAck = Date.now();
      },
    });
    ingestDone = Date.now();
    await until(async () => (await sink.stats()).unique >= accepted.size, 180_000, `${accepted.size} deliveries at the sink`, 10);
    cpu1 = cpuSecondsOf(router.pid);
  } finally {
    router.rss.stop();
    await router.stop();
  }
  const stats = await sink.stats();
  const atSink = new Set(await sink.ids());
  const deliveredByLastAck = await sink.receivedBy(lastAck);
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
    // From the last answer, not from autocannon's callback (which came 0.3-0.4 s later here).
    ingestSeconds: ((lastAck || ingestDone) - start) / 1000,
    totalSeconds,
    deliveriesPerSecond: stats.unique / totalSeconds,
    trailSeconds: (last - (lastAck || ingestDone)) / 1000,
    deliveredByLastAck,
    deliveredByLastAckShare: accepted.size ? deliveredByLastAck / accepted.size : 0,
    cpuUsPerDelivery: ((cpu1 - cpu0) * 1e6) / Math.max(1, stats.unique),
    receivedAtSink: stats.total,
    uniqueAtSink: stats.unique,
    missingAtSink: missing,
    deliveriesByStatus,
    peakRssBytes: router.rss.peak,
  };
}
