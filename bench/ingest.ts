// Scenario 1: ingest side by side. The router (built CLI, production mode) and the two baselines run
// as child processes at the same time; autocannon drives one at a time with 50 connections and a
// unique, correctly signed event per request, alternating the targets over several rounds. After
// each router round the bench waits for the router's deliveries to reach the sink, so that its
// backlog does not steal CPU from the next target's round.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import {
  load,
  mean,
  median,
  startBaseline,
  startRouter,
  summarize,
  until,
  type LoadRun,
  type Sink,
  type Target,
} from './common.js';

/** A realistic rules file: a handful of rules of every kind; one matches the bench events. */
export function benchRules(sinkUrl: string): string {
  return `version: 1
server:
  path: /b3os/hooks
destinations:
  ops-slack:
    type: slack
    webhook_url: ${sinkUrl}/slack
  oncall-hook:
    type: webhook
    url: ${sinkUrl}/oncall
  bench-hook:
    type: webhook
    url: ${sinkUrl}/bench
  billing-sync:
    type: webhook
    url: ${sinkUrl}/billing
    privileged: true
rules:
  - name: payroll-failed
    description: Tell ops when the payroll workflow fails
    match:
      type: run.failed
      data.workflowId: [wf_payroll, wf_payroll_eu]
    send_to: [ops-slack]
    message: ":red_circle: {{data.workflowName}} run {{data.runId}} failed: {{data.error.message}}"
  - name: large-run-failures
    when:
      and:
        - "==": [{ var: type }, run.failed]
        - ">": [{ var: data.amount }, 10000]
    send_to: [oncall-hook]
  - name: execution-failures
    match: { type: "execution.*", data.status: failed }
    send_to: [oncall-hook]
  - name: sync-billing
    match: { type: run.succeeded, data.workflowId: wf_billing }
    send_to: [billing-sync]
  - name: bench-failures
    description: The rule the benchmark's events match
    match: { type: run.failed, data.workflowId: wf_bench }
    send_to: [bench-hook]
policy:
  allow_privileged:
    - rule: sync-billing
      destination: billing-sync
      when: { "==": [{ var: data.currency }, USD] }
      max_per_hour: 100
`;
}

export interface TargetSummary {
  target: string;
  rounds: LoadRun[];
  rps: number;
  p50: number;
  p99: number;
  p99Worst: number;
  peakRssBytes: number;
  requests: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
}

export interface IngestResult {
  connections: number;
  roundSeconds: number;
  rounds: number;
  targets: TargetSummary[];
  ratios: { vsVerify: number; vsSqlite: number };
  /** Latency of each target at the same fixed offered rate. */
  fixedRate: { rate: number; runs: LoadRun[] };
  verification: {
    routerAccepted: number;
    missingFromDb: number;
    routerDeliveries: number;
    deliveriesByStatus: Record<string, number>;
    deliveredToSink: number;
    missingAtSink: number;
    /** Time after each router round until the sink had every delivery (ms). */
    drainMs: number[];
  };
}

