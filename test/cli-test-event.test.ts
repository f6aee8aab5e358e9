// `b3os-router test --event FILE` through the real executable: the --json shape, the human
// output, and refusals of bad input. Nothing may be sent or written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runCli, tempDir } from './helpers/cli.js';
import type { TestReport } from '../src/cli/test-event.js';

const RULES = join(ROOT, 'rules.example.yaml');
const EVENTS = join(ROOT, 'examples', 'events');

async function report(eventFile: string): Promise<TestReport> {
  const r = await runCli(['test', '--event', eventFile, '--rules', RULES, '--json']);
  assert.equal(r.code, 0, r.stderr);
  // Exactly one JSON document on stdout.
  return JSON.parse(r.stdout) as TestReport;
}

test('test --json: the stable shape, every rule listed, rendered text per destination', async () => {
  const eventFile = join(EVENTS, 'run-failed-payroll.json');
  const doc = await report(eventFile);
  assert.deepEqual(Object.keys(doc).sort(), ['deliveries', 'event', 'rules', 'rulesFile', 'stoppedBy', 'warnings']);
  assert.deepEqual(doc.event, {
    file: eventFile,
    type: 'run.failed',
    id: 'evt_01HZX3K9Q2M7A1',
    runId: 'run_7f3a2c',
    executionId: null,
    time: '2025-06-02T09:14:07.000Z',
    key: 'id:evt_01HZX3K9Q2M7A1',
    accepted: true,
  });
  assert.equal(doc.stoppedBy, null);

  // Every rule of the file, in order, including those the type index skipped.
  const names = doc.rules.map((r) => r.rule);
  assert.deepEqual(names, [
    'ignore-sandboxes',
    'payroll-failed',
    'payroll-node-failed',
    'large-run-failures',
    'audit-every-run',
    'sync-billing',
    'weekly-failures-digest',
  ]);
  const byRule = new Map(doc.rules.map((r) => [r.rule, r]));
  assert.deepEqual(byRule.get('payroll-failed'), { rule: 'payroll-failed', matched: true, reason: 'type is "run.failed" and data.workflowId is "wf_payroll"' });
  assert.equal(byRule.get('payroll-node-failed')!.matched, false);
  assert.match(byRule.get('payroll-node-failed')!.reason, /^type does not match/);
  assert.match(byRule.get('weekly-failures-digest')!.reason, /disabled/);

  const pairs = doc.deliveries.map((d) => `${d.rule}->${d.destination}`);
  assert.deepEqual(pairs, ['payroll-failed->ops-slack', 'payroll-failed->oncall-email', 'large-run-failures->team-slack-hook', 'audit-every-run->audit-log']);
  for (const d of doc.deliveries) {
    assert.deepEqual(Object.keys(d).sort(), ['allowed', 'destination', 'notes', 'privileged', 'reason', 'rendered', 'rule', 'type']);
    assert.equal(d.allowed, true);
    assert.equal(d.privileged, false);
    assert.equal(d.reason, 'not privileged');
  }
  const [slack, email, hook, audit] = doc.deliveries;
  // Slack: the rule's message, escaped for mrkdwn.
  assert.equal(slack!.type, 'slack');
  assert.equal(slack!.rendered.channel, '#b3os-alerts');
  assert.equal(
    slack!.rendered.text,
    ':red_circle: *Monthly payroll (US)* run run_7f3a2c failed: Transfer to &lt;ACME Payroll&gt; was declined: insufficient funds',
  );
  // Email: the subject template, and the message as plain text.
  assert.equal(email!.rendered.subject, 'B3OS run.failed: Monthly payroll (US)');
  assert.match(email!.rendered.text!, /Transfer to <ACME Payroll> was declined/);
  // No message on that rule: the default summary.
  assert.match(hook!.rendered.text!, /^B3OS run\.failed: workflow Monthly payroll \(US\) \(wf_payroll\), run run_7f3a2c/);
  // Webhook without a body template: rule, destination and the original event.
  const body = JSON.parse(audit!.rendered.body!) as { rule: string; destination: string; event: unknown };
  assert.equal(body.rule, 'audit-every-run');
  assert.equal(body.destination, 'audit-log');
  assert.deepEqual(body.event, JSON.parse(readFileSync(eventFile, 'utf8')));
});

