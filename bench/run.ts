// `npm run bench`: every target of issue 15, each scenario side by side with its baselines in the
// same run; a table on stdout and the whole result as JSON in bench/results/<timestamp>.json. The
// targets are reported (met/missed); the bench never fails the test suite.
//
// Options (after `npm run bench --`):
//   --quick             2 rounds of 3 s and 3,000 delivery events (a smoke run, not for quoting)
//   --rounds N          closed-loop rounds (default 3)      --seconds S   seconds per round (default 5)
//   --events N          end-to-end delivery events (default 10000)
//   --pending N         queue length for the long-queue /metrics scrape (default 100000)
//   --only LIST         comma list of scenario names (see SCENARIOS): ingest,rules,delivery,metrics
//   --profile           run the router under `node --cpu-prof` and summarise the profiles
//   --router-node-args "..."  extra node flags for the router (experiments, e.g. --max-semi-space-size=8)
//   --keep              keep the temporary work directory (databases, logs)
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, ensureDir, fmt, fsyncProbe, mb, startScript, startSink, table, type Sink } from './common.js';
import { runDelivery } from './delivery.js';
import { runIngest } from './ingest.js';
import { runMetrics } from './metrics.js';
import { runPostgres } from './postgres.js';
import { formatProfile, summarizeProfile } from './profile.js';
import { runRules, runRulesHttp } from './rules.js';

/** The targets of issue 15. */
const TARGETS = {
  ingestCpuUsPerReq: 40,
  ingestVsSqliteNormal: 1.0,
  p99Ms: 10,
  fixedRate: 500,
  fixedRateP99Ms: 10,
  fixedRateMaxMs: 50,
  rules1000VsRules10: 0.7,
  /** "Does not grow": bytes per event at 1,000 rules within 10% of those at 10 (ids and hashes vary a little). */
  decisionGrowth: 1.1,
  deliveriesPerSecond: 5000,
  cpuUsPerDelivery: 150,
  deliveredByLastAckShare: 0.5,
  peakRssMb: 150,
  /** Issue 12: one replica on PostgreSQL vs the router on SQLite, and two replicas vs one (ingest req/s). */
  pgOneVsSqlite: 0.5,
  pgTwoVsOne: 1.0,
  metricsLongVsShort: 2,
};
const RULE_SIZES = [10, 100, 1000];
const METRICS_SHORT_QUEUE = 100;