export async function runIngest(o: {
  dir: string;
  sink: Sink;
  rounds: number;
  seconds: number;
  connections: number;
  warmupSeconds: number;
  /** Offered rate (req/s) for the open-loop latency measurement. */
  fixedRate: number;
  routerNodeArgs: string[];
  log: (line: string) => void;
}): Promise<IngestResult> {
  const { sink, log } = o;
  await sink.reset();
  const router = await startRouter({ dir: join(o.dir, 'router'), rules: benchRules(sink.url), nodeArgs: o.routerNodeArgs, logFile: join(o.dir, 'router.log') });
  const verify = await startBaseline('verify', join(o.dir, 'verify'));
  const sqlite = await startBaseline('sqlite', join(o.dir, 'sqlite'));
  const targets: Target[] = [router, verify, sqlite];
  const runs = new Map<string, LoadRun[]>(targets.map((t) => [t.name, []]));
  const accepted = new Set<string>();
  const drainMs: number[] = [];
  const fixedRuns: LoadRun[] = [];

  // Drained: no delivery left to send (read from the router's database, as the CLI does), and the
  // sink has seen at least as many events as were answered 2xx.
  let watchDb: Database.Database | null = null;
  const unfinished = () => {
    watchDb ??= new Database(router.dbPath, { readonly: true, fileMustExist: true });
    return (watchDb.prepare(`SELECT count(*) AS n FROM deliveries WHERE status IN ('pending', 'failed')`).get() as { n: number }).n;
  };
  const waitDrained = async () => {
    const t0 = Date.now();
    await until(async () => unfinished() === 0 && (await sink.stats()).unique >= accepted.size, 120_000, `the router's deliveries to reach the sink (${accepted.size})`, 50);
    drainMs.push(Date.now() - t0);
  };

  try {
    // Warm-up: JIT, connection pools, SQLite page cache. Not reported; the router's events are still verified.
    for (const t of targets) {
      await load({ url: t.url, connections: o.connections, duration: o.warmupSeconds, idPrefix: `warm-${t.name}`, onOk: t === router ? (id) => accepted.add(id) : undefined });
      if (t === router) await waitDrained();
    }
    drainMs.length = 0;
    for (let round = 1; round <= o.rounds; round++) {
      // Rotate the order each round so that no target always runs first or last.
      const order = targets.map((_, i) => targets[(i + round - 1) % targets.length]!);
      for (const t of order) {
        const r = await load({
          url: t.url,
          connections: o.connections,
          duration: o.seconds,
          idPrefix: `r${round}-${t.name}`,
          onOk: t === router ? (id) => accepted.add(id) : undefined,
        });
        const s = summarize(t.name, round, r);
        runs.get(t.name)!.push(s);
        log(`  round ${round} ${t.name.padEnd(15)} ${s.rps.toFixed(0).padStart(6)} req/s  p50 ${s.p50} ms  p99 ${s.p99} ms  non-2xx ${s.non2xx}  errors ${s.errors}`);
        if (t === router) await waitDrained();
      }
    }
    // Latency at a fixed offered rate (open loop), the same for every target: with a closed loop
    // of 50 connections, latency is 50 / throughput, so this isolates the time per request.
    for (const t of targets) {
      const r = await load({ url: t.url, connections: o.connections, duration: o.seconds, rate: o.fixedRate, idPrefix: `rate-${t.name}`, onOk: t === router ? (id) => accepted.add(id) : undefined });
      const s = summarize(t.name, 0, r);
      fixedRuns.push(s);
      log(`  at ${o.fixedRate} req/s ${t.name.padEnd(15)} p50 ${s.p50} ms  p99 ${s.p99} ms  max ${s.max} ms  non-2xx ${s.non2xx}`);
      if (t === router) await waitDrained();
    }
  } finally {
    (watchDb as Database.Database | null)?.close();
    for (const t of targets) t.rss.stop();
    const codes = await Promise.all(targets.map((t) => t.stop()));
    codes.forEach((c, i) => {
      if (c !== 0) log(`  warning: ${targets[i]!.name} exited with ${c}\n${targets[i]!.tail()}`);
    });
  }

  // Verification: every 2xx'd event is in the router's database, with its delivery, delivered.
  const db = new Database(router.dbPath, { readonly: true });
  let missingFromDb = 0;
  let routerDeliveries = 0;
  const deliveriesByStatus: Record<string, number> = {};
  try {
    const stored = new Set((db.prepare('SELECT event_id FROM events').pluck().all() as string[]));
    for (const id of accepted) if (!stored.has(id)) missingFromDb++;
    for (const row of db.prepare(`SELECT status, count(*) AS n FROM deliveries WHERE rule = 'bench-failures' GROUP BY status`).all() as { status: string; n: number }[]) {
      deliveriesByStatus[row.status] = row.n;
      routerDeliveries += row.n;
    }
  } finally {
    db.close();
  }
  const atSink = new Set(await sink.ids());
  let missingAtSink = 0;
  for (const id of accepted) if (!atSink.has(id)) missingAtSink++;

  const summaries: TargetSummary[] = targets.map((t) => {
    const rs = runs.get(t.name)!;
    return {
      target: t.name,
      rounds: rs,
      rps: mean(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      p99Worst: Math.max(...rs.map((r) => r.p99)),
      peakRssBytes: t.rss.peak,
      requests: rs.reduce((a, r) => a + r.requests, 0),
      ok2xx: rs.reduce((a, r) => a + r.ok2xx, 0),
      non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
      errors: rs.reduce((a, r) => a + r.errors, 0),
    };
  });
  const by = (n: string) => summaries.find((s) => s.target === n)!;
  return {
    connections: o.connections,
    roundSeconds: o.seconds,
    rounds: o.rounds,
    targets: summaries,
    ratios: { vsVerify: by('router').rps / by('fastify-verify').rps, vsSqlite: by('router').rps / by('fastify-sqlite').rps },
    fixedRate: { rate: o.fixedRate, runs: fixedRuns },
    verification: { routerAccepted: accepted.size, missingFromDb, routerDeliveries, deliveriesByStatus, deliveredToSink: atSink.size, missingAtSink, drainMs },
  };
}