test('test --json: a privileged delivery shows the policy decision and the rendered body', async () => {
  const doc = await report(join(EVENTS, 'run-succeeded-billing.json'));
  const billing = doc.deliveries.find((d) => d.destination === 'billing-sync');
  assert.ok(billing);
  assert.equal(billing.privileged, true);
  // `test` measures max_event_age from now, so a sample from 2025 is too old.
  assert.equal(billing.allowed, false);
  assert.match(billing.reason, /older than the max_event_age/);
  const body = JSON.parse(billing.rendered.body!) as Record<string, string>;
  assert.deepEqual(body, { kind: 'b3os.billing_run_succeeded', run: 'run_c0ffee', customer: 'cus_8812', amount: '4200.5', currency: 'USD' });
});

test('test: a fresh event passes the grant; a stop rule ends evaluation', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const fresh = JSON.parse(readFileSync(join(EVENTS, 'run-succeeded-billing.json'), 'utf8')) as { createdAt: string };
    fresh.createdAt = new Date().toISOString();
    writeFileSync(join(dir, 'fresh.json'), JSON.stringify(fresh));
    const [doc, sandbox] = await Promise.all([report(join(dir, 'fresh.json')), report(join(EVENTS, 'run-started-sandbox.json'))]);
    const billing = doc.deliveries.find((d) => d.destination === 'billing-sync')!;
    assert.equal(billing.allowed, true);
    assert.match(billing.reason, /^allowed by the grant at line \d+$/);

    assert.equal(sandbox.stoppedBy, 'ignore-sandboxes');
    assert.deepEqual(sandbox.deliveries, []);
    assert.match(sandbox.rules.find((r) => r.rule === 'audit-every-run')!.reason, /not evaluated: rule "ignore-sandboxes" above has stop: true/);
  } finally {
    cleanup();
  }
});

test('test: the human output shows matches, decisions and text, and writes nothing', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = await runCli(['test', '--event', join(EVENTS, 'execution-failed-payroll.json'), '--rules', RULES], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^event .*execution-failed-payroll\.json: execution\.failed$/m);
    assert.match(r.stdout, /MATCH\s+payroll-node-failed\s+type is "execution\.failed" and data\.workflowId is "wf_payroll"/);
    assert.match(r.stdout, /payroll-node-failed -> ops-slack \(slack #b3os-alerts\): would be sent/);
    assert.match(r.stdout, /\| :warning: Payroll step \*Send bank transfer\* failed in run run_7f3a2c/);
    assert.match(r.stdout, /nothing was sent and nothing was written/);
    assert.deepEqual(readdirSync(dir), [], 'test must not create files (no database, no data folder)');
  } finally {
    cleanup();
  }
});

test('test: bad event files exit 1 with a clear message', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'list.json'), '[{"type": "run.failed"}]');
    writeFileSync(join(dir, 'broken.json'), '{"type": "run.failed",');
    const cases: [string, RegExp][] = [
      [join(dir, 'missing.json'), /the event file .*missing\.json does not exist/],
      [join(dir, 'list.json'), /holds a list; an event is a JSON object/],
      [join(dir, 'broken.json'), /is not valid JSON/],
    ];
    await Promise.all(
      cases.map(async ([file, message]) => {
        const [r, j] = await Promise.all([runCli(['test', '--event', file, '--rules', RULES]), runCli(['test', '--event', file, '--rules', RULES, '--json'])]);
        assert.equal(r.code, 1, file);
        assert.match(r.stderr, message);
        assert.doesNotMatch(r.stderr, /\n\s+at /);
        assert.equal(j.code, 1);
        assert.match((JSON.parse(j.stdout) as { error: string }).error, message);
      }),
    );
  } finally {
    cleanup();
  }
});

test('test: bad rules exit 1 and print the check problems', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'rules.yaml'), 'version: 1\nrules:\n  - name: x\n    send_to: [nowhere]\n');
    const r = await runCli(['test', '--event', join(EVENTS, 'run-failed-payroll.json'), '--rules', 'rules.yaml'], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^rules\.yaml:4:15: rule "x" sends to "nowhere", which is not a destination/m);
  } finally {
    cleanup();
  }
});

test('test: --event is required', async () => {
  const r = await runCli(['test', '--rules', RULES]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--event FILE is required/);
});