function machine() {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1]!.trim();
  } catch {
    // not Linux
  }
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    // no nproc
  }
  let fs = 'unknown';
  try {
    fs = execFileSync('df', ['-T', tmpdir()], { encoding: 'utf8' }).trim().split('\n')[1]?.split(/\s+/)[1] ?? fs;
  } catch {
    // no df
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    // not a clone
  }
  return {
    loadAverageAtStart: loadavg().map((x) => +x.toFixed(2)),
    nproc,
    cpuModel,
    memoryGb: +(totalmem() / 1024 ** 3).toFixed(1),
    freeMemoryGb: +(freemem() / 1024 ** 3).toFixed(1),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    tmpFilesystem: fs,
    commit,
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios. Each runs on its own (--only NAME), returns a JSON-able result, and reports its tables
// and its targets (met/missed). To add one (e.g. the PostgreSQL store of issue 12), write
// bench/<name>.ts with a run function and append an entry here.

interface Ctx {
  quick: boolean;
  rounds: number;
  seconds: number;
  events: number;
  pending: number;
  work: string;
  /** The webhook receiver every scenario shares (reset by each scenario that uses it). */
  sink: Sink;
  routerNodeArgs: string[];
  log: (line: string) => void;
}

interface Verdict {
  target: string;
  measured: string;
  met: boolean;
}

interface Scenario<R> {
  name: string;
  title: (c: Ctx) => string;
  run: (c: Ctx) => Promise<R>;
  report: (r: R, c: Ctx) => { out: string[]; targets: Verdict[] };
}

const scenario = <R>(s: Scenario<R>) => s as Scenario<unknown>;
const ms = (x: number) => fmt(x, x < 10 ? 1 : 0);
const rssTarget = (what: string, bytes: number): Verdict => ({
  target: `peak RSS ≤ ${TARGETS.peakRssMb} MB (${what})`,
  measured: `${fmt(mb(bytes), 1)} MB`,
  met: mb(bytes) <= TARGETS.peakRssMb,
});

const SCENARIOS: Scenario<unknown>[] = [
  scenario({
    name: 'ingest',
    title: (c) =>
      `the example rules, audit webhook to the local sink; ${c.rounds} rounds × ${c.seconds} s per target, 50 connections, a unique signed event per request; then ${TARGETS.fixedRate} req/s open loop`,
    run: (c) =>
      runIngest({
        dir: c.work,
        sink: c.sink,
        rounds: c.rounds,
        seconds: c.seconds,
        connections: 50,
        warmupSeconds: c.quick ? 1 : 2,
        fixedRate: TARGETS.fixedRate,
        routerNodeArgs: c.routerNodeArgs,
        log: c.log,
      }),
    report: (ingest, c) => {
      const out: string[] = [];
      const router = ingest.targets.find((t) => t.target === 'router')!;
      out.push('\nIngest, closed loop (mean of rounds for req/s; medians of rounds for latency and CPU; worst p99 in brackets)');
      out.push(
        table(
          ['target', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'peak RSS MB', 'non-2xx', 'errors', 'router ×'],
          ingest.targets.map((t) => [
            t.target,
            fmt(t.rps, 0),
            fmt(t.p50, 0),
            `${fmt(t.p99, 0)} (${fmt(t.p99Worst, 0)})`,
            t.cpuUsPerReqWithDrain !== null ? `${fmt(t.cpuUsPerReq, 0)} (${fmt(t.cpuUsPerReqWithDrain, 0)} with deliveries)` : fmt(t.cpuUsPerReq, 0),
            fmt(mb(t.peakRssBytes), 1),
            t.non2xx,
            t.errors,
            t.target === 'router' ? '1.00' : fmt(router.rps / t.rps, 2),
          ]),
        ),
      );
      out.push(
        `\nIngest at a fixed offered rate of ${ingest.fixedRate.rate} req/s (open loop, latency from each request's scheduled time, ${c.seconds} s each)`,
      );
      out.push(
        table(
          ['target', 'achieved req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'non-2xx', 'errors', 'connections'],
          ingest.fixedRate.runs.map((r) => [r.target, fmt(r.rps, 0), ms(r.p50), ms(r.p90), ms(r.p99), ms(r.max), r.non2xx, r.errors, r.sockets]),
        ),
      );
      const v = ingest.verification;
      out.push(
        `verification: ${v.routerAccepted} events answered 2xx by the router; ${v.missingFromDb} missing from its database; ` +
          `${v.routerDeliveries} audit deliveries written (${Object.entries(v.deliveriesByStatus)
            .map(([k, n]) => `${k} ${n}`)
            .join(', ')}); ` +
          `${v.deliveredToSink} distinct events delivered to the sink, ${v.missingAtSink} missing; drain after each router run ${v.drainMs.join('/')} ms`,
      );
      const fixed = ingest.fixedRate.runs.find((r) => r.target === 'router')!;
      const cpu = router.cpuUsPerReqWithDrain ?? router.cpuUsPerReq;
      return {
        out,
        targets: [
          {
            target: `ingest: router CPU ≤ ${TARGETS.ingestCpuUsPerReq} µs per request, its audit delivery included`,
            measured: `${fmt(cpu, 0)} µs (${fmt(router.cpuUsPerReq, 0)} during the load alone)`,
            met: cpu <= TARGETS.ingestCpuUsPerReq,
          },
          {
            target: `ingest: req/s ≥ ${fmt(TARGETS.ingestVsSqliteNormal, 1)}× Fastify + SQLite, a commit per event, synchronous=NORMAL`,
            measured: `${fmt(ingest.ratios.vsSqliteNormal, 2)}× (${fmt(ingest.ratios.vsSqliteFull, 2)}× the FULL one)`,
            met: ingest.ratios.vsSqliteNormal >= TARGETS.ingestVsSqliteNormal,
          },
          {
            target: `p99 ≤ ${TARGETS.p99Ms} ms at 50 connections`,
            measured: `${fmt(router.p99, 0)} ms (worst round ${fmt(router.p99Worst, 0)})`,
            met: router.p99 <= TARGETS.p99Ms,
          },
          {
            target: `p99 ≤ ${TARGETS.fixedRateP99Ms} ms at ${TARGETS.fixedRate} req/s, open loop`,
            measured: `${ms(fixed.p99)} ms`,
            met: fixed.p99 <= TARGETS.fixedRateP99Ms && fixed.errors === 0,
          },
          {
            target: `max ≤ ${TARGETS.fixedRateMaxMs} ms at ${TARGETS.fixedRate} req/s, open loop`,
            measured: `${ms(fixed.max)} ms`,
            met: fixed.max <= TARGETS.fixedRateMaxMs && fixed.errors === 0,
          },
          rssTarget('ingest', router.peakRssBytes),
          {
            target: 'ingest: every 2xx event stored, its delivery written and delivered',
            measured: `${v.missingFromDb} missing, ${v.missingAtSink} undelivered`,
            met: v.missingFromDb === 0 && v.missingAtSink === 0 && v.routerDeliveries >= v.routerAccepted,
          },
        ],
      };
    },
  }),
  scenario({
    name: 'rules',
    title: (c) => `${RULE_SIZES.join(' / ')} rules over HTTP, ${c.rounds} rounds × ${c.seconds} s each, 50 connections; then evaluation in-process`,
    run: async (c) => ({
      http: await runRulesHttp({
        dir: c.work,
        sink: c.sink,
        sizes: RULE_SIZES,
        rounds: c.rounds,
        seconds: c.seconds,
        warmupSeconds: c.quick ? 1 : 2,
        connections: 50,
        routerNodeArgs: c.routerNodeArgs,
        log: c.log,
      }),
      inProcess: runRules({ dir: c.work, sizes: RULE_SIZES, events: 3000, log: c.log }),
    }),
    report: ({ http, inProcess }) => {
      const out: string[] = [];
      const base = http.sizes[0]!;
      out.push('\nRules over HTTP (each event matches one rule; the others are evaluated and do not match)');
      out.push(
        table(
          ['rules', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'stored decision B/event', 'event row B (no payload)', `× ${base.rules} rules`],
          http.sizes.map((s) => [
            s.rules,
            fmt(s.summary.rps, 0),
            fmt(s.summary.p50, 0),
            fmt(s.summary.p99, 0),
            fmt(s.summary.cpuUsPerReqWithDrain ?? s.summary.cpuUsPerReq, 0),
            s.decisionBytesPerEvent === null ? 'n/a' : fmt(s.decisionBytesPerEvent, 0),
            fmt(s.rowBytesWithoutPayload, 0),
            fmt(s.summary.rps / base.summary.rps, 2),
          ]),
        ),
      );
      const v = http.verification;
      out.push(`verification: ${v.routerAccepted} answered 2xx, ${v.missingFromDb} missing from the databases, ${v.missingAtSink} undelivered`);
      out.push(
        '\nRule evaluation per event (in-process, informational; 3,000 sample events over 17 types; as ingest evaluates, through the rule index; "every reason": as `test` does)',
      );
      out.push(
        table(
          ['rules', 'mix', 'literal type', 'tested/event', 'matches/event', 'evaluate µs', 'evaluate+plan µs', 'every reason µs', 'load ms'],
          inProcess.map((r) => [
            r.rules,
            r.mix,
            r.indexedRules,
            fmt(r.testedPerEvent, 1),
            fmt(r.matchesPerEvent, 2),
            fmt(r.evaluateUs, 2),
            fmt(r.evaluateAndPlanUs, 2),
            fmt(r.everyReasonUs, 2),
            fmt(r.loadMs, 0),
          ]),
        ),
      );
      const last = http.sizes[http.sizes.length - 1]!;
      const bytes = (s: typeof base) =>
        s.decisionBytesPerEvent !== null ? `${fmt(s.decisionBytesPerEvent, 0)} B` : `${fmt(s.rowBytesWithoutPayload, 0)} B (row)`;
      return {
        out,
        targets: [
          {
            target: `${last.rules} rules ≥ ${TARGETS.rules1000VsRules10}× the req/s of ${base.rules} rules`,
            measured: `${fmt(http.rpsRatio, 2)}× (${fmt(last.summary.rps, 0)} vs ${fmt(base.summary.rps, 0)} req/s)`,
            met: http.rpsRatio >= TARGETS.rules1000VsRules10,
          },
          {
            target: `stored decision does not grow with rules that did not match (${last.rules} vs ${base.rules} rules, ≤ ${TARGETS.decisionGrowth}×)`,
            measured: `${fmt(http.decisionGrowth, 2)}× (${bytes(last)} vs ${bytes(base)} per event)`,
            met: http.decisionGrowth <= TARGETS.decisionGrowth,
          },
        ],
      };
    },
  }),
  scenario({
    name: 'delivery',
    title: (c) => `end to end, ${c.events} events matching one rule → local webhook receiver`,
    run: (c) => runDelivery({ dir: c.work, sink: c.sink, events: c.events, connections: 50, routerNodeArgs: c.routerNodeArgs, log: c.log }),
    report: (d) => ({
      out: [
        '\nDelivery end to end (first post → last delivery received)',
        table(
          [
            'events',
            'accepted',
            'ingest s',
            'total s',
            'deliveries/s',
            'trail s',
            'delivered by last ack',
            'router CPU µs/delivery',
            'at sink (unique)',
            'missing',
            'peak RSS MB',
          ],
          [
            [
              d.events,
              d.accepted,
              fmt(d.ingestSeconds, 2),
              fmt(d.totalSeconds, 2),
              fmt(d.deliveriesPerSecond, 0),
              fmt(d.trailSeconds, 2),
              `${d.deliveredByLastAck} (${fmt(100 * d.deliveredByLastAckShare, 0)}%)`,
              fmt(d.cpuUsPerDelivery, 0),
              `${d.receivedAtSink} (${d.uniqueAtSink})`,
              d.missingAtSink,
              fmt(mb(d.peakRssBytes), 1),
            ],
          ],
        ),
      ],
      targets: [
        {
          target: `end to end ≥ ${TARGETS.deliveriesPerSecond} deliveries/s`,
          measured: `${fmt(d.deliveriesPerSecond, 0)}/s`,
          met: d.deliveriesPerSecond >= TARGETS.deliveriesPerSecond && d.missingAtSink === 0,
        },
        {
          target: `end to end ≤ ${TARGETS.cpuUsPerDelivery} µs of router CPU per delivered event`,
          measured: `${fmt(d.cpuUsPerDelivery, 0)} µs`,
          met: d.cpuUsPerDelivery <= TARGETS.cpuUsPerDelivery,
        },
        {
          target: `end to end: ≥ ${fmt(100 * TARGETS.deliveredByLastAckShare, 0)}% delivered when the last event is acknowledged`,
          measured: `${fmt(100 * d.deliveredByLastAckShare, 0)}%`,
          met: d.deliveredByLastAckShare >= TARGETS.deliveredByLastAckShare,
        },
        rssTarget('end to end', d.peakRssBytes),
      ],
    }),
  }),
  scenario({
    name: 'metrics',
    title: (c) => `/metrics scrape time with ${METRICS_SHORT_QUEUE} and with ${c.pending} pending deliveries`,
    run: (c) => runMetrics({ dir: c.work, small: METRICS_SHORT_QUEUE, large: c.pending, scrapes: 30, routerNodeArgs: c.routerNodeArgs, log: c.log }),
    report: (r) => ({
      out: [
        '\n/metrics scrape (median of 30, from request to the last byte)',
        table(
          ['pending deliveries', 'median ms', 'p90 ms'],
          [r.small, r.large].map((s) => [s.pending, fmt(s.medianMs, 2), fmt(s.p90Ms, 2)]),
        ),
      ],
      targets: [
        {
          target: `/metrics O(1) in the queue: ${r.large.pending} pending ≤ ${TARGETS.metricsLongVsShort}× the time at ${r.small.pending}`,
          measured: `${fmt(r.ratio, 2)}× (${fmt(r.large.medianMs, 2)} vs ${fmt(r.small.medianMs, 2)} ms)`,
          met: r.ratio <= TARGETS.metricsLongVsShort,
        },
      ],
    }),
  }),
  scenario({
    name: 'postgres',
    title: (c) =>
      `the router on SQLite, on PostgreSQL with one replica and with two (the driver splits 50 connections between them), ${c.seconds} s of load each, then until every event is delivered`,
    run: (c) =>
      runPostgres({
        dir: c.work,
        sink: c.sink,
        seconds: c.seconds,
        connections: 50,
        warmup: c.quick ? 200 : 1000,
        routerNodeArgs: c.routerNodeArgs,
        log: c.log,
      }),
    report: (r) => ({
      out: [
        '\nPostgreSQL replicas (PostgreSQL on the same machine, fsync and synchronous_commit on; req/s summed over replicas, p99 of the worst replica)',
        table(
          ['target', 'replicas', 'req/s', 'p99 ms', 'accepted', 'non-2xx', 'deliveries/s', 'missing at sink', '× sqlite'],
          r.targets.map((t) => [
            t.target,
            t.replicas,
            fmt(t.rps, 0),
            fmt(t.p99, 0),
            t.accepted,
            t.non2xx,
            fmt(t.deliveriesPerSecond, 0),
            t.missingAtSink,
            fmt(t.rps / r.targets[0]!.rps, 2),
          ]),
        ),
        `deliveries/s: one replica ${fmt(r.ratios.deliveriesOneVsSqlite, 2)}× SQLite, two replicas ${fmt(r.ratios.deliveriesTwoVsOne, 2)}× one`,
      ],
      targets: [
        {
          target: `postgres: one replica ≥ ${TARGETS.pgOneVsSqlite}× the SQLite router's ingest req/s`,
          measured: `${fmt(r.ratios.oneVsSqlite, 2)}×`,
          met: r.ratios.oneVsSqlite >= TARGETS.pgOneVsSqlite,
        },
        {
          target: `postgres: two replicas ≥ ${TARGETS.pgTwoVsOne}× one replica's ingest req/s`,
          measured: `${fmt(r.ratios.twoVsOne, 2)}×`,
          met: r.ratios.twoVsOne >= TARGETS.pgTwoVsOne,
        },
        {
          target: 'postgres: every 2xx event delivered',
          measured: `${r.targets.reduce((a, t) => a + t.missingAtSink, 0)} missing`,
          met: r.targets.every((t) => t.missingAtSink === 0),
        },
      ],
    }),
  }),
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      events: { type: 'string' },
      pending: { type: 'string' },
      only: { type: 'string' },
      profile: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'router-node-args': { type: 'string' },
    },
    allowPositionals: false,
  });
  const quick = values.quick!;
  const ctx: Ctx = {
    quick,
    rounds: Number(values.rounds ?? (quick ? 2 : 3)),
    seconds: Number(values.seconds ?? (quick ? 3 : 5)),
    events: Number(values.events ?? (quick ? 3000 : 10_000)),
    pending: Number(values.pending ?? 100_000),
    work: mkdtempSync(join(tmpdir(), 'b3os-bench-')),
    sink: null as unknown as Sink,
    routerNodeArgs: [],
    log: (l: string) => process.stdout.write(l + '\n'),
  };
  const names = SCENARIOS.map((x) => x.name);
  const only = new Set(
    (values.only ?? names.join(','))
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  );
  for (const n of only) if (!names.includes(n)) throw new Error(`--only: no scenario "${n}" (there are: ${names.join(', ')})`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = ensureDir(join(ROOT, 'bench', 'results'));
  const profDir = join(resultsDir, `profile-${stamp}`);
  ctx.routerNodeArgs = [
    ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
    ...(values['router-node-args'] ? values['router-node-args'].split(/\s+/).filter(Boolean) : []),
  ];
  const { log, work } = ctx;
  const m = machine();
  log(`b3os-router bench — ${m.cpuModel}, ${m.nproc} CPUs, ${m.memoryGb} GB, node ${m.node}, temp fs ${m.tmpFilesystem}, commit ${m.commit}`);
  const fsync = fsyncProbe(work, 2000);
  log(`disk: fsync of 4 KiB in ${work}: p50 ${fsync.p50} ms, p99 ${fsync.p99} ms, max ${fsync.max} ms (${fsync.count} in 2 s)`);
  const start = startScript();
  const startEnv = Object.entries(start.env).map(([k, v]) => `${k}=${v}`);
  log(`router: ${[...startEnv, 'node', ...start.nodeFlags, ...ctx.routerNodeArgs].join(' ')} bin/b3os-router.js serve (NODE_ENV=production, LOG_LEVEL=warn)`);

  const selected = SCENARIOS.filter((x) => only.has(x.name));
  const results: Record<string, unknown> = {};
  const out: string[] = [];
  const verdicts: Verdict[] = [];
  const t0 = Date.now();
  ctx.sink = await startSink();
  try {
    for (const [i, sc] of selected.entries()) {
      log(`\n[${i + 1}/${selected.length}] ${sc.name}: ${sc.title(ctx)}`);
      const r = await sc.run(ctx);
      results[sc.name] = r;
      const rep = sc.report(r, ctx);
      out.push(...rep.out);
      verdicts.push(...rep.targets);
    }
  } finally {
    await ctx.sink.close();
  }
  const elapsed = (Date.now() - t0) / 1000;

  out.push('\nTargets (issue 15)');
  out.push(
    table(
      ['target', 'measured', ''],
      verdicts.map((t) => [t.target, t.measured, t.met ? 'met' : 'MISSED']),
    ),
  );

  let profiles: { file: string; summary: ReturnType<typeof summarizeProfile> }[] = [];
  if (values.profile) {
    try {
      const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
      profiles = files.map((f) => ({ file: join(profDir, f), summary: summarizeProfile(join(profDir, f)) }));
      for (const p of profiles) out.push('\n' + formatProfile(p.file));
    } catch (err) {
      out.push(`\n(no profiles found in ${profDir}: ${(err as Error).message})`);
    }
  }
  out.push(
    `\nbench took ${elapsed.toFixed(0)} s; load average at start ${m.loadAverageAtStart.join(' ')}, at end ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  if (m.loadAverageAtStart[0]! > 0.5) out.push('note: the machine was busy before the bench started; figures are noisier than on an idle machine');

  const file = join(resultsDir, `${stamp}.json`);
  const { sink: _sink, log: _log, ...options } = ctx;
  writeFileSync(
    file,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        machine: { ...m, fsync },
        options: { ...options, profile: values.profile, routerNodeFlags: [...start.nodeFlags, ...ctx.routerNodeArgs], routerEnv: start.env },
        targets: TARGETS,
        results,
        verdicts,
        profiles: profiles.map((p) => ({ file: p.file, categories: p.summary.categories, top: p.summary.lines })),
      },
      null,
      2,
    ),
  );
  out.push(`results: ${file}`);
  log(out.join('\n'));
  if (!values.keep) rmSync(work, { recursive: true, force: true });
  else log(`work directory kept: ${work}`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
