// `examples:` on a rule: the rule's own tests, run by every load (check, serve, reload).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatProblem, loadRules, loadRulesText } from '../src/config/load.js';
import type { Problem } from '../src/config/types.js';
import { tempDir } from './helpers/cli.js';

function at(text: string, needle: string, after = ''): { line: number; col: number } {
  const start = after ? text.indexOf(after) : 0;
  const i = text.indexOf(needle, start);
  assert.ok(start >= 0 && i >= 0, `"${needle}" is not in the text`);
  const before = text.slice(0, i).split('\n');
  return { line: before.length, col: before[before.length - 1]!.length + 1 };
}

const HEAD = `version: 1
destinations:
  ops: { type: slack, channel: "#ops" }
  muted: { type: slack, channel: "#muted", enabled: false }
  billing: { type: webhook, url: "https://billing.example.com/h", privileged: true }
rules:
`;

const GRANT = `policy:
  allow_privileged:
    - rule: billing
      destination: billing
      when: { "==": [{ var: data.currency }, USD] }
      max_event_age: 1h
`;

function load(rules: string, tail = ''): { ok: boolean; problems: Problem[]; text: string } {
  const text = HEAD + rules + tail;
  const { config, problems } = loadRulesText(text, '/tmp/rules.yaml', {});
  return { ok: config !== null, problems, text };
}

function only(problems: Problem[]): Problem {
  const errors = problems.filter((p) => p.severity === 'error');
  assert.equal(errors.length, 1, problems.map(formatProblem).join('\n'));
  return errors[0]!;
}

test('passing examples: matches true and false, inline events', () => {
  const { ok, problems } = load(`  - name: failed
    match: { type: run.failed }
    send_to: [ops]
    examples:
      - event: { type: run.failed }
        matches: true
        destinations: [ops]
      - event: { type: run.succeeded }
        matches: false
        destinations: []
`);
  assert.deepEqual(problems, []);
  assert.ok(ok);
});

test('a failing "matches" is an error at the example, with the rule\'s reason', () => {
  const { ok, problems, text } = load(`  - name: failed
    match: { type: run.failed, data.workflowId: wf_payroll }
    send_to: [ops]
    examples:
      - event: { type: run.failed, data: { workflowId: wf_other } }
        matches: true
`);
  assert.equal(ok, false);
  const p = only(problems);
  assert.deepEqual({ line: p.line, col: p.col }, at(text, 'event: { type: run.failed, data'));
  assert.equal(p.message, 'example 1 of rule "failed" expects matches: true, but the rule does not match it: data.workflowId is "wf_other", not "wf_payroll"');
});

test('an example that matches when it should not', () => {
  const { problems } = load(`  - name: any-run
    match: { type: "run.*" }
    send_to: [ops]
    examples:
      - event: { type: run.started }
        matches: false
`);
  assert.match(only(problems).message, /expects matches: false, but the rule matches it: type is "run.started"/);
});

test('"matches" ignores enabled and stop; "destinations" does not', () => {
  const { ok, problems } = load(`  - name: stopper
    match: { type: run.failed }
    send_to: []
    stop: true
  - name: after-stop
    match: { type: run.failed }
    send_to: [ops]
    examples:
      - event: { type: run.failed }
        matches: true
        destinations: []
  - name: disabled
    enabled: false
    match: { type: run.failed }
    send_to: [ops]
    examples:
      - event: { type: run.succeeded, data: {} }
        matches: false
`);
  assert.deepEqual(problems, []);
  assert.ok(ok);
});

test('destinations that disagree name what happened (stop, disabled destination)', () => {
  const { problems, text } = load(`  - name: stopper
    match: { type: run.failed }
    send_to: []
    stop: true
  - name: after-stop
    match: { type: run.failed }
    send_to: [ops, muted]
    examples:
      - event: { type: run.failed }
        matches: true
        destinations: [ops]
`);
  const p = only(problems);
  assert.deepEqual({ line: p.line, col: p.col }, at(text, 'event: { type: run.failed }', 'name: after-stop'));
  assert.match(p.message, /expects destinations \[ops\], but it would send to \[\]: rule "stopper" above it has stop: true; "muted" is disabled/);
});

test('destinations go through policy: a grant condition blocks, and the reason is shown', () => {
  const { problems } = load(
    `  - name: billing
    match: { type: run.succeeded }
    send_to: [billing]
    examples:
      - event: { type: run.succeeded, createdAt: "2020-01-01T00:00:00Z", data: { currency: USD } }
        matches: true
        destinations: [billing]
      - event: { type: run.succeeded, createdAt: "2020-01-01T00:00:00Z", data: { currency: EUR } }
        matches: true
        destinations: [billing]
`,
    GRANT,
  );
  // The first passes although the event is years old: max_event_age is measured from its own time.
  const p = only(problems);
  assert.match(
    p.message,
    /^example 2 of rule "billing" expects destinations \[billing\], but it would send to \[\]: "billing" is blocked: the "when" condition of the grant at line \d+/,
  );
});

test('an example listing an unknown destination', () => {
  const { problems, text } = load(`  - name: r
    send_to: [ops]
    examples:
      - event: { type: x }
        matches: true
        destinations: [opps]
`);
  const p = only(problems);
  assert.deepEqual({ line: p.line, col: p.col }, at(text, 'opps'));
  assert.match(p.message, /lists "opps", which is not a destination; did you mean "ops"\?/);
});

test('event files are read relative to the rules file', () => {
  const { dir, cleanup } = tempDir();
  try {
    mkdirSync(join(dir, 'events'));
    writeFileSync(join(dir, 'events', 'failed.json'), JSON.stringify({ type: 'run.failed', data: { workflowId: 'wf_a' } }));
    writeFileSync(join(dir, 'events', 'list.json'), '[1, 2]');
    writeFileSync(join(dir, 'events', 'broken.json'), '{"type": ');
    const rules = (file: string) => `${HEAD}  - name: r
    match: { data.workflowId: wf_a }
    send_to: [ops]
    examples:
      - event: ${file}
        matches: true
`;
    writeFileSync(join(dir, 'ok.yaml'), rules('events/failed.json'));
    const ok = loadRules(join(dir, 'ok.yaml'), {});
    assert.deepEqual(ok.problems, []);
    assert.equal(ok.config!.rules[0]!.examples[0]!.source, 'events/failed.json');

    for (const [file, message] of [
      ['events/missing.json', /the event file "events\/missing\.json" does not exist/],
      ['events/list.json', /holds a list, not a JSON object/],
      ['events/broken.json', /is not valid JSON/],
    ] as const) {
      const text = rules(file);
      writeFileSync(join(dir, 'bad.yaml'), text);
      const bad = loadRules(join(dir, 'bad.yaml'), {});
      assert.equal(bad.config, null);
      const p = only(bad.problems);
      assert.deepEqual({ line: p.line, col: p.col }, at(text, file));
      assert.match(p.message, message);
    }
  } finally {
    cleanup();
  }
});
