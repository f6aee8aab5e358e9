// Odd pastes on the console's try page get a clear answer and leave the page working: JSON nested
// deeper than the hook path takes, and an event time past what a date can hold.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';
import { cookieOf, csrfOf, signIn } from './helpers/console.js';
import { startRouter, type RouterProcess } from './helpers/router.js';

const TOKEN = 'console-hostile-admin-token';
const RULES = `version: 1
destinations:
  hook: { type: webhook, url: "http://127.0.0.1:9/never" }
rules:
  - name: failures
    match: { type: run.failed }
    send_to: [hook]
`;

describe("the console's try page with odd pastes", () => {
  const tmp = tempDir('b3os-hostile-');
  let router: RouterProcess;
  let cookie: string;
  before(async () => {
    router = await startRouter({ dir: tmp.dir, rules: RULES, env: { ADMIN_TOKEN: TOKEN } });
    cookie = cookieOf(await signIn(router.url, TOKEN))!;
  });
  after(async () => {
    await router?.stop();
    tmp.cleanup();
  });

  const tryJson = async (json: string) => {
    const page = await (await fetch(`${router.url}/console/try`, { headers: { cookie } })).text();
    const csrf = csrfOf(page)!;
    const res = await fetch(`${router.url}/console/try`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, json }).toString(),
    });
    return { status: res.status, html: await res.text() };
  };

  test('JSON nested 10,000 deep: said so, and the next try works', async () => {
    const deep = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const r = await tryJson(deep);
    assert.equal(r.status, 200);
    assert.match(r.html, /nested deeper than 64 levels/);
    const next = await tryJson('{"type": "run.failed", "id": "e1"}');
    assert.equal(next.status, 200);
    assert.match(next.html, /failures/);
    assert.doesNotMatch(next.html, /could not be evaluated|Something went wrong/);
  });

  test('a createdAt past the range of dates: evaluated, as an event without a readable time', async () => {
    const r = await tryJson('{"type": "run.failed", "id": "e2", "createdAt": 1e20}');
    assert.equal(r.status, 200);
    assert.doesNotMatch(r.html, /could not be evaluated|Something went wrong/);
    assert.match(r.html, /hook/);
  });
});

test('test --event with a createdAt past the range of dates answers as for no readable time', async (t) => {
  const tmp = tempDir('b3os-hostile-');
  t.after(() => tmp.cleanup());
  const rules = join(tmp.dir, 'rules.yaml');
  const event = join(tmp.dir, 'event.json');
  writeFileSync(rules, RULES);
  writeFileSync(event, JSON.stringify({ type: 'run.failed', id: 'e3', createdAt: 1e20 }));
  const out = await runCli(['test', '--event', event, '--rules', rules]);
  assert.equal(out.code, 0, out.stderr);
  assert.doesNotMatch(out.stdout + out.stderr, /Invalid time value/);
  assert.match(out.stdout, /hook/);
});
