// Scenario "ingest": the router side by side with the baselines. The router (built CLI, production
// mode) runs the example rules file as shipped, its audit webhook (AUDIT_WEBHOOK_URL) pointed at
// the local sink, so every event is also delivered during the run. The router and three baselines
// run as child processes at the same time; autocannon drives one at a time with 50 connections and
// a unique, correctly signed event per request, alternating the targets over several rounds. Each
// target's CPU time (/proc/<pid>/stat) is read around each round; for the router also until its
// deliveries have reached the sink, so that the CPU per request includes delivering it, and so
// that its backlog does not steal CPU from the next target's round. Then each target at a fixed
// offered rate, open loop (bench/openloop.ts).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { ROOT, cpuSecondsOf, load, mean, median, startBaseline, startRouter, summarize, until, type LoadRun, type Sink, type Target } from './common.js';
import { openLoop, type OpenLoopResult } from './openloop.js';

/** The rule of the example file that every bench event (run.failed, wf_bench) matches. */
export const EXAMPLE_RULE = 'audit-every-run';

export interface RoundRun extends LoadRun {
  /** Target CPU during the load, µs per request. */
  cpuUsPerReq: number;
  /** The router only: CPU from the round's start until its deliveries reached the sink, µs per request. */
  cpuUsPerReqWithDrain?: number;
}

export interface TargetSummary {
  target: string;
  rounds: RoundRun[];
  rps: number;
  p50: number;
  p99: number;
  p99Worst: number;
  cpuUsPerReq: number;
  cpuUsPerReqWithDrain: number | null;
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
  ratios: { vsVerify: number; vsSqliteFull: number; vsSqliteNormal: number };
  /** Latency of each target at the same fixed offered rate, open loop. */
  fixedRate: { rate: number; runs: (OpenLoopResult & { target: string })[] };
  verification: Verification;
}

export interface Verification {
  routerAccepted: number;
  missingFromDb: number;
  routerDeliveries: number;
  deliveriesByStatus: Record<string, number>;
  deliveredToSink: number;
  missingAtSink: number;
  /** Time after each router round until the sink had every delivery (ms). */
  drainMs: number[];
}

/**
 * Waits until a router has nothing left to send (read from its database, as the CLI does) and the
 * sink has seen at least `expected()` distinct events. Returns the time it took (ms).
 */
export function drainer(router: { dbPath: string }, sink: Sink, expected: () => number): { wait: () => Promise<number>; close: () => void } {
  let db: Database.Database | null = null;
  const unfinished = () => {
    db ??= new Database(router.dbPath, { readonly: true, fileMustExist: true });
    return (db.prepare(`SELECT count(*) AS n FROM deliveries WHERE status IN ('pending', 'failed')`).get() as { n: number }).n;
  };
  return {
    wait: async () => {
      const t0 = Date.now();
      await until(
        async () => unfinished() === 0 && (await sink.stats()).unique >= expected(),
        120_000,
        `the router's deliveries to reach the sink (${expected()})`,
        50,
      );
      return Date.now() - t0;
    },
    close: () => db?.close(),
  };
}

/**
 * Closed-loop rounds over several targets, rotating their order each round so that no target
 * always runs first or last. `routers` are waited on (drained) after each of their rounds.
 */
export async function closedLoopRounds(o: {
  targets: Target[];
  routers: Map<Target, { accepted: Set<string>; drain: () => Promise<number> }>;
  rounds: number;
  seconds: number;
  warmupSeconds: number;
  connections: number;
  log: (line: string) => void;
}): Promise<{ runs: Map<string, RoundRun[]>; drainMs: number[] }> {
  const runs = new Map<string, RoundRun[]>(o.targets.map((t) => [t.name, []]));
  const drainMs: number[] = [];
  // Warm-up: JIT, connection pools, SQLite page cache. Not reported; the router's events are still verified.
  for (const t of o.targets) {
    const r = o.routers.get(t);
    await load({
      url: t.url,
      connections: o.connections,
      duration: o.warmupSeconds,
      idPrefix: `warm-${t.name}`,
      onOk: r ? (id) => r.accepted.add(id) : undefined,
    });
    if (r) await r.drain();
  }
  for (let round = 1; round <= o.rounds; round++) {
    const order = o.targets.map((_, i) => o.targets[(i + round - 1) % o.targets.length]!);
    for (const t of order) {
      const r = o.routers.get(t);
      const cpu0 = cpuSecondsOf(t.pid);
      const res = await load({
        url: t.url,
        connections: o.connections,
        duration: o.seconds,
        idPrefix: `r${round}-${t.name}`,
        onOk: r ? (id) => r.accepted.add(id) : undefined,
      });
      const cpu1 = cpuSecondsOf(t.pid);
      const s: RoundRun = { ...summarize(t.name, round, res), cpuUsPerReq: 0 };
      s.cpuUsPerReq = ((cpu1 - cpu0) * 1e6) / s.requests;
      if (r) {
        drainMs.push(await r.drain());
        s.cpuUsPerReqWithDrain = ((cpuSecondsOf(t.pid) - cpu0) * 1e6) / s.requests;
      }
      runs.get(t.name)!.push(s);
      const cpu = `CPU ${s.cpuUsPerReq.toFixed(0)} µs/req${s.cpuUsPerReqWithDrain !== undefined ? ` (${s.cpuUsPerReqWithDrain.toFixed(0)} with its deliveries)` : ''}`;
      o.log(
        `  round ${round} ${t.name.padEnd(22)} ${s.rps.toFixed(0).padStart(6)} req/s  p50 ${s.p50} ms  p99 ${s.p99} ms  ${cpu}  non-2xx ${s.non2xx}  errors ${s.errors}`,
      );
    }
  }
  return { runs, drainMs };
}

