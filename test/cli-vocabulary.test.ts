// B3OS deployments name the same events differently (run.succeeded / run.completed, execution.* /
// node.*): `check` warns when a type list names one spelling only, the example rules take both,
// and B3OS's own time fields (finishedAt, startedAt) count as the event's time.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';

const tmp = tempDir();
after(() => tmp.cleanup());

let n = 0;
function write(text: string, name = `rules-${++n}.yaml`): string {
  const file = join(tmp.dir, name);
  writeFileSync(file, text);
  return file;
}

/** 1-based line:col of `needle` in `text`, searching from `after`. */
function at(text: string, needle: string, after = ''): string {
  const i = text.indexOf(needle, after ? text.indexOf(after) : 0);
  assert.ok(i >= 0, `"${needle}" is not in the text`);
  const before = text.slice(0, i).split('\n');
  return `${before.length}:${before[before.length - 1]!.length + 1}`;
}

const HEAD = `version: 1
destinations:
  ops: { type: slack, channel: "#ops" }
`;

test('check warns, at the type, when a list names one spelling of a known pair and not the other', async () => {
  const text = `${HEAD}server:
  accept_types: ["run.*", execution.failed]
rules:
  - name: billing
    match: { type: [run.succeeded, run.failed] }
    send_to: [ops]
  - name: step
    match:
      type: execution.failed
    send_to: [ops]
  - name: steps
    match: { type: "execution.*" }
    send_to: [ops]
  - name: fine
    match: { type: [execution.failed, node.failed, "run.*", "*.skipped"] }
    send_to: [ops]
  - name: untyped
    when: { "==": [{ var: type }, execution.failed] }
    send_to: [ops]
`;
  const file = write(text);
  const res = await runCli(['check', '--rules', file], { cwd: tmp.dir });
  assert.equal(res.code, 0, res.stdout);
  const shown = file.slice(tmp.dir.length + 1);
  assert.deepEqual(res.stdout.trim().split('\n'), [
    `${shown}:${at(text, 'execution.failed')}: warning: server.accept_types takes "execution.failed" but not "node.failed", the name other B3OS deployments send for the same event, so it misses it there; write accept_types: ["run.*", execution.failed, node.failed]`,
    `${shown}:${at(text, 'run.succeeded')}: warning: rule "billing" takes "run.succeeded" but not "run.completed", the name other B3OS deployments send for the same event, so it misses it there; write type: [run.succeeded, run.failed, run.completed]`,
    `${shown}:${at(text, 'execution.failed', 'name: step')}: warning: rule "step" takes "execution.failed" but not "node.failed", the name other B3OS deployments send for the same event, so it misses it there; write type: [execution.failed, node.failed]`,
    `${shown}:${at(text, '"execution.*"')}: warning: rule "steps" takes "execution.*" but not "node.pending", "node.running", "node.succeeded", "node.failed", "node.skipped", "node.waiting", "node.scheduled", the names other B3OS deployments send for the same events, so it misses them there; write type: ["execution.*", "node.*"]`,
    `${shown}: valid (5 rules, 1 destination, 0 grants), with 4 warnings above`,
  ]);
});

test('rules.example.yaml takes both vocabularies, without warnings, and its examples prove it', async () => {
  const res = await runCli(['check', '--rules', 'rules.example.yaml']);
  assert.equal(res.code, 0, res.stdout);
  assert.doesNotMatch(res.stdout, /warning/);
  assert.match(res.stdout, /all 10 examples pass/);
  for (const [event, rule] of [
    ['examples/events/node-failed-payroll.json', 'payroll-node-failed'],
    ['examples/events/execution-failed-payroll.json', 'payroll-node-failed'],
    ['examples/events/run-completed-billing.json', 'sync-billing'],
    ['examples/events/run-succeeded-billing.json', 'sync-billing'],
  ] as const) {
    const r = await runCli(['test', '--rules', 'rules.example.yaml', '--event', event, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { event: { accepted: boolean }; rules: { rule: string; matched: boolean }[] };
    assert.equal(out.event.accepted, true, `${event} is accepted by server.accept_types`);
    assert.equal(out.rules.find((x) => x.rule === rule)?.matched, true, `${rule} matches ${event}`);
  }
});

test("max_event_age reads B3OS's own finishedAt / startedAt when the event has no createdAt", async () => {
  const rules = write(`${HEAD}  pay: { type: webhook, url: "https://pay.example.com/h", privileged: true }
rules:
  - name: paid
    match: { type: [run.succeeded, run.completed] }
    send_to: [pay]
policy:
  allow_privileged:
    - { rule: paid, destination: pay, max_event_age: 1h }
`);
  const now = new Date().toISOString();
  for (const field of ['finishedAt', 'startedAt']) {
    const event = write(
      JSON.stringify({ id: `evt_${field}`, type: 'run.completed', data: { id: 'run_1', status: 'success', [field]: now } }),
      `event-${field}.json`,
    );
    const r = await runCli(['test', '--rules', rules, '--event', event, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { event: { time: string | null }; deliveries: { allowed: boolean; reason: string }[] };
    assert.equal(out.event.time, now, field);
    assert.equal(out.deliveries[0]?.allowed, true, `${field}: ${out.deliveries[0]?.reason}`);
  }
});
