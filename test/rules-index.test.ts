// The rule index (route/route.ts, ingest's form of routeEvent) must pick exactly the rules that
// testing every rule picks: same matches, same order, same stop, same deliveries. Differential, over
// generated rules (match with texts, lists, wildcards, numbers, booleans, null; when with ==, ===,
// and, either order, var with a default) and generated events (fields missing, null, numbers as
// text and back, lists, objects, booleans).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRulesText } from '../src/config/load.js';
import type { EventObject, Json } from '../src/config/types.js';
import { decisionText, indexedCandidates, routeEvent } from '../src/route/route.js';
import { prng } from './helpers/prng.js';

const TYPES = ['run.failed', 'run.started', 'execution.failed', 'node.failed'];
const WORDS = ['wf_a', 'wf_ab', 'wf_b', '5', '05', 'true', 'x,y', '[object Object]', 'USD'];

function generate(seed: number, n: number): string {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const yamlValue = (): string => {
    const r = rnd();
    if (r < 0.45) return JSON.stringify(pick(WORDS));
    if (r < 0.6) return JSON.stringify(`${pick(['wf_', 'w', 'x', 'U', 'tr', 'fa', '5'])}*`);
    if (r < 0.7) return pick(['5', '0', '1.5']);
    if (r < 0.78) return pick(['true', 'false']);
    if (r < 0.83) return 'null';
    return `[${Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => JSON.stringify(pick([...WORDS, 'wf_*', '*a']))).join(', ')}]`;
  };
  const logicValue = (): string => (rnd() < 0.8 ? JSON.stringify(pick(WORDS)) : pick(['5', 'true', 'null', '""']));
  const field = () => pick(['data.workflowId', 'data.tags', 'data.amount', 'data.flag', 'data.obj', 'type', 'data.missing']);
  const out = [
    'version: 1',
    'destinations:',
    '  a: { type: webhook, url: "http://127.0.0.1:9/a" }',
    '  b: { type: webhook, url: "http://127.0.0.1:9/b", enabled: false }',
    'rules:',
  ];
  for (let i = 0; i < n; i++) {
    out.push(`  - name: r${i}`);
    if (rnd() < 0.1) out.push('    enabled: false');
    if (rnd() < 0.05) out.push('    stop: true');
    const kind = rnd();
    if (kind < 0.75) {
      const keys = new Set<string>();
      const parts: string[] = [];
      if (rnd() < 0.7) parts.push(`type: ${rnd() < 0.8 ? JSON.stringify(pick(TYPES)) : JSON.stringify(pick(['run.*', '*.failed', '*']))}`);
      for (let k = 0; k < 1 + Math.floor(rnd() * 2); k++) {
        const f = pick(['data.workflowId', 'data.tags', 'data.amount', 'data.flag', 'data.obj', 'data.missing']);
        if (keys.has(f)) continue;
        keys.add(f);
        parts.push(`${f}: ${yamlValue()}`);
      }
      out.push(`    match: { ${parts.join(', ')} }`);
    }
    if (kind >= 0.5) {
      const conds: string[] = [];
      for (let k = 0; k < 1 + Math.floor(rnd() * 3); k++) {
        const op = pick(['==', '===', '==', '!=', '>']);
        const v = { var: field() } as Json;
        const varJson = rnd() < 0.1 ? JSON.stringify({ var: [field(), 'wf_a'] }) : JSON.stringify(v);
        conds.push(rnd() < 0.5 ? `{ "${op}": [${varJson}, ${logicValue()}] }` : `{ "${op}": [${logicValue()}, ${varJson}] }`);
      }
      out.push(rnd() < 0.3 && conds.length === 1 ? `    when: ${conds[0]}` : `    when: { ${pick(['and', 'and', 'or'])}: [${conds.join(', ')}] }`);
    }
    out.push(`    send_to: [${pick(['a', 'b', 'a, b'])}]`);
  }
  return out.join('\n') + '\n';
}

function events(seed: number, n: number): EventObject[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const value = (): Json => {
    const r = rnd();
    if (r < 0.4) return pick(WORDS);
    if (r < 0.55) return pick([5, 0, 1.5, 50]);
    if (r < 0.65) return pick([true, false]);
    if (r < 0.7) return null;
    if (r < 0.85) return Array.from({ length: Math.floor(rnd() * 3) }, () => pick<Json>([...WORDS, 5, true, ['wf_a']]));
    return pick<Json>([{}, { a: 1 }, ['x', 'y']]);
  };
  return Array.from({ length: n }, (_, i) => {
    const data: Record<string, Json> = {};
    for (const f of ['workflowId', 'tags', 'amount', 'flag', 'obj']) if (rnd() < 0.8) data[f] = value();
    const e: EventObject = { id: `e${i}`, data };
    if (rnd() < 0.95) e.type = rnd() < 0.9 ? pick(TYPES) : (value() as Json);
    return e;
  });
}

test('the rule index picks the same rules as testing every rule, over generated rules and events', () => {
  let compared = 0;
  let skipped = 0;
  let matches = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const { config, problems } = loadRulesText(generate(seed, 120), '/tmp/generated.yaml', {}, { examples: false });
    assert.ok(config, problems.map((p) => `${p.line}:${p.col} ${p.message}`).join('\n'));
    for (const event of events(seed * 7919, 400)) {
      const full = routeEvent(config, event, { now: 0, replay: false });
      const lean = routeEvent(config, event, { now: 0, replay: false, matchedOnly: true });
      const matched = full.decision.outcomes.filter((o) => o.matched);
      matches += matched.length;
      assert.deepEqual(lean.decision.outcomes, matched, `seed ${seed}, event ${JSON.stringify(event)}`);
      assert.equal(lean.decision.stoppedBy, full.decision.stoppedBy);
      assert.deepEqual(lean.pairs, full.pairs);
      assert.equal(lean.decision.matchedOnly, true);
      // The text ingest stores is JSON.stringify's, written directly.
      assert.equal(decisionText(lean.decision), JSON.stringify(lean.decision));
      assert.equal(decisionText(full.decision), JSON.stringify(full.decision));
      compared++;
      skipped += config.rules.length - indexedCandidates(config, event, full.type).length;
    }
  }
  assert.equal(compared, 12 * 400);
  assert.ok(matches > compared, `events match rules (${matches} matches)`);
  assert.ok(skipped > compared * 30, `the index skips rules (${(skipped / compared).toFixed(1)} per event of 120)`);
});