export function summarizeTarget(t: Target, rs: RoundRun[]): TargetSummary {
  const withDrain = rs.map((r) => r.cpuUsPerReqWithDrain).filter((x): x is number => x !== undefined);
  return {
    target: t.name,
    rounds: rs,
    rps: mean(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    p99Worst: Math.max(...rs.map((r) => r.p99)),
    cpuUsPerReq: median(rs.map((r) => r.cpuUsPerReq)),
    cpuUsPerReqWithDrain: withDrain.length ? median(withDrain) : null,
    peakRssBytes: t.rss.peak,
    requests: rs.reduce((a, r) => a + r.requests, 0),
    ok2xx: rs.reduce((a, r) => a + r.ok2xx, 0),
    non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
  };
}

/** Every 2xx'd event is in the router's database, with its delivery for `rule`, delivered to the sink. */
export async function verify(dbPath: string, rule: string, accepted: Set<string>, sink: Sink, drainMs: number[]): Promise<Verification> {
  const db = new Database(dbPath, { readonly: true });
  let missingFromDb = 0;
  let routerDeliveries = 0;
  const deliveriesByStatus: Record<string, number> = {};
  try {
    const stored = new Set(db.prepare('SELECT event_id FROM events').pluck().all() as string[]);
    for (const id of accepted) if (!stored.has(id)) missingFromDb++;
    for (const row of db.prepare(`SELECT status, count(*) AS n FROM deliveries WHERE rule = ? GROUP BY status`).all(rule) as { status: string; n: number }[]) {
      deliveriesByStatus[row.status] = row.n;
      routerDeliveries += row.n;
    }
  } finally {
    db.close();
  }
  const atSink = new Set(await sink.ids());
  let missingAtSink = 0;
  for (const id of accepted) if (!atSink.has(id)) missingAtSink++;
  return { routerAccepted: accepted.size, missingFromDb, routerDeliveries, deliveriesByStatus, deliveredToSink: atSink.size, missingAtSink, drainMs };
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
  const router = await startRouter({
    dir: join(o.dir, 'router'),
    rulesFile: join(ROOT, 'rules.example.yaml'),
    env: { AUDIT_WEBHOOK_URL: `${sink.url}/audit` },
    nodeArgs: o.routerNodeArgs,
    logFile: join(o.dir, 'router.log'),
  });
  const targets: Target[] = [router];
  const accepted = new Set<string>();
  const drain = drainer(router, sink, () => accepted.size);
  const fixedRuns: (OpenLoopResult & { target: string })[] = [];
  let runs = new Map<string, RoundRun[]>();
  let drainMs: number[] = [];
  try {
    targets.push(await startBaseline('verify', join(o.dir, 'verify')));
    targets.push(await startBaseline('sqlite', join(o.dir, 'sqlite')));
    targets.push(await startBaseline('sqlite-normal', join(o.dir, 'sqlite-normal')));
    ({ runs, drainMs } = await closedLoopRounds({
      targets,
      routers: new Map([[router, { accepted, drain: drain.wait }]]),
      rounds: o.rounds,
      seconds: o.seconds,
      warmupSeconds: o.warmupSeconds,
      connections: o.connections,
      log,
    }));
    // Latency at a fixed offered rate, open loop, the same for every target: with a closed loop
    // of 50 connections latency is 50 / throughput, so this isolates the time per request. One
    // second at the rate first (not recorded) so that the pool's connections are open.
    for (const t of targets) {
      const onOk = t === router ? (id: string) => accepted.add(id) : undefined;
      await openLoop({ url: t.url, rate: o.fixedRate, seconds: 1, idPrefix: `ratewarm-${t.name}`, onOk });
      const r = { target: t.name, ...(await openLoop({ url: t.url, rate: o.fixedRate, seconds: o.seconds, idPrefix: `rate-${t.name}`, onOk })) };
      fixedRuns.push(r);
      log(
        `  at ${o.fixedRate} req/s ${t.name.padEnd(22)} p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  max ${r.max.toFixed(1)} ms  non-2xx ${r.non2xx}  errors ${r.errors}  connections ${r.sockets}`,
      );
      if (t === router) drainMs.push(await drain.wait());
    }
  } finally {
    drain.close();
    for (const t of targets) t.rss.stop();
    const codes = await Promise.all(targets.map((t) => t.stop()));
    codes.forEach((c, i) => {
      if (c !== 0) log(`  warning: ${targets[i]!.name} exited with ${c}\n${targets[i]!.tail()}`);
    });
  }

  const summaries = targets.map((t) => summarizeTarget(t, runs.get(t.name)!));
  const by = (n: string) => summaries.find((s) => s.target === n)!;
  return {
    connections: o.connections,
    roundSeconds: o.seconds,
    rounds: o.rounds,
    targets: summaries,
    ratios: {
      vsVerify: by('router').rps / by('fastify-verify').rps,
      vsSqliteFull: by('router').rps / by('fastify-sqlite').rps,
      vsSqliteNormal: by('router').rps / by('fastify-sqlite-normal').rps,
    },
    fixedRate: { rate: o.fixedRate, runs: fixedRuns },
    verification: await verify(router.dbPath, EXAMPLE_RULE, accepted, sink, drainMs),
  };
}
