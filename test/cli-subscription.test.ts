// `subscription`: the body for B3OS's POST /v1/execution-webhooks, with exactly the types the rules
// can match, from the real CLI on real rules files.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';

const tmp = tempDir();
after(() => tmp.cleanup());

let n = 0;
function rulesFile(body: string): string {
  const file = join(tmp.dir, `rules-${++n}.yaml`);
  writeFileSync(file, `version: 1\ndestinations:\n  ops: { type: slack, channel: "#ops" }\n${body}`);
  return file;
}

interface Body {
  name: string;
  url: string;
  description: string;
  subscribedEventTypes: string[];
  maxRetries: number;
}

async function subscription(file: string, ...args: string[]): Promise<{ body: Body; notes: string }> {
  const res = await runCli(['subscription', '--rules', file, '--json', ...args]);
  assert.equal(res.code, 0, res.stderr);
  return { body: JSON.parse(res.stdout) as Body, notes: res.stderr };
}

test('literal types: exactly the ones the enabled rules name', async () => {
  const file = rulesFile(`rules:
  - name: failed
    match: { type: run.failed, data.workflowId: wf_payroll }
    send_to: [ops]
  - name: steps
    match: { type: [execution.failed, node.failed] }
    send_to: [ops]
  - name: custom
    match: { type: billing.invoice_sent }
    send_to: [ops]
  - name: muted
    enabled: false
    match: { type: run.cancelled }
    send_to: [ops]
`);
  const { body, notes } = await subscription(file, '--url', 'https://router.example.com', '--name', 'prod-router');
  assert.deepEqual(body.subscribedEventTypes, ['billing.invoice_sent', 'execution.failed', 'node.failed', 'run.failed']);
  assert.equal(body.name, 'prod-router');
  assert.equal(body.url, 'https://router.example.com/b3os/hooks');
  assert.equal(body.maxRetries, 5);
  assert.match(body.description, /3 enabled rules/);
  assert.deepEqual(Object.keys(body), ['name', 'url', 'description', 'subscribedEventTypes', 'maxRetries']);
  assert.match(notes, /rule "muted" is disabled/);
});

test('wildcards are expanded over the known types of both vocabularies', async () => {
  const file = rulesFile(`rules:
  - name: runs
    match: { type: "run.*" }
    send_to: [ops]
  - name: failures
    match: { type: "*.failed" }
    send_to: [ops]
  - name: nothing-known
    match: { type: "billing.*" }
    send_to: [ops]
`);
  const { body, notes } = await subscription(file);
  assert.deepEqual(body.subscribedEventTypes, [
    'delivery.failed',
    'execution.failed',
    'node.failed',
    'run.cancelled',
    'run.completed',
    'run.failed',
    'run.started',
    'run.succeeded',
    'run.waiting',
  ]);
  assert.match(notes, /"billing\.\*" matches none of the known B3OS types/);
  assert.match(notes, /wildcards are expanded/);
  assert.match(notes, /the url is a placeholder: pass --url/);
  assert.equal(body.url, 'https://your-router.example.com/b3os/hooks');
});

test('server.accept_types narrows the list, and a literal it refuses is named', async () => {
  const file = rulesFile(`server:
  path: /hooks/b3os
  accept_types: [run.failed, run.completed, "node.*"]
rules:
  - name: runs
    match: { type: "run.*" }
    send_to: [ops]
  - name: steps
    match: { type: [execution.failed, node.failed] }
    send_to: [ops]
`);
  const { body, notes } = await subscription(file, '--url', 'https://router.example.com/');
  assert.deepEqual(body.subscribedEventTypes, ['node.failed', 'run.completed', 'run.failed']);
  assert.equal(body.url, 'https://router.example.com/hooks/b3os');
  assert.match(notes, /rule "steps" takes "execution\.failed", which server\.accept_types does not accept/);
});

