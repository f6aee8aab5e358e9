// Every rejection (and warning) `check` makes, each at its line AND column, in a plain sentence
// that says what to write instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatProblem, loadRulesText } from '../src/config/load.js';
import type { Problem } from '../src/config/types.js';

/** 1-based line and column of `needle`, searching from the first occurrence of `after`. */
function at(text: string, needle: string, after = ''): { line: number; col: number } {
  const start = after ? text.indexOf(after) : 0;
  assert.ok(start >= 0, `"${after}" is not in the text`);
  const i = text.indexOf(needle, start);
  assert.ok(i >= 0, `"${needle}" is not in the text`);
  const before = text.slice(0, i).split('\n');
  return { line: before.length, col: before[before.length - 1]!.length + 1 };
}

const DESTINATIONS = `version: 1
destinations:
  ops-slack:
    type: slack
    channel: "#alerts"
  oncall-email:
    type: email
    to: [oncall@example.com]
    from: router@example.com
  billing-sync:
    type: webhook
    url: https://billing.example.com/hooks
    privileged: true
`;

function load(text: string, env: Record<string, string> = {}): Problem[] {
  return loadRulesText(text, '/tmp/rules.yaml', env).problems;
}

interface Expect {
  severity?: 'error' | 'warning';
  needle: string;
  after?: string;
  message: RegExp | string;
}

/** Exactly one problem of that severity, at the needle's position, with that message. */
function expectOne(text: string, e: Expect, env: Record<string, string> = {}): void {
  const severity = e.severity ?? 'error';
  const { config, problems } = loadRulesText(text, '/tmp/rules.yaml', env);
  const found = problems.filter((p) => p.severity === severity);
  const shown = problems.map(formatProblem).join('\n');
  assert.equal(found.length, 1, `expected one ${severity}, got:\n${shown}`);
  const p = found[0]!;
  assert.deepEqual({ line: p.line, col: p.col }, at(text, e.needle, e.after), shown);
  if (typeof e.message === 'string') assert.equal(p.message, e.message);
  else assert.match(p.message, e.message);
  if (severity === 'error') assert.equal(config, null);
  else assert.notEqual(config, null, 'warnings alone must not refuse the file');
}

const rule = (body: string): string => `${DESTINATIONS}rules:\n  - name: payroll-failed\n${body}`;

test('YAML syntax: a tab used to indent', () => {
  const text = 'version: 1\nrules:\n\t- name: a\n';
  expectOne(text, { needle: '\t- name', message: /tab/ });
});

test('YAML syntax: a key written twice', () => {
  const text = rule('    send_to: [ops-slack]\n    send_to: [oncall-email]\n');
  expectOne(text, { needle: 'send_to: [oncall', message: /written twice/ });
});

test('YAML syntax: an unclosed list', () => {
  const text = 'version: 1\nrules: [\n';
  const problems = load(text);
  assert.equal(problems.length, 1);
  assert.deepEqual([problems[0]!.line, problems[0]!.col], [3, 1]);
  assert.match(problems[0]!.message, /^YAML syntax: /);
});

test('schema: an unknown setting, with a did-you-mean', () => {
  const text = rule('    sendto: [ops-slack]\n');
  expectOne(text, { needle: 'sendto', message: 'rule "payroll-failed" has no setting "sendto"; did you mean "send_to"?' });
});

test('schema: an unknown setting with nothing close lists the settings', () => {
  const text = `${DESTINATIONS}retries: 3\n`;
  expectOne(text, { needle: 'retries', message: /^the rules file has no setting "retries"; the settings it takes are "version", "server"/ });
});

test('schema: a value of the wrong type', () => {
  const text = `${DESTINATIONS}delivery:\n  max_attempts: lots\n`;
  expectOne(text, { needle: 'lots', message: /^"max_attempts" of delivery should be a whole number, not the text "lots"/ });
});

test('schema: a value not among the allowed ones', () => {
  const text = `version: 1\ndestinations:\n  x:\n    type: slak\n    channel: "#a"\n`;
  expectOne(text, { needle: 'slak', message: '"type" of destination "x" is "slak"; it should be one of slack, email or webhook; did you mean "slack"?' });
});

test('schema: a required setting is missing', () => {
  const text = `version: 1\ndestinations:\n  hook:\n    type: webhook\n    method: POST\n`;
  expectOne(text, { needle: 'type: webhook', message: /^destination "hook" needs "url"/ });
});

test('schema: a nested map in match suggests a dotted path', () => {
  const text = rule('    send_to: [ops-slack]\n    match:\n      data: { workflowId: wf_payroll }\n');
  expectOne(text, { needle: '{ workflowId', message: /write its dotted path, e.g. data\.workflowId/ });
});

test('schema: the version must be 1', () => {
  expectOne('version: 2\n', { needle: '2', message: '"version" is 2; it should be 1' });
});

test('an unknown JSON Logic operator in when, at the operator', () => {
  const text = rule('    send_to: [ops-slack]\n    when:\n      and:\n        - equals: [{ var: type }, run.failed]\n');
  expectOne(text, { needle: 'equals', message: 'the "when" of rule "payroll-failed": "equals" is not a JSON Logic operator; did you mean "=="?' });
});

