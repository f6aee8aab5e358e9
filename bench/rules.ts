// Scenario 3: rule evaluation cost per event, in-process, with 10, 100 and 1,000 rules. Rules files
// are generated, loaded with the real loader (config/load.ts loadRules), and the same functions
// ingest uses are timed: rules/route.ts evaluate() (type index + every candidate's match/when) and
// plan() (policy per matched pair).
//
// The mix is 70% rules with a literal `type` (the type index skips them for other types), 15% with
// wildcards in `match`, 15% with a JSON Logic `when` (both evaluated for every event). A second,
// informational, set at 1,000 rules has no literal types at all: every rule is tested every time.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRules } from '../src/config/load.js';
import type { EventObject, RouterConfig } from '../src/config/types.js';
import { eventTime, eventType } from '../src/ingest/event.js';
import { evaluate, plan } from '../src/rules/route.js';

const TYPES = [
  'run.started', 'run.waiting', 'run.succeeded', 'run.failed', 'run.cancelled',
  'execution.pending', 'execution.running', 'execution.succeeded', 'execution.failed',
  'execution.skipped', 'execution.waiting', 'execution.scheduled',
  'delivery.attempted', 'delivery.retried', 'delivery.replayed', 'delivery.succeeded', 'delivery.failed',
];

/** A small deterministic PRNG (mulberry32), so every run measures the same events. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Mix = 'mixed' | 'unindexed';

export function generateRules(n: number, mix: Mix): string {
  const out: string[] = ['version: 1', 'destinations:'];
  const dests = 10;
  for (let d = 0; d < dests; d++) {
    out.push(`  dest-${d}:`, '    type: webhook', `    url: http://127.0.0.1:9/hook/${d}`);
    if (d === 0) out.push('    privileged: true');
  }
  out.push('rules:');
  for (let i = 0; i < n; i++) {
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
        `        - ">": [{ var: data.amount }, ${(i % 50) * 200}]`,
        `        - in: [{ var: data.currency }, [USD, EUR]]`,
      );
    }
    out.push(`    send_to: [${dest}]`);
  }
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
}

function measure(config: RouterConfig, events: EventObject[], withPlan: boolean, passes: number): { us: number; tested: number; matches: number } {
  const fields = config.server.fields;
  const now = Date.now();
  let tested = 0;
  let matches = 0;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let p = 0; p < passes; p++) {
    for (const event of events) {
      const type = eventType(event, fields);
      const { decision, pairs } = evaluate(config, event, type);
      if (withPlan) {
        const planned = plan(config, event, pairs, { now, eventTimeMs: eventTime(event, fields), replay: false, allowedInLastHour: () => 0 });
        sink += planned.length;
      }
      if (p === 0) {
        tested += decision.outcomes.length;
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
    };
    o.log(`  ${String(n).padStart(5)} rules (${mix.padEnd(9)}): evaluate ${r.evaluateUs.toFixed(2)} µs/event, +plan ${r.evaluateAndPlanUs.toFixed(2)} µs/event, ${r.testedPerEvent.toFixed(1)} rules tested/event, load ${r.loadMs.toFixed(0)} ms`);
    results.push(r);
  }
  return results;
}
