// Scenario "rules", two parts.
//
// Over HTTP (the targets): three routers at once with 10, 100 and 1,000 rules, driven in turn like
// the ingest scenario (closed loop, 50 connections, rotating order). The bench event matches
// exactly one rule in each file (the last, to the sink); every other rule is evaluated and does
// not match. After the run the stored routing decision is measured in each router's SQLite file:
// bytes per event row, which should not grow with the rules that did not match.
//
// In-process (informational): rule evaluation cost per event with 10, 100 and 1,000 rules. Rules files
// are generated, loaded with the real loader (config/load.ts loadRules), and the same functions
// ingest uses are timed: route/route.ts routeEvent() (type index + every candidate's match/when) and
// its plan() (policy per matched pair).
//
// The mix is 70% rules with a literal `type` (the type index skips them for other types), 15% with
// wildcards in `match`, 15% with a JSON Logic `when` (both evaluated for every event). A second,
// informational, set at 1,000 rules has no literal types at all: every rule is tested every time.
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRouter, type Sink, type Target } from './common.js';
import { closedLoopRounds, drainer, summarizeTarget, verify, type TargetSummary, type Verification } from './ingest.js';
import { loadRules } from '../src/config/load.js';
import type { EventObject, RouterConfig } from '../src/config/types.js';
import { NO_COUNTS } from '../src/policy/policy.js';
import { indexedCandidates, routeEvent } from '../src/route/route.js';
import { prng } from '../test/helpers/prng.js';

const TYPES = [
  'run.started',
  'run.waiting',
  'run.succeeded',
  'run.failed',
  'run.cancelled',
  'execution.pending',
  'execution.running',
  'execution.succeeded',
  'execution.failed',
  'execution.skipped',
  'execution.waiting',
  'execution.scheduled',
  'delivery.attempted',
  'delivery.retried',
  'delivery.replayed',
  'delivery.succeeded',
  'delivery.failed',
];

export type Mix = 'mixed' | 'unindexed';
export const BENCH_RULE = 'bench-failures';

/**
 * `n` generated rules. With `benchSinkUrl`, the last of them is instead one that the bench's events
 * match (to the sink), and no other rule matches a bench event (the `when` thresholds are raised
 * above its amount).
 */
export function generateRules(n: number, mix: Mix, benchSinkUrl?: string): string {
  const out: string[] = ['version: 1', 'destinations:'];
  if (benchSinkUrl) out.push('  bench-hook:', '    type: webhook', `    url: ${benchSinkUrl}/bench`);
  const generated = benchSinkUrl ? n - 1 : n;
  const amountFloor = benchSinkUrl ? 1_000_000 : 0;
  const dests = 10;
  for (let d = 0; d < dests; d++) {
    out.push(`  dest-${d}:`, '    type: webhook', `    url: http://127.0.0.1:9/hook/${d}`);
    if (d === 0) out.push('    privileged: true');
  }
  out.push('rules:');
  for (let i = 0; i < generated; i++) {
    // (i * 3) % 20 walks all of 0..19 in every 20 rules, so even 10 rules hold each kind.
    const slot = (i * 3) % 20;
    const kind = mix === 'unindexed' ? (i % 2 === 0 ? 'wildcard' : 'when') : slot < 14 ? 'literal' : slot < 17 ? 'wildcard' : 'when';
    const type = TYPES[i % TYPES.length]!;
    const dest = `dest-${i % dests}`;
    out.push(`  - name: rule-${i}`);
    if (kind === 'literal') {
      out.push('    match:', `      type: ${type}`, `      data.workflowId: [wf_${i % 300}, wf_${(i + 7) % 300}]`);
    } else if (kind === 'wildcard') {
      const family = type.split('.')[0]!;
      out.push('    match:', `      type: "${family}.*"`, `      data.workflowId: "wf_${i % 30}*"`, `      data.status: [failed, cancelled]`);
    } else {
      out.push(
        '    when:',
        '      and:',
        `        - "==": [{ var: type }, ${type}]`,
        `        - ">": [{ var: data.amount }, ${amountFloor + (i % 50) * 200}]`,
        `        - in: [{ var: data.currency }, [USD, EUR]]`,
      );
    }
    out.push(`    send_to: [${dest}]`);
  }
  if (benchSinkUrl) out.push(`  - name: ${BENCH_RULE}`, '    match: { type: run.failed, data.workflowId: wf_bench }', '    send_to: [bench-hook]');
  out.push('policy:', '  allow_privileged:', '    - rule: rule-0', '      destination: dest-0', '      max_per_hour: 1000000');
  return out.join('\n') + '\n';
}

