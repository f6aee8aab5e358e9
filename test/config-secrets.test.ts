// Secrets that reach the rules file through ${VAR} are never echoed back by check or in delivery errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';

test('a webhook URL with credentials is refused, and check does not print them', async () => {
  const tmp = tempDir();
  try {
    const file = join(tmp.dir, 'rules.yaml');
    writeFileSync(
      file,
      `version: 1
destinations:
  with-creds: { type: webhook, url: "https://svc:\${HOOK_PASS}@hooks.example.com/in" }
  not-a-url: { type: webhook, url: "\${HOOK_URL}" }
rules:
  - { name: all, match: { type: "*" }, send_to: [with-creds, not-a-url] }
`,
    );
    const res = await runCli(['check', '--rules', file], { env: { HOOK_PASS: 'TopSecret123', HOOK_URL: 'hooks.example.com/in?token=S3cr3tT0kenValue' } });
    assert.equal(res.code, 1);
    assert.match(res.stdout, /rules\.yaml:3:\d+: .*user name or password/);
    assert.match(res.stdout, /rules\.yaml:4:\d+: .*not a full URL/);
    assert.doesNotMatch(res.stdout + res.stderr, /TopSecret123|S3cr3tT0kenValue/);
  } finally {
    tmp.cleanup();
  }
});
