// Scenario "metrics": what a /metrics scrape costs with a short and with a long delivery queue.
// The rules send every bench event to DESTINATIONS webhook destinations whose receiver accepts the
// connection and never answers, one send at a time each (concurrency 1, a long timeout), so the
// deliveries stay pending without retries churning the CPU. The queue is filled over HTTP (no
// knowledge of the schema), its length read from the b3os_router_deliveries_pending gauge, and
// each scrape timed from request to the last byte of the answer.
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { load, median, startRouter, until } from './common.js';

const DESTINATIONS = 20;

function stalledRules(url: string): string {
  const out = ['version: 1', 'destinations:'];
  for (let d = 0; d < DESTINATIONS; d++)
    out.push(`  stalled-${d}:`, '    type: webhook', `    url: ${url}/stalled/${d}`, '    concurrency: 1', '    timeout: 1h', '    max_attempts: 1');
  out.push(
    'rules:',
    '  - name: fan-out',
    '    match: { type: run.failed }',
    `    send_to: [${Array.from({ length: DESTINATIONS }, (_, d) => `stalled-${d}`).join(', ')}]`,
  );
  return out.join('\n') + '\n';
}

/** A TCP server that takes connections and never answers (closing them all on close()). */
async function stalledReceiver(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.resume();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export interface ScrapeTimes {
  pending: number;
  scrapes: number;
  medianMs: number;
  p90Ms: number;
}

export interface MetricsResult {
  small: ScrapeTimes;
  large: ScrapeTimes;
  /** Median scrape time with the long queue ÷ with the short one. */
  ratio: number;
}

async function pendingGauge(url: string): Promise<number> {
  const text = await (await fetch(url + '/metrics')).text();
  const m = /^b3os_router_deliveries_pending(?:\{[^}]*\})?\s+(\S+)$/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

async function timeScrapes(url: string, count: number): Promise<ScrapeTimes> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    const res = await fetch(url + '/metrics');
    await res.arrayBuffer();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { pending: await pendingGauge(url), scrapes: count, medianMs: median(times), p90Ms: times[Math.floor(0.9 * (times.length - 1))]! };
}

export async function runMetrics(o: {
  dir: string;
  small: number;
  large: number;
  scrapes: number;
  routerNodeArgs: string[];
  log: (line: string) => void;
}): Promise<MetricsResult> {
  const receiver = await stalledReceiver();
  const router = await startRouter({
    dir: join(o.dir, 'router-metrics'),
    rules: stalledRules(receiver.url),
    nodeArgs: o.routerNodeArgs,
    logFile: join(o.dir, 'router-metrics.log'),
  });
  let posted = 0;
  // Fills the queue to at least `target` pending deliveries (less the ones in flight).
  const fill = async (target: number) => {
    const events = Math.ceil(target / DESTINATIONS) - posted;
    if (events > 0) await load({ url: router.url, connections: Math.min(20, events), amount: events, idPrefix: `queue-${posted}` });
    posted += Math.max(0, events);
    const want = posted * DESTINATIONS - DESTINATIONS;
    await until(async () => (await pendingGauge(router.url)) >= want, 120_000, `${want} pending deliveries`, 100);
  };
  try {
    await fill(o.small);
    await timeScrapes(router.url, 5); // warm-up
    const small = await timeScrapes(router.url, o.scrapes);
    o.log(`  ${small.pending} pending: /metrics median ${small.medianMs.toFixed(2)} ms, p90 ${small.p90Ms.toFixed(2)} ms`);
    await fill(o.large);
    await timeScrapes(router.url, 5);
    const large = await timeScrapes(router.url, o.scrapes);
    o.log(`  ${large.pending} pending: /metrics median ${large.medianMs.toFixed(2)} ms, p90 ${large.p90Ms.toFixed(2)} ms`);
    return { small, large, ratio: large.medianMs / small.medianMs };
  } finally {
    router.rss.stop();
    await receiver.close();
    await router.stop();
  }
}
