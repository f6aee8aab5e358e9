// Values from the environment (a token in a webhook's URL, a key in its body) are sent, but never
// shown: not on the console's event page ("the text sent") or its try page, not by `test`. What
// people see has `${NAME}` in their place, as check's messages do.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';
import { cookieOf, signIn } from './helpers/console.js';
import { startHttpReceiver, type HttpReceiver } from './helpers/receivers.js';
import { postEvent, startRouter, type RouterProcess } from './helpers/router.js';

const TOKEN = 'console-secrets-admin-token';
const ENV = { HOOK_TOKEN: 'supersecretvalue123', API_KEY: 'key-"abc\\def"-987654' };
const RULES = (url: string) => `version: 1
destinations:
  hook:
    type: webhook
    url: "${url}/in/\${HOOK_TOKEN}"
    body: { key: "\${API_KEY}", run: "{{data.runId}}" }
rules:
  - name: failures
    match: { type: run.failed }
    send_to: [hook]
`;
const EVENT = { id: 'evt_secret', type: 'run.failed', createdAt: new Date().toISOString(), data: { runId: 'run_1' } };

function assertWithheld(text: string, where: string): void {
  for (const v of Object.values(ENV)) {
    for (const shown of [v, JSON.stringify(v).slice(1, -1)]) assert.ok(!text.includes(shown), `${where} shows the value of a variable`);
  }
  assert.ok(text.includes('${HOOK_TOKEN}'), `${where} names the variable instead: ${text.slice(0, 2000)}`);
}

describe('values from the environment are sent, never shown', () => {
  const tmp = tempDir('b3os-secrets-');
  let hook: HttpReceiver;
  let router: RouterProcess;
  let cookie: string;
  before(async () => {
    hook = await startHttpReceiver();
    router = await startRouter({ dir: tmp.dir, rules: RULES(hook.url), env: { ...ENV, ADMIN_TOKEN: TOKEN } });
    cookie = cookieOf(await signIn(router.url, TOKEN))!;
    assert.equal((await postEvent(router.url, EVENT)).status, 204);
    const [sent] = await hook.waitFor(1, 10_000);
    // The receiver got the real values: they are used, only not shown.
    assert.equal(sent!.path, `/in/${ENV.HOOK_TOKEN}`);
    assert.equal(sent!.json<{ key: string }>().key, ENV.API_KEY);
  });
  after(async () => {
    await router?.stop();
    await hook?.close();
    tmp.cleanup();
  });

  const page = async (path: string) => {
    const res = await fetch(router.url + path, { headers: { cookie } });
    assert.equal(res.status, 200, path);
    return res.text();
  };

  test("the console's event page: the text sent", async () => {
    assertWithheld(await page('/console/events/evt_secret'), 'the event page');
  });

  test("the console's try page, with the stored event", async () => {
    assertWithheld(await page('/console/try?event=evt_secret'), 'the try page');
  });

  test('test --event, human and --json', async () => {
    const rules = router.rulesPath;
    const file = join(tmp.dir, 'event.json');
    writeFileSync(file, JSON.stringify(EVENT));
    for (const json of [[], ['--json']]) {
      const out = await runCli(['test', '--event', file, '--rules', rules, ...json], { env: ENV });
      assert.equal(out.code, 0, out.stderr);
      assertWithheld(out.stdout + out.stderr, `test ${json.join(' ')}`);
    }
  });
});