export function sampleEvents(count: number, seed = 42): EventObject[] {
  const rnd = prng(seed);
  const events: EventObject[] = [];
  for (let i = 0; i < count; i++) {
    const type = TYPES[Math.floor(rnd() * TYPES.length)]!;
    events.push({
      id: `evt_${i}`,
      type,
      createdAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      data: {
        workflowId: `wf_${Math.floor(rnd() * 300)}`,
        workflowName: 'Sample workflow',
        runId: `run_${i}`,
        executionId: `exe_${i}`,
        status: type.endsWith('failed') ? 'failed' : type.split('.')[1]!,
        amount: Math.floor(rnd() * 20_000),
        currency: rnd() < 0.7 ? 'USD' : 'GBP',
        error: { message: 'something went wrong', code: 'E_SAMPLE' },
      },
    });
  }
  return events;
}

export interface RulesResult {
  rules: number;
  mix: Mix;
  indexedRules: number;
  loadMs: number;
  events: number;
  /** Average rules actually tested per event (after the type index). */
  testedPerEvent: number;
  matchesPerEvent: number;
  evaluateUs: number;
  evaluateAndPlanUs: number;
  /** As `test` evaluates (every candidate of the type index, each with its reason), for comparison. */
  everyReasonUs: number;
}

function measure(
  config: RouterConfig,
  events: EventObject[],
  withPlan: boolean,
  passes: number,
  matchedOnly = true,
): { us: number; tested: number; matches: number } {
  const now = Date.now();
  let tested = 0;
  let matches = 0;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let p = 0; p < passes; p++) {
    for (const event of events) {
      const { decision, pairs, plan, type } = routeEvent(config, event, { now, replay: false, matchedOnly });
      if (withPlan) {
        const planned = plan(NO_COUNTS);
        sink += planned.length;
      }
      if (p === 0) {
        tested += matchedOnly ? indexedCandidates(config, event, type).length : decision.outcomes.length;
        matches += pairs.length;
      }
    }
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (sink < 0) throw new Error('unreachable');
  return { us: ns / 1000 / (passes * events.length), tested: tested / events.length, matches: matches / events.length };
}

