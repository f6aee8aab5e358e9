// What `check` must refuse, and what it must never print (issue 10: B7 and the risks of config
// values): through the real executable, plus the reload log and the Slack link allow-list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir, waitFor } from './helpers/cli.js';
import { startRouter } from './helpers/router.js';
import { loadRulesText } from '../src/config/load.js';
import { PerDestination, notification, sampleEvent, slackDestination, startFakeSlackWebhook } from './helpers/receivers.js';
import type { SlackDestination } from '../src/config/types.js';

const HEAD = ['version: 1', 'destinations:'];

/** Writes a rules file, runs `check` on it, returns the output lines and the text. */
async function check(lines: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; text: string }> {
  const { dir, cleanup } = tempDir();
  try {
    const text = [...lines, ''].join('\n');
    writeFileSync(join(dir, 'rules.yaml'), text);
    const r = await runCli(['check', '--rules', 'rules.yaml'], { cwd: dir, env });
    return { code: r.code, out: r.stdout + r.stderr, text };
  } finally {
    cleanup();
  }
}

/** `rules.yaml:LINE:COL:` of the first occurrence of `needle` on the line that holds `lineHas`. */
function where(text: string, lineHas: string, needle: string): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(lineHas));
  assert.ok(i >= 0, `no line holds ${lineHas}`);
  return `rules.yaml:${i + 1}:${lines[i]!.indexOf(needle) + 1}:`;
}

const hook = (extra: string[]): string[] => [...HEAD, '  pay:', '    type: webhook', ...extra];

test('B7: a {{field}} outside a JSON string in a webhook body is refused at the field', async () => {
  for (const [body, tag] of [
    [`'{"amount": {{data.amount}}0}'`, '{{data.amount}}'],
    [`'{"n": 1{{data.n}}}'`, '{{data.n}}'],
    [`'{"items": [{{#data.items}}"{{id}}",{{/data.items}}]}'`, '{{#data.items}}'],
  ] as const) {
    const r = await check(hook(['    url: https://pay.example.com/hook', `    body: ${body}`]));
    assert.equal(r.code, 1, r.out);
    assert.ok(r.out.includes(`${where(r.text, 'body:', tag)} "body" of destination "pay" has ${tag} outside a JSON string`), r.out);
    if (tag === '{{data.amount}}') assert.match(r.out, /put the placeholder inside quotes, "\{\{data\.amount\}\}"/);
  }
});

test('B7: placeholders inside JSON strings, in JSON text or a YAML map, are accepted', async () => {
  const r1 = await check(hook(['    url: https://pay.example.com/hook', `    body: '{"amount": "{{data.amount}}", "note": "a \\"quoted\\" {{data.note}}"}'`]));
  assert.equal(r1.code, 0, r1.out);
  const r2 = await check(
    hook(['    url: https://pay.example.com/hook', '    body:', '      amount: "{{data.amount}}"', '      note: "{{#data.tags}}{{.}} {{/data.tags}}"']),
  );
  assert.equal(r2.code, 0, r2.out);
});

test('B7: an event can choose no key and repeat no member: placeholders in keys, and sections across strings, are refused', async () => {
  const key = await check(hook(['    url: https://pay.example.com/hook', '    body:', '      amount: "5"', '      "{{data.k}}": v']));
  assert.equal(key.code, 1, key.out);
  assert.match(key.out, /"body" of destination "pay" has \{\{data\.k\}\} in a key; a value from the event could then choose the key/);
  const section = await check(
    hook(['    url: https://pay.example.com/hook', `    body: '{"note": "{{#data.tags}}", "extra": "{{.}}", "x": "{{/data.tags}}", "amount": "5"}'`]),
  );
  assert.equal(section.code, 1, section.out);
  assert.ok(
    section.out.includes(
      `${where(section.text, 'body:', '{{#data.tags}}')} "body" of destination "pay" opens {{#data.tags}} in one string and closes it in another`,
    ),
    section.out,
  );
});