test('a JSON Logic object with two operators', () => {
  const text = rule('    send_to: [ops-slack]\n    when: { "==": [1, 1], "!=": [1, 2] }\n');
  expectOne(text, { needle: '{ "=="', message: /holds exactly one operator, but this one has 2/ });
});

test('JSON Logic method and log are not allowed', () => {
  const text = rule('    send_to: [ops-slack]\n    when: { method: [{ var: data.x }, toString] }\n');
  expectOne(text, { needle: 'method', message: /"method" is not a JSON Logic operator/ });
});

test("a rule sending to an unknown destination (the issue's own example)", () => {
  const text = rule('    send_to: [ops-slak]\n');
  expectOne(text, { needle: 'ops-slak]', message: 'rule "payroll-failed" sends to "ops-slak", which is not a destination; did you mean "ops-slack"?' });
});

test('an unknown destination with nothing close lists the destinations', () => {
  const text = rule('    send_to: zzz\n');
  expectOne(text, { needle: 'zzz', message: /which is not a destination; the destinations are ops-slack, oncall-email or billing-sync/ });
});

test('duplicate rule names: the second one, pointing back at the first', () => {
  const text = `${DESTINATIONS}rules:\n  - name: dup\n    send_to: [ops-slack]\n  - name: dup\n    send_to: [oncall-email]\n`;
  const first = at(text, 'name: dup');
  expectOne(text, {
    needle: 'dup',
    after: 'send_to: [ops-slack]',
    message: `there are two rules named "dup" (the first is at line ${first.line}); give this one another name`,
  });
});

const GRANTED = `${DESTINATIONS}rules:
  - name: sync-billing
    send_to: [billing-sync]
policy:
  allow_privileged:
`;

test('a grant naming an unknown rule', () => {
  const text = `${GRANTED}    - rule: sync-biling\n      destination: billing-sync\n`;
  const problems = load(text).filter((p) => p.severity === 'error');
  assert.equal(problems.length, 1, problems.map(formatProblem).join('\n'));
  assert.deepEqual([problems[0]!.line, problems[0]!.col], Object.values(at(text, 'sync-biling')));
  assert.equal(problems[0]!.message, 'grant 1 in policy.allow_privileged names the rule "sync-biling", which does not exist; did you mean "sync-billing"?');
});

test('a grant naming an unknown destination', () => {
  const text = `${GRANTED}    - rule: sync-billing\n      destination: billing\n`;
  const problems = load(text).filter((p) => p.severity === 'error');
  assert.equal(problems.length, 1, problems.map(formatProblem).join('\n'));
  assert.deepEqual([problems[0]!.line, problems[0]!.col], Object.values(at(text, 'billing\n', 'destination: billing\n')));
  assert.match(problems[0]!.message, /names the destination "billing", which does not exist; did you mean "billing-sync"\?/);
});

test('a missing environment variable, at the reference', () => {
  const text = `${DESTINATIONS}  team-hook:\n    type: slack\n    webhook_url: \${TEAM_SLACK_WEBHOOK}\n`;
  expectOne(text, { needle: '${TEAM_SLACK_WEBHOOK}', message: /^the environment variable TEAM_SLACK_WEBHOOK is not set/ });
  // With the variable set, the same file is valid.
  assert.deepEqual(load(text, { TEAM_SLACK_WEBHOOK: 'https://hooks.slack.com/services/T/B/X' }), []);
});

test('a bad duration, with what to write instead', () => {
  const text = `${DESTINATIONS}delivery:\n  timeout: 10\n  backoff: { initial: 1s, max: soon }\n`;
  const problems = load(text);
  assert.deepEqual(
    problems.map((p) => [p.line, p.col]),
    [Object.values(at(text, '10\n')), Object.values(at(text, 'soon'))],
  );
  assert.match(problems[0]!.message, /"timeout" of delivery is "10" without a unit; write it with one, e.g. "10s"/);
  assert.match(problems[1]!.message, /is "soon", which is not a duration; write one such as "500ms", "10s"/);
});

test('a send timeout longer than an hour (30d: setTimeout cannot even hold it)', () => {
  const text = `${DESTINATIONS}delivery:\n  timeout: 30d\n`;
  expectOne(text, { needle: '30d', message: /"timeout" of delivery is "30d", longer than an hour.*use at most 1h/ });
});

test('a retention under an hour is warned about (max_per_hour counts the last hour)', () => {
  const text = `${DESTINATIONS}retention: 10m\n`;
  const r = loadRulesText(text, 'rules.yaml', {});
  assert.ok(r.config, 'a warning, not an error');
  assert.match(r.problems.map((p) => p.message).join('\n'), /retention is "10m", shorter than an hour: events are kept an hour all the same/);
});

test('backoff initial longer than max', () => {
  const text = `${DESTINATIONS}delivery:\n  backoff: { initial: 10m, max: 1m }\n`;
  expectOne(text, { needle: '10m', message: /initial \(10m\) is longer than max \(1m\)/ });
});

