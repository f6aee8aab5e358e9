// `npm run bench`: the three scenarios side by side with the baselines, a table on stdout and the
// whole result as JSON in bench/results/<timestamp>.json. The targets are reported (met/missed);
// the bench never fails the test suite.
//
// Options (after `npm run bench --`):
//   --quick             2 rounds of 3 s and 3,000 delivery events (a smoke run, not for quoting)
//   --rounds N          ingest rounds (default 3)      --seconds S   seconds per round (default 5)
//   --events N          delivery events (default 10000)
//   --only LIST         comma list of ingest,delivery,rules
//   --profile           run the router under `node --cpu-prof` and summarise the profiles
//   --router-node-args "..."  extra node flags for the router (experiments, e.g. --max-semi-space-size=8)
//   --keep              keep the temporary work directory (databases, logs)
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, ensureDir, fmt, fsyncProbe, mb, startScriptNodeFlags, startSink, table } from './common.js';
import { runDelivery, type DeliveryResult } from './delivery.js';
import { runIngest, type IngestResult } from './ingest.js';
import { formatProfile, summarizeProfile } from './profile.js';
import { runRules, type RulesResult } from './rules.js';

const TARGETS = {
  ingestVsSqlite: 1.2,
  p99Ms: 12,
  peakRssMb: 120,
  deliveriesPerSecond: 2000,
  rules1000Us: 500,
};

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
  return { loadAverageAtStart: loadavg().map((x) => +x.toFixed(2)), nproc, cpuModel, memoryGb: +(totalmem() / 1024 ** 3).toFixed(1), freeMemoryGb: +(freemem() / 1024 ** 3).toFixed(1), node: process.version, platform: `${process.platform} ${process.arch}`, tmpFilesystem: fs, commit };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      events: { type: 'string' },
      only: { type: 'string' },
      profile: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'router-node-args': { type: 'string' },
    },
    allowPositionals: false,
  });
  const quick = values.quick!;
  const rounds = Number(values.rounds ?? (quick ? 2 : 3));
  const seconds = Number(values.seconds ?? (quick ? 3 : 5));
  const events = Number(values.events ?? (quick ? 3000 : 10_000));
  const only = new Set((values.only ?? 'ingest,delivery,rules').split(',').map((s) => s.trim()));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = ensureDir(join(ROOT, 'bench', 'results'));
  const profDir = join(resultsDir, `profile-${stamp}`);
  const routerNodeArgs = [
    ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
    ...(values['router-node-args'] ? values['router-node-args'].split(/\s+/).filter(Boolean) : []),
  ];
  const work = mkdtempSync(join(tmpdir(), 'b3os-bench-'));
  const log = (l: string) => process.stdout.write(l + '\n');
  const m = machine();
  log(`b3os-router bench — ${m.cpuModel}, ${m.nproc} CPUs, ${m.memoryGb} GB, node ${m.node}, temp fs ${m.tmpFilesystem}, commit ${m.commit}`);
  const fsync = fsyncProbe(work, 2000);
  log(`disk: fsync of 4 KiB in ${work}: p50 ${fsync.p50} ms, p99 ${fsync.p99} ms, max ${fsync.max} ms (${fsync.count} in 2 s)`);
  const startFlags = startScriptNodeFlags();
  log(`router: node ${[...startFlags, ...routerNodeArgs].join(' ')} bin/b3os-router.js serve (NODE_ENV=production, LOG_LEVEL=warn)`.replace(/\s+/g, ' '));

  let ingest: IngestResult | null = null;
  let delivery: DeliveryResult | null = null;
  let rules: RulesResult[] | null = null;
  const t0 = Date.now();
  const sink = await startSink();
  try {
    if (only.has('ingest')) {
      log(`\n[1/3] ingest: ${rounds} rounds × ${seconds} s per target, 50 connections, a unique signed event per request`);
      ingest = await runIngest({ dir: work, sink, rounds, seconds, connections: 50, warmupSeconds: quick ? 1 : 2, fixedRate: 500, routerNodeArgs, log });
    }
    if (only.has('delivery')) {
      log(`\n[2/3] delivery: ${events} events matching a rule → local webhook receiver`);
      await sink.reset();
      delivery = await runDelivery({ dir: work, sink, events, connections: 50, routerNodeArgs, log });
    }
  } finally {
    await sink.close();
  }
  if (only.has('rules')) {
    log('\n[3/3] rule evaluation, in-process');
    rules = runRules({ dir: work, sizes: [10, 100, 1000], events: 3000, log });
  }
  const elapsed = (Date.now() - t0) / 1000;

  // ------------------------------------------------------------------------------------------
  const targets: { target: string; measured: string; met: boolean }[] = [];
  const out: string[] = [];
  if (ingest) {
    const by = (n: string) => ingest!.targets.find((t) => t.target === n)!;
    const router = by('router');
    out.push('\nIngest (mean of rounds for req/s; median of rounds for latency; worst p99 in brackets)');
    out.push(
      table(
        ['target', 'req/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'non-2xx', 'errors', 'router ×'],
        ingest.targets.map((t) => [
          t.target,
          fmt(t.rps, 0),
          fmt(t.p50, 0),
          `${fmt(t.p99, 0)} (${fmt(t.p99Worst, 0)})`,
          fmt(mb(t.peakRssBytes), 1),
          t.non2xx,
          t.errors,
          t.target === 'router' ? '1.00' : fmt(router.rps / t.rps, 2),
        ]),
      ),
    );
    out.push(`\nIngest latency at a fixed offered rate of ${ingest.fixedRate.rate} req/s (open loop, 50 connections, ${seconds} s each)`);
    out.push(
      table(
        ['target', 'achieved req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'non-2xx'],
        ingest.fixedRate.runs.map((r) => [r.target, fmt(r.rps, 0), fmt(r.p50, 0), fmt(r.p90, 0), fmt(r.p99, 0), fmt(r.max, 0), r.non2xx]),
      ),
    );
    const v = ingest.verification;
    out.push(
      `verification: ${v.routerAccepted} events answered 2xx by the router; ${v.missingFromDb} missing from its database; ` +
        `${v.routerDeliveries} deliveries written (${Object.entries(v.deliveriesByStatus).map(([k, n]) => `${k} ${n}`).join(', ')}); ` +
        `${v.deliveredToSink} distinct events delivered to the sink, ${v.missingAtSink} missing; drain after each round ${v.drainMs.join('/')} ms`,
    );
    targets.push({ target: `ingest ≥ ${TARGETS.ingestVsSqlite}× the per-event-commit SQLite baseline`, measured: `${fmt(ingest.ratios.vsSqlite, 2)}×`, met: ingest.ratios.vsSqlite >= TARGETS.ingestVsSqlite });
    targets.push({ target: `p99 ≤ ${TARGETS.p99Ms} ms at 50 connections`, measured: `${fmt(router.p99, 0)} ms (worst round ${fmt(router.p99Worst, 0)})`, met: router.p99 <= TARGETS.p99Ms });
    targets.push({ target: `peak RSS ≤ ${TARGETS.peakRssMb} MB`, measured: `${fmt(mb(router.peakRssBytes), 1)} MB`, met: mb(router.peakRssBytes) <= TARGETS.peakRssMb });
    targets.push({ target: 'every 2xx event stored, every delivery written and delivered', measured: `${v.missingFromDb} missing, ${v.missingAtSink} undelivered`, met: v.missingFromDb === 0 && v.missingAtSink === 0 && v.routerDeliveries >= v.routerAccepted });
  }
  if (delivery) {
    const d = delivery;
    out.push('\nDelivery end to end (first post → last delivery received)');
    out.push(
      table(
        ['events', 'accepted', 'ingest s', 'total s', 'deliveries/s', 'trail s', 'at sink (unique)', 'missing', 'peak RSS MB'],
        [[d.events, d.accepted, fmt(d.ingestSeconds, 2), fmt(d.totalSeconds, 2), fmt(d.deliveriesPerSecond, 0), fmt(d.trailSeconds, 2), `${d.receivedAtSink} (${d.uniqueAtSink})`, d.missingAtSink, fmt(mb(d.peakRssBytes), 1)]],
      ),
    );
    targets.push({ target: `≥ ${TARGETS.deliveriesPerSecond} deliveries/s end to end`, measured: `${fmt(d.deliveriesPerSecond, 0)}/s`, met: d.deliveriesPerSecond >= TARGETS.deliveriesPerSecond && d.missingAtSink === 0 });
  }
  if (rules) {
    out.push('\nRule evaluation per event (in-process; 3,000 sample events over 17 types)');
    out.push(
      table(
        ['rules', 'mix', 'indexed', 'tested/event', 'matches/event', 'evaluate µs', 'evaluate+plan µs', 'load ms'],
        rules.map((r) => [r.rules, r.mix, r.indexedRules, fmt(r.testedPerEvent, 1), fmt(r.matchesPerEvent, 2), fmt(r.evaluateUs, 2), fmt(r.evaluateAndPlanUs, 2), fmt(r.loadMs, 0)]),
      ),
    );
    const r1000 = rules.find((r) => r.rules === 1000 && r.mix === 'mixed');
    if (r1000) targets.push({ target: `1,000 rules ≤ ${TARGETS.rules1000Us} µs per event`, measured: `${fmt(r1000.evaluateAndPlanUs, 1)} µs`, met: r1000.evaluateAndPlanUs <= TARGETS.rules1000Us });
  }
  out.push('\nTargets');
  out.push(table(['target', 'measured', ''], targets.map((t) => [t.target, t.measured, t.met ? 'met' : 'MISSED'])));

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
  out.push(`\nbench took ${elapsed.toFixed(0)} s; load average at start ${m.loadAverageAtStart.join(' ')}, at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  if (m.loadAverageAtStart[0]! > 0.5) out.push('note: the machine was busy before the bench started; figures are noisier than on an idle machine');

  const file = join(resultsDir, `${stamp}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), machine: { ...m, fsync }, options: { rounds, seconds, events, quick, profile: values.profile, routerNodeFlags: [...startScriptNodeFlags(), ...routerNodeArgs] }, targets: TARGETS, ingest, delivery, rules, verdicts: targets, profiles: profiles.map((p) => ({ file: p.file, categories: p.summary.categories, top: p.summary.lines })) }, null, 2));
  out.push(`results: ${file}`);
  log(out.join('\n'));
  if (!values.keep) rmSync(work, { recursive: true, force: true });
  else log(`work directory kept: ${work}`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