test('placeholders that would be sent literally, in header values and Slack channels, are refused', async () => {
  const r = await check([
    ...HEAD,
    '  pay:',
    '    type: webhook',
    '    url: https://pay.example.com/hook',
    '    headers:',
    '      X-Run: "{{data.runId}}"',
    '  team:',
    '    type: slack',
    '    channel: "#{{data.team}}"',
  ]);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /the header "X-Run" of destination "pay" has a \{\{…\}\} placeholder, but header values are sent as written/);
  assert.match(r.out, /the channel of destination "team" has a \{\{…\}\} placeholder, but channels are sent as written/);
});

test('a value from ${VAR} is never shown by check, even in part; the variable is named', async () => {
  const secret = 'tok_SUPERSECRET1234567890abcdef';
  const env = { HOOK_URL: secret, HOOK_TO: `${secret}@`, TIMEOUT: 'soon_SECRET', HNAME: 'x y' };
  const r = await check(
    [
      ...HEAD,
      '  pay:',
      '    type: webhook',
      '    url: ${HOOK_URL}',
      '    timeout: ${TIMEOUT}',
      '  mail:',
      '    type: email',
      '    to: ["${HOOK_TO}"]',
      '    from: router@example.com',
      '  slack:',
      '    type: slack',
      '    webhook_url: "https://${HOOK_URL}x/"',
      'server:',
      '  signature:',
      '    header: ${HNAME}',
    ],
    env,
  );
  assert.equal(r.code, 1, r.out);
  for (const part of ['SUPERSECRET', 'tok_SUPER', 'soon_SECRET', '"x y"']) assert.ok(!r.out.includes(part), `"${part}" was shown:\n${r.out}`);
  assert.match(r.out, /"url" of destination "pay" is the value of \$\{HOOK_URL\} \(not shown\), which is not a full URL/);
  assert.match(r.out, /"timeout" of destination "pay" \(the value of \$\{TIMEOUT\} \(not shown\)\) should be a duration/);
  assert.match(r.out, /is the value of \$\{HOOK_TO\} \(not shown\), which is not an email address/);
  assert.match(r.out, /is the value of \$\{HNAME\} \(not shown\), which is not an HTTP header name/);
});

test('a refused reload (SIGHUP to a real serve) does not log a value from ${VAR}', async () => {
  const { dir, cleanup } = tempDir();
  const good = [...HEAD, '  pay:', '    type: webhook', '    url: https://pay.example.com/hook', ''].join('\n');
  const r = await startRouter({ dir, rules: good, env: { HOOK_URL: 'tok_SUPERSECRET1234567890abcdef' } });
  try {
    writeFileSync(r.rulesPath, good.replace('https://pay.example.com/hook', '${HOOK_URL}'));
    r.child.kill('SIGHUP');
    await waitFor(() => r.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('reload refused')), { what: 'reload refused' });
    const logged = JSON.stringify(r.logs) + r.stderr();
    assert.match(logged, /\$\{HOOK_URL\}/);
    assert.ok(!logged.includes('SUPERSECRET'), logged);
  } finally {
    await r.stop();
    cleanup();
  }
});

