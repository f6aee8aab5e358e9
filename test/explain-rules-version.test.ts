// The stored routing decision lists only the rules that matched and the rules file version that
// decided (issue 15: it must not grow with the rules that did not match). `explain` re-evaluates
// the others from that version's text, so after the rules file changes it still tells why by the
// rules in force when the event arrived.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { runCli, tempDir, waitFor } from './helpers/cli.js';
import { postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';

const rulesA = (filler: number) => `version: 1
destinations:
  hook: { type: webhook, url: "http://127.0.0.1:9/hook" }
rules:
  - name: payroll-failures
    match: { type: run.failed, data.workflowId: [wf_payroll, wf_payroll_eu] }
    send_to: [hook]
  - name: big-amounts
    when: { and: [{ "==": [{ var: type }, run.failed] }, { ">": [{ var: data.amount }, 1000] }] }
    send_to: [hook]
  - name: all-failures
    match: { type: run.failed }
    send_to: [hook]
  - name: off
    enabled: false
    match: { type: run.failed }
    send_to: [hook]
${Array.from({ length: filler }, (_, i) => `  - name: filler-${i}\n    match: { type: run.failed, data.workflowId: wf_other_${i} }\n    send_to: [hook]`).join('\n')}
`;

// Version B: the payroll rule now takes wf_x (it would match the event), big-amounts is gone, a new rule.
const rulesB = `version: 1
destinations:
  hook: { type: webhook, url: "http://127.0.0.1:9/hook" }
rules:
  - name: payroll-failures
    match: { type: run.failed, data.workflowId: wf_x }
    send_to: [hook]
  - name: newcomer
    match: { type: run.started }
    send_to: [hook]
`;

interface Explained {
  rulesChanged: boolean;
  rules: { rule: string; matched: boolean; reason: string }[];
}

describe('explain by the rules version that decided', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  const explain = async (id: string): Promise<Explained> => {
    const res = await runCli(['explain', id, '--json'], { env: { RULES_FILE: r.rulesPath, DB_PATH: r.dbPath } });
    assert.equal(res.code, 0, res.stderr);
    return JSON.parse(res.stdout) as Explained;
  };
  const routing = (id: string) => readDb(r.dbPath, (d) => d.prepare('SELECT routing FROM events WHERE event_id = ?').pluck().get(id) as string);

  before(async () => {
    r = await startRouter({ dir: tmp.dir, rules: rulesA(0) });
  });
  after(async () => {
    await r.stop();
    tmp.cleanup();
  });

  test('an event routed under version A, the file then changed to B: explain shows A and its reasons', async () => {
    assert.equal((await postEvent(r.url, { id: 'v_1', type: 'run.failed', data: { workflowId: 'wf_x', amount: 50 } })).status, 204);
    const stored = JSON.parse(routing('v_1')) as { outcomes: { rule: string; matched: boolean }[]; matchedOnly?: boolean };
    assert.equal(stored.matchedOnly, true);
    assert.deepEqual(
      stored.outcomes.map((o) => [o.rule, o.matched]),
      [['all-failures', true]],
      'only the rule that matched is stored',
    );

    const n = r.logs.filter((l) => l.msg === 'rules reloaded').length;
    writeFileSync(r.rulesPath, rulesB);
    r.child.kill('SIGHUP');
    await waitFor(() => r.logs.filter((l) => l.msg === 'rules reloaded').length > n, { what: 'rules reloaded' });

    const report = await explain('v_1');
    assert.equal(report.rulesChanged, true);
    assert.deepEqual(
      report.rules.map((x) => [x.rule, x.matched]),
      [
        ['payroll-failures', false],
        ['big-amounts', false],
        ['all-failures', true],
        ['off', false],
      ],
      "version A's rules, in A's order (not B's newcomer)",
    );
    const reason = (rule: string) => report.rules.find((x) => x.rule === rule)!.reason;
    assert.match(reason('payroll-failures'), /data\.workflowId is "wf_x", not one of wf_payroll, wf_payroll_eu/, "A's condition, though B's would match");
    assert.match(reason('big-amounts'), /the "when" condition is false/);
    assert.match(reason('all-failures'), /the event type is "run.failed"|type is "run.failed"/);
    assert.match(reason('off'), /disabled/);
  });

  test('the stored decision does not grow with the rules that did not match', async () => {
    const n = r.logs.filter((l) => l.msg === 'rules reloaded').length;
    writeFileSync(r.rulesPath, rulesA(300));
    r.child.kill('SIGHUP');
    await waitFor(() => r.logs.filter((l) => l.msg === 'rules reloaded').length > n, { what: 'rules reloaded' });
    assert.equal((await postEvent(r.url, { id: 'v_2', type: 'run.failed', data: { workflowId: 'wf_x', amount: 50 } })).status, 204);
    assert.ok(routing('v_2').length < 400, `stored decision with 304 rules: ${routing('v_2').length} bytes`);
    const report = await explain('v_2');
    assert.equal(report.rulesChanged, false);
    assert.equal(report.rules.length, 304);
    assert.match(report.rules.find((x) => x.rule === 'filler-7')!.reason, /data\.workflowId is "wf_x", not "wf_other_7"/);
    const versions = readDb(r.dbPath, (d) => d.prepare('SELECT count(*) FROM rules_versions').pluck().get() as number);
    assert.equal(versions, 3, 'each version once (A, B, A with fillers)');
  });
});