test('a when-only rule can take any type: every known type, with a note; a rule sending nowhere adds none', async () => {
  const file = rulesFile(`rules:
  - name: drop-sandboxes
    match: { data.workflowId: "wf_sandbox_*" }
    send_to: []
    stop: true
  - name: big
    when: { ">": [{ var: data.amount }, 1000] }
    send_to: [ops]
  - name: custom
    match: { type: billing.invoice_sent }
    send_to: [ops]
`);
  const { body, notes } = await subscription(file);
  assert.deepEqual(body.subscribedEventTypes, [
    'billing.invoice_sent',
    'delivery.attempted',
    'delivery.failed',
    'delivery.replayed',
    'delivery.retried',
    'delivery.succeeded',
    'execution.failed',
    'execution.pending',
    'execution.running',
    'execution.scheduled',
    'execution.skipped',
    'execution.succeeded',
    'execution.waiting',
    'node.failed',
    'node.pending',
    'node.running',
    'node.scheduled',
    'node.skipped',
    'node.succeeded',
    'node.waiting',
    'run.cancelled',
    'run.completed',
    'run.failed',
    'run.started',
    'run.succeeded',
    'run.waiting',
  ]);
  assert.match(notes, /rule "big" has no type in match/);
  assert.doesNotMatch(notes, /drop-sandboxes/);

  const narrowed = rulesFile(`server:\n  accept_types: ["run.*"]\nrules:
  - name: big
    when: { ">": [{ var: data.amount }, 1000] }
    send_to: [ops]
`);
  const r = await subscription(narrowed);
  assert.deepEqual(r.body.subscribedEventTypes, ['run.cancelled', 'run.completed', 'run.failed', 'run.started', 'run.succeeded', 'run.waiting']);
});

test('the text form shows the curl line, reads the key from the environment and never prints it', async () => {
  const file = rulesFile(`rules:
  - name: failed
    match: { type: run.failed }
    send_to: [ops]
`);
  const key = 'b3sk_live_do_not_print_me';
  const res = await runCli(['subscription', '--rules', file, '--url', 'https://router.example.com', '--name', "ops' router"], { env: { B3OS_API_KEY: key } });
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /this command sends nothing/);
  assert.match(res.stdout, /^curl -sS -X POST https:\/\/api\.b3os\.org\/v1\/execution-webhooks \\$/m);
  assert.match(res.stdout, /-H "Authorization: Bearer \$B3OS_API_KEY"/);
  assert.ok(!res.stdout.includes(key) && !res.stderr.includes(key), 'the API key is never printed');
  // The body in the curl line is the same document, quoted for the shell (a ' in the name included).
  const quoted = /--data-raw '((?:[^']|'\\'')*)'$/m.exec(res.stdout)?.[1];
  assert.ok(quoted, res.stdout);
  const body = JSON.parse(quoted.replace(/'\\''/g, "'")) as Body;
  assert.equal(body.name, "ops' router");
  assert.deepEqual(body.subscribedEventTypes, ['run.failed']);

  const wrongKey = await runCli(['subscription', '--rules', file, '--json'], { env: { B3OS_API_KEY: 'sk_other' } });
  assert.equal(wrongKey.code, 0);
  assert.match(wrongKey.stderr, /B3OS_API_KEY is set but does not start with b3sk_/);
  assert.ok(!wrongKey.stderr.includes('sk_other'));
});

test('bad input: a --url that is not an address, a broken rules file', async () => {
  const file = rulesFile(`rules: []\n`);
  const bad = await runCli(['subscription', '--rules', file, '--url', 'router.example.com']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--url takes the router's public address/);
  const broken = rulesFile(`rules:\n  - name: x\n    send_to: [nowhere]\n`);
  const res = await runCli(['subscription', '--rules', broken]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /not a destination/);
  const empty = await subscription(file, '--url', 'https://r.example.com');
  assert.deepEqual(empty.body.subscribedEventTypes, []);
  assert.match(empty.notes, /subscribedEventTypes is empty/);
});