test('check refuses URLs that can never work and line breaks in header values', async () => {
  const cases: [string[], string, RegExp, Record<string, string>?][] = [
    [['    url: https://pay.example.com/runs/{{data.runId}}'], 'url:', /"url" of destination "pay" has a \{\{…\}\} template in it, which is sent literally/],
    [['    url: "http:/\\\\{{data.host}}/x"'], 'url:', /has a \{\{…\}\} template in it/],
    [['    url: "http:/\\\\evil.example.com/x"'], 'url:', /has a backslash, a space or a line break in it/],
    [['    url: "http:evil.example.com/x"'], 'url:', /does not start with http:\/\/ and a host/],
    [['    url: "https://pay.example.com/a b"'], 'url:', /has a backslash, a space or a line break/],
    [
      ['    url: https://pay.example.com/hook', '    headers:', '      Authorization: "Bearer ${TOKEN}"'],
      'Authorization',
      /the header "Authorization" of destination "pay" has a line break or a control character in its value/,
      { TOKEN: 'abc_SECRET_TOKEN\n' },
    ],
    [
      ['    url: https://pay.example.com/hook', '    headers:', '      X-A: "one\\r\\nX-B: two"'],
      'X-A',
      /the header "X-A" of destination "pay" has a line break/,
    ],
    [
      ['    url: https://pay.example.com/hook', '    headers:', '      Transfer-Encoding: chunked'],
      'Transfer-Encoding',
      /the header "Transfer-Encoding" of destination "pay" frames the request on its connection, which b3os-router does itself/,
    ],
    [
      ['    url: https://pay.example.com/hook', '    headers:', '      Connection: close'],
      'Connection',
      /the header "Connection" of destination "pay" frames the request on its connection/,
    ],
  ];
  for (const [extra, lineHas, message, env] of cases) {
    const r = await check(hook(extra), env ?? {});
    assert.equal(r.code, 1, `${extra.join(' ')}\n${r.out}`);
    assert.match(r.out, message);
    assert.ok(r.out.includes(where(r.text, lineHas, lineHas === 'url:' ? 'url:' : lineHas).replace(/:(\d+):$/, ':')), r.out);
    assert.ok(!r.out.includes('SECRET_TOKEN'), r.out);
  }
});

test('Slack: "Open in B3OS" links only https links on allowed hosts (default b3os.org), through a real Slack stand-in', async () => {
  const hookServer = await startFakeSlackWebhook();
  const channel = new PerDestination({ slackBotToken: null, slackApiUrl: null, smtpUrl: null });
  try {
    const linkOf = async (dest: SlackDestination, url: string): Promise<string | null> => {
      const start = hookServer.requests.length;
      const n = notification(dest, { event: sampleEvent({ data: { workflowId: 'wf', runId: 'r1', runUrl: url } }) });
      const r = await channel.send(n, new AbortController().signal);
      assert.equal(r.outcome, 'delivered');
      await hookServer.waitFor(start + 1);
      const payload = hookServer.payloads()[start]!;
      const text = JSON.stringify(payload.blocks);
      const m = /<(https?:[^|>]*)\|Open in B3OS>/.exec(text);
      return m ? m[1]! : null;
    };
    const byDefault = slackDestination({ webhookUrl: hookServer.webhookUrl });
    assert.equal(await linkOf(byDefault, 'https://app.b3os.org/runs/r1'), 'https://app.b3os.org/runs/r1');
    assert.equal(await linkOf(byDefault, 'https://b3os.org/runs/r1'), 'https://b3os.org/runs/r1');
    for (const bad of [
      'https://evil.example.com/login',
      'http://app.b3os.org/runs/r1',
      'https://b3os.org.evil.example.com/',
      'https://evilb3os.org/',
      'https://user:pw@app.b3os.org/',
    ]) {
      assert.equal(await linkOf(byDefault, bad), null, bad);
    }

    // server.link_hosts from a rules file reaches the destination.
    const text = [
      'version: 1',
      'server:',
      '  link_hosts: ["*.example.com"]',
      'destinations:',
      '  ops:',
      '    type: slack',
      `    webhook_url: ${hookServer.webhookUrl}`,
      '',
    ].join('\n');
    const { config, problems } = loadRulesText(text, '/tmp/rules.yaml', {});
    assert.ok(config, JSON.stringify(problems));
    const ops = config.destinations.get('ops') as SlackDestination;
    assert.equal(await linkOf(ops, 'https://ci.example.com/r1'), 'https://ci.example.com/r1');
    assert.equal(await linkOf(ops, 'https://app.b3os.org/runs/r1'), null);
    const none = loadRulesText(text.replace('["*.example.com"]', '[]'), '/tmp/rules.yaml', {}).config!;
    assert.equal(await linkOf(none.destinations.get('ops') as SlackDestination, 'https://app.b3os.org/runs/r1'), null);
  } finally {
    await channel.close();
    await hookServer.close();
  }
});
