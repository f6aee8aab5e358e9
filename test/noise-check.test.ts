// Noise control in `check` and `test --event` (contract §9): the real CLI on real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';

const FILE = `version: 1
destinations:
  ops-slack: { type: slack, channel: "#alerts", token: xoxb-test }
  billing-sync: { type: webhook, url: "https://billing.example.com/hooks", privileged: true }
rules:
  - name: payroll-failed
    match: { type: run.failed }
    send_to: [ops-slack]
    group: { by: [data.workflowId, data.error.code], wait: 30s, interval: 10m }
    digest_message: "{{count}} failures of {{group.data.workflowId}}: {{#events}}{{data.runId}} {{/events}}"
`;

test('check accepts group and digest_message, and says what is wrong with them, at their place', async (t) => {
  const tmp = tempDir('b3os-noise-check-');
  t.after(() => tmp.cleanup());
  const good = join(tmp.dir, 'good.yaml');
  writeFileSync(good, FILE);
  const ok = await runCli(['check', '--rules', good]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);

  const bad = join(tmp.dir, 'bad.yaml');
  writeFileSync(
    bad,
    FILE +
      `  - name: no-interval
    match: { type: run.waiting }
    send_to: [ops-slack]
    group: { wait: 1m }
  - name: bad-values
    match: { type: run.cancelled }
    send_to: [ops-slack]
    group: { by: [data..id, "data.a b"], wait: soon, interval: 0s }
  - name: pays
    match: { type: run.succeeded }
    send_to: [billing-sync]
    group: { interval: 1m }
  - name: typo
    match: { type: run.started }
    send_to: [ops-slack]
    group: { interval: 1m, intreval: 2m }
    digest_message: "{{#events}}"
policy:
  allow_privileged:
    - { rule: pays, destination: billing-sync }
`,
  );
  const out = await runCli(['check', '--rules', bad]);
  assert.equal(out.code, 1);
  const lines = out.stdout.split('\n');
  const at = (re: RegExp) => lines.find((l) => re.test(l)) ?? assert.fail(`no line matching ${re}:\n${out.stdout}`);
  assert.match(at(/no-interval/), /^.*bad\.yaml:14:\d+: the group of rule "no-interval" needs "interval"/);
  assert.match(at(/data\.\.id/), /bad\.yaml:18:\d+: item 1 of the group\.by of rule "bad-values" is "data\.\.id", which is not a field path/);
  assert.match(at(/data\.a b/), /item 2 of the group\.by/);
  assert.match(at(/"wait" of the group of rule "bad-values"/), /not a duration/);
  assert.match(at(/"interval" of the group of rule "bad-values"/), /longer than zero/);
  assert.match(at(/rule "pays" groups/), /bad\.yaml:22:\d+: .*privileged: actions that move money are never batched/);
  assert.match(at(/intreval/), /did you mean "interval"/);
  assert.match(at(/digest_message/), /never closed/);
  assert.doesNotMatch(out.stdout + out.stderr, /\n\s+at /);
});

test('test --event shows the group an event would join and when it would be sent', async (t) => {
  const tmp = tempDir('b3os-noise-check-');
  t.after(() => tmp.cleanup());
  const rules = join(tmp.dir, 'rules.yaml');
  writeFileSync(rules, FILE);
  const event = join(tmp.dir, 'event.json');
  writeFileSync(event, JSON.stringify({ id: 'e1', type: 'run.failed', data: { workflowId: 'wf_payroll', runId: 'run_1', error: { code: 'E42' } } }));
  const json = await runCli(['test', '--event', event, '--rules', rules, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const d = (JSON.parse(json.stdout) as { deliveries: { group: { key: string; group: object; wait: string; interval: string; sends: string } }[] })
    .deliveries[0]!;
  assert.equal(d.group.key, '["wf_payroll","E42"]');
  assert.deepEqual(d.group.group, { 'data.workflowId': 'wf_payroll', 'data.error.code': 'E42' });
  assert.equal(d.group.wait, '30s');
  assert.equal(d.group.interval, '10m');
  assert.match(d.group.sends, /after 30s/);
  const human = await runCli(['test', '--event', event, '--rules', rules]);
  assert.match(
    human.stdout,
    /group \["wf_payroll","E42"\] \(data\.workflowId="wf_payroll", data\.error\.code="E42"\); wait 30s, interval 10m: sent if it opens the group/,
  );
});