test('a template in a webhook URL host is refused', () => {
  const text = `version: 1\ndestinations:\n  hook:\n    type: webhook\n    url: "https://{{data.host}}/in"\n`;
  expectOne(text, { needle: '"https://{{', message: /has a template in its host/ });
});

test('a webhook URL that is not absolute http(s)', () => {
  const text = `version: 1\ndestinations:\n  hook:\n    type: webhook\n    url: /relative/path\n`;
  expectOne(text, { needle: '/relative', message: /is "\/relative\/path", which is not a full URL/ });
});

test('a webhook body that is not JSON once rendered', () => {
  const text = `version: 1\ndestinations:\n  hook:\n    type: webhook\n    url: https://x.example.com\n    body: '{"amount": "{{data.amount}}"'\n`;
  expectOne(text, { needle: `'{"amount"`, message: /is not JSON once rendered .*inside a string literal/ });
});

test('a webhook body with a {{field}} outside a JSON string, at the field', () => {
  const text = `version: 1\ndestinations:\n  hook:\n    type: webhook\n    url: https://x.example.com\n    body: '{"amount": {{data.amount}}}'\n`;
  expectOne(text, { needle: '{{data.amount}}', message: /has \{\{data\.amount\}\} outside a JSON string.*inside quotes, "\{\{data\.amount\}\}"/ });
});

test('a webhook body written as a YAML map is accepted', () => {
  const text = `version: 1\ndestinations:\n  hook:\n    type: webhook\n    url: https://x.example.com\n    body: { run: "{{data.runId}}" }\n`;
  const { config, problems } = loadRulesText(text, '/tmp/rules.yaml', {});
  assert.deepEqual(problems, []);
  const hook = config!.destinations.get('hook');
  assert.ok(hook?.type === 'webhook' && hook.body);
  assert.equal(hook.body.render({ data: { runId: 'r"1' } }, 'json'), '{"run":"r\\"1"}');
});

test('slack: both channel and webhook_url, or neither', () => {
  const both = `version: 1\ndestinations:\n  s:\n    type: slack\n    channel: "#a"\n    webhook_url: https://hooks.slack.com/x\n`;
  expectOne(both, { needle: 'webhook_url', message: /has both channel and webhook_url; keep one/ });
  const neither = `version: 1\ndestinations:\n  s:\n    type: slack\n`;
  expectOne(neither, { needle: 's:', after: '  s:', message: /needs a channel .* or a webhook_url/ });
});

test('email: an address that is not one', () => {
  const text = `version: 1\ndestinations:\n  m:\n    type: email\n    to: [oncall]\n    from: router@example.com\n`;
  expectOne(text, { needle: 'oncall]', message: /"oncall", which is not an email address/ });
});

test('a message template that would skip escaping is refused', () => {
  const text = rule('    send_to: [ops-slack]\n    message: "{{{data.error.message}}}"\n');
  expectOne(text, { needle: '"{{{', message: /would skip escaping; write \{\{data\.error\.message\}\}/ });
});

test('a template with an unclosed section', () => {
  const text = rule('    send_to: [ops-slack]\n    message: "{{#data.error}}oops"\n');
  expectOne(text, { needle: '"{{#', message: /the section \{\{#data\.error\}\} is never closed/ });
});

test('an email subject template is checked too', () => {
  const text = `version: 1\ndestinations:\n  m:\n    type: email\n    to: a@example.com\n    from: b@example.com\n    subject: "{{type"\n`;
  expectOne(text, { needle: '"{{type"', message: /"subject" of destination "m" is not a valid template/ });
});

test('warning: a rule sends to a privileged destination no grant covers', () => {
  const text = rule('    send_to: [ops-slack, billing-sync]\n');
  expectOne(text, { severity: 'warning', needle: 'billing-sync]', message: /which is privileged, and no grant .* will always be blocked/ });
});

test('warning: a grant on a destination that is not privileged', () => {
  const text = `${DESTINATIONS}rules:\n  - name: r\n    send_to: [ops-slack]\npolicy:\n  allow_privileged:\n    - rule: r\n      destination: ops-slack\n`;
  expectOne(text, { severity: 'warning', needle: 'ops-slack\n', after: 'destination: ops-slack', message: /is not privileged, so the grant changes nothing/ });
});

test('warning: a match path through __proto__ can never match', () => {
  const text = rule('    send_to: [ops-slack]\n    match:\n      data.__proto__.x: 1\n');
  expectOne(text, { severity: 'warning', needle: 'data.__proto__', message: /never resolve to anything/ });
});

test('every problem is reported in one pass, in file order', () => {
  const text = `${DESTINATIONS}rules:
  - name: a
    send_to: [ops-slak]
    when: { equals: [1, 1] }
  - name: a
    send_to: [ops-slack]
delivery:
  timeout: forever
`;
  const problems = load(text);
  assert.equal(problems.length, 4, problems.map(formatProblem).join('\n'));
  const lines = problems.map((p) => p.line);
  assert.deepEqual(
    lines,
    [...lines].sort((x, y) => x - y),
  );
});
