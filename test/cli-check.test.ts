// `b3os-router check` through the real executable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runCli, tempDir } from './helpers/cli.js';

// Variables the example file reads with defaults; unset so the defaults are what is tested.
const NO_EXAMPLE_VARS = { TEAM_SLACK_WEBHOOK: undefined, AUDIT_WEBHOOK_URL: undefined, BILLING_HOOK_SECRET: undefined };

function noStackTrace(text: string): void {
  assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+\)?\n/, 'a stack trace was printed');
}

test('the example rules file passes check with a clean environment', async () => {
  const r = await runCli(['check', '--rules', join(ROOT, 'rules.example.yaml')], { env: NO_EXAMPLE_VARS });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /rules\.example\.yaml: valid \(\d+ rules, \d+ destinations, 1 grant\); all \d+ examples pass\n$/);
  assert.doesNotMatch(r.stdout, /warning:/);
});

test('check prints every problem as FILE:LINE:COL and exits 1', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'rules.yaml');
    writeFileSync(
      file,
      [
        'version: 1',
        'destinations:',
        '  ops-slack: { type: slack, channel: "#ops" }',
        'rules:',
        '  - name: payroll-failed',
        '    send_to: [ops-slak]',
        '  - name: other',
        '    sendto: [ops-slack]',
        '',
      ].join('\n'),
    );
    const r = await runCli(['check', '--rules', file], { cwd: dir });
    assert.equal(r.code, 1);
    const lines = r.stdout.trimEnd().split('\n');
    assert.deepEqual(lines, [
      'rules.yaml:6:15: rule "payroll-failed" sends to "ops-slak", which is not a destination; did you mean "ops-slack"?',
      'rules.yaml:8:5: rule "other" has no setting "sendto"; did you mean "send_to"?',
      'rules.yaml: 2 errors; the router refuses this file until the errors above are fixed',
    ]);
    noStackTrace(r.stdout + r.stderr);
  } finally {
    cleanup();
  }
});

test("a failing example fails check at the example's line", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'rules.yaml');
    writeFileSync(
      file,
      [
        'version: 1',
        'destinations:',
        '  ops: { type: slack, channel: "#ops" }',
        'rules:',
        '  - name: failed-runs',
        '    match: { type: run.failed }',
        '    send_to: [ops]',
        '    examples:',
        '      - event: { type: run.succeeded }',
        '        matches: true',
        '',
      ].join('\n'),
    );
    const r = await runCli(['check', '--rules', file], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /^rules\.yaml:9:9: example 1 of rule "failed-runs" expects matches: true, but the rule does not match it: the event type is "run\.succeeded", not "run\.failed"$/m,
    );
  } finally {
    cleanup();
  }
});

test('warnings alone: printed, exit 0', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'rules.yaml');
    writeFileSync(
      file,
      [
        'version: 1',
        'destinations:',
        '  money: { type: webhook, url: "https://pay.example.com", privileged: true }',
        'rules:',
        '  - name: pay',
        '    send_to: [money]',
        '',
      ].join('\n'),
    );
    const r = await runCli(['check', '--rules', file], { cwd: dir });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^rules\.yaml:6:15: warning: rule "pay" sends to "money", which is privileged/m);
    assert.match(r.stdout, /valid .*with 1 warning above/);
  } finally {
    cleanup();
  }
});

test('a missing rules file: one clear line, exit 1', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const r = await runCli(['check', '--rules', 'nope.yaml'], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^nope\.yaml:1:1: the rules file does not exist/m);
    noStackTrace(r.stdout + r.stderr);
  } finally {
    cleanup();
  }
});

test('RULES_FILE is used when --rules is not given; --json gives one document', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'mine.yaml'), 'version: 1\nrules:\n  - name: x\n    send_to: [nowhere]\n');
    const r = await runCli(['check', '--json'], { cwd: dir, env: { RULES_FILE: 'mine.yaml' } });
    assert.equal(r.code, 1);
    const doc = JSON.parse(r.stdout) as { valid: boolean; errors: number; problems: { line: number; col: number; severity: string; message: string }[] };
    assert.equal(doc.valid, false);
    assert.equal(doc.errors, 1);
    assert.deepEqual(
      doc.problems.map((p) => [p.line, p.col, p.severity]),
      [[4, 15, 'error']],
    );
    assert.match(doc.problems[0]!.message, /sends to "nowhere", which is not a destination/);
  } finally {
    cleanup();
  }
});