export function runRules(o: { dir: string; sizes: number[]; events: number; log: (l: string) => void }): RulesResult[] {
  const events = sampleEvents(o.events);
  const results: RulesResult[] = [];
  const cases: [number, Mix][] = [...o.sizes.map((n) => [n, 'mixed'] as [number, Mix]), [Math.max(...o.sizes), 'unindexed']];
  for (const [n, mix] of cases) {
    const file = join(o.dir, `rules-${n}-${mix}.yaml`);
    writeFileSync(file, generateRules(n, mix));
    const t0 = performance.now();
    const { config, problems } = loadRules(file);
    const loadMs = performance.now() - t0;
    if (config === null) throw new Error(`generated rules file ${file} did not load:\n${problems.map((p) => `${p.line}:${p.col} ${p.message}`).join('\n')}`);
    // Warm up the JIT on both paths, then measure; passes keep each measurement around a second or less.
    measure(config, events, true, 2);
    const passes = n >= 1000 ? 3 : n >= 100 ? 10 : 30;
    const ev = measure(config, events, false, passes);
    const both = measure(config, events, true, passes);
    measure(config, events, false, 1, false);
    const everyReason = measure(config, events, false, passes, false);
    const r: RulesResult = {
      rules: n,
      mix,
      indexedRules: config.rules.filter((x) => x.types !== null).length,
      loadMs,
      events: events.length,
      testedPerEvent: ev.tested,
      matchesPerEvent: ev.matches,
      evaluateUs: ev.us,
      evaluateAndPlanUs: both.us,
      everyReasonUs: everyReason.us,
    };
    o.log(
      `  ${String(n).padStart(5)} rules (${mix.padEnd(9)}): evaluate ${r.evaluateUs.toFixed(2)} µs/event (every reason ${r.everyReasonUs.toFixed(2)}), +plan ${r.evaluateAndPlanUs.toFixed(2)} µs/event, ${r.testedPerEvent.toFixed(1)} rules tested/event, load ${r.loadMs.toFixed(0)} ms`,
    );
    results.push(r);
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Over HTTP

export interface RulesHttpSize {
  rules: number;
  summary: TargetSummary;
  /** Events stored in this router's database. */
  storedEvents: number;
  /** Mean bytes per event row of the stored routing decision (the `routing` column), if there is one. */
  decisionBytesPerEvent: number | null;
  /** Mean bytes per event row, every column but the payload (robust to where the decision moves). */
  rowBytesWithoutPayload: number;
}

export interface RulesHttpResult {
  sizes: RulesHttpSize[];
  /** req/s at the largest size ÷ req/s at the smallest. */
  rpsRatio: number;
  /** Stored decision bytes per event at the largest size ÷ at the smallest. */
  decisionGrowth: number;
  verification: Verification;
}

/** Bytes per event row, from the router's SQLite file (length of each column as stored, as a blob). */
function storedSizes(dbPath: string): { storedEvents: number; decisionBytesPerEvent: number | null; rowBytesWithoutPayload: number } {
  const db = new Database(dbPath, { readonly: true });
  try {
    const cols = (db.prepare(`PRAGMA table_info(events)`).all() as { name: string }[]).map((c) => c.name).filter((c) => c !== 'payload');
    const sum = cols.map((c) => `coalesce(length(CAST("${c}" AS BLOB)), 0)`).join(' + ');
    const r = db.prepare(`SELECT count(*) AS n, avg(${sum}) AS row FROM events`).get() as { n: number; row: number | null };
    const decision = cols.includes('routing')
      ? (db.prepare(`SELECT avg(coalesce(length(CAST(routing AS BLOB)), 0)) AS b FROM events`).get() as { b: number | null }).b
      : null;
    return { storedEvents: r.n, decisionBytesPerEvent: decision, rowBytesWithoutPayload: r.row ?? 0 };
  } finally {
    db.close();
  }
}

export async function runRulesHttp(o: {
  dir: string;
  sink: Sink;
  sizes: number[];
  rounds: number;
  seconds: number;
  warmupSeconds: number;
  connections: number;
  routerNodeArgs: string[];
  log: (line: string) => void;
}): Promise<RulesHttpResult> {
  const { sink, log } = o;
  await sink.reset();
  const accepted = new Set<string>();
  const routers: (Target & { dbPath: string; rules: number })[] = [];
  const drains: ReturnType<typeof drainer>[] = [];
  let runs = new Map<string, import('./ingest.js').RoundRun[]>();
  let drainMs: number[] = [];
  try {
    for (const n of o.sizes) {
      const r = await startRouter({
        dir: join(o.dir, `router-rules-${n}`),
        rules: generateRules(n, 'mixed', sink.url),
        nodeArgs: o.routerNodeArgs,
        logFile: join(o.dir, `router-rules-${n}.log`),
      });
      routers.push(Object.assign(r, { name: `router-${n}-rules`, rules: n }));
    }
    // One sink for all three: a router's drain waits for every accepted event so far.
    const map = new Map<Target, { accepted: Set<string>; drain: () => Promise<number> }>();
    for (const r of routers) {
      const d = drainer(r, sink, () => accepted.size);
      drains.push(d);
      map.set(r, { accepted, drain: d.wait });
    }
    ({ runs, drainMs } = await closedLoopRounds({
      targets: routers,
      routers: map,
      rounds: o.rounds,
      seconds: o.seconds,
      warmupSeconds: o.warmupSeconds,
      connections: o.connections,
      log,
    }));
  } finally {
    for (const d of drains) d.close();
    for (const r of routers) r.rss.stop();
    const codes = await Promise.all(routers.map((r) => r.stop()));
    codes.forEach((c, i) => {
      if (c !== 0) log(`  warning: ${routers[i]!.name} exited with ${c}\n${routers[i]!.tail()}`);
    });
  }
  const sizes = routers.map((r) => ({ rules: r.rules, summary: summarizeTarget(r, runs.get(r.name)!), ...storedSizes(r.dbPath) }));
  for (const s of sizes)
    log(
      `  ${String(s.rules).padStart(5)} rules: stored decision ${s.decisionBytesPerEvent?.toFixed(0) ?? 'n/a'} B/event, event row without payload ${s.rowBytesWithoutPayload.toFixed(0)} B`,
    );
  // Verification over all three databases: each accepted event stored once, delivered.
  let missingFromDb = 0;
  let routerDeliveries = 0;
  const byStatus: Record<string, number> = {};
  const each = await Promise.all(routers.map((r) => verify(r.dbPath, BENCH_RULE, new Set([...accepted].filter((id) => id.includes(`-${r.name}-`))), sink, [])));
  for (const v of each) {
    missingFromDb += v.missingFromDb;
    routerDeliveries += v.routerDeliveries;
    for (const [k, n] of Object.entries(v.deliveriesByStatus)) byStatus[k] = (byStatus[k] ?? 0) + n;
  }
  const atSink = new Set(await sink.ids());
  let missingAtSink = 0;
  for (const id of accepted) if (!atSink.has(id)) missingAtSink++;
  const first = sizes[0]!;
  const lastSize = sizes[sizes.length - 1]!;
  const bytes = (s: RulesHttpSize) => s.decisionBytesPerEvent ?? s.rowBytesWithoutPayload;
  return {
    sizes,
    rpsRatio: lastSize.summary.rps / first.summary.rps,
    decisionGrowth: bytes(lastSize) / bytes(first),
    verification: {
      routerAccepted: accepted.size,
      missingFromDb,
      routerDeliveries,
      deliveriesByStatus: byStatus,
      deliveredToSink: atSink.size,
      missingAtSink,
      drainMs,
    },
  };
}
