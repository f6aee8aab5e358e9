// The console's guards over plain HTTP (issue 14, contract §10): off without ADMIN_TOKEN, a wrong
// token refused and then rate-limited, actions refused without the session's CSRF token, the
// Content-Security-Policy on console answers and not on the hook path, and templates that cannot
// skip escaping.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LAYOUT, PAGES, PARTIALS } from '../src/console/templates.js';
import { safeNext } from '../src/console/index.js';
import { tempDir } from './helpers/cli.js';
import { postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';

const TOKEN = 'console-security-token-77';

async function signIn(url: string, token: string, next = '/console'): Promise<Response> {
  return fetch(`${url}/console/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, next }).toString(),
    redirect: 'manual',
  });
}

const cookieOf = (res: Response) => /b3os_console=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0];

describe('console off without ADMIN_TOKEN', () => {
  const tmp = tempDir();
  let router: RouterProcess;
  before(async () => {
    router = await startRouter({ dir: tmp.dir });
  });
  after(async () => {
    await router?.stop();
    tmp.cleanup();
  });

  test('every /console address answers 404', async () => {
    for (const path of ['/console', '/console/', '/console/sign-in', '/console/events', '/console/assets/console.css']) {
      const res = await fetch(router.url + path, { redirect: 'manual' });
      assert.equal(res.status, 404, path);
    }
    const post = await signIn(router.url, 'anything');
    assert.equal(post.status, 404);
  });
});

describe('console guards', () => {
  const tmp = tempDir();
  let router: RouterProcess;
  let cookie: string;
  before(async () => {
    // One destination (never sent to: no rule) for the silences a test adds.
    const rules = 'version: 1\ndestinations:\n  ops-hook: { type: webhook, url: "http://127.0.0.1:9/never" }\nrules: []\n';
    router = await startRouter({ dir: tmp.dir, rules, env: { ADMIN_TOKEN: TOKEN } });
    const res = await signIn(router.url, TOKEN);
    assert.equal(res.status, 303);
    cookie = cookieOf(res)!;
    assert.ok(cookie);
  });
  after(async () => {
    await router?.stop();
    tmp.cleanup();
  });

  test('the session cookie is HttpOnly, SameSite=Strict, scoped to /console, with an expiry', async () => {
    const res = await signIn(router.url, TOKEN);
    const set = res.headers.get('set-cookie') ?? '';
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    assert.match(set, /Path=\/console/);
    assert.match(set, /Max-Age=\d+/);
    assert.doesNotMatch(set, /Secure/, 'not Secure over plain HTTP');
  });

  test('an action without the CSRF token, or with a wrong one, is refused with 403', async () => {
    const headers = { cookie, 'content-type': 'application/x-www-form-urlencoded' };
    for (const body of ['', '_csrf=wrong', 'json=%7B%7D']) {
      const res = await fetch(`${router.url}/console/try`, { method: 'POST', headers, body, redirect: 'manual' });
      assert.equal(res.status, 403, `body ${JSON.stringify(body)}`);
    }
    const retry = await fetch(`${router.url}/console/deliveries/some-id/retry`, { method: 'POST', headers, body: '', redirect: 'manual' });
    assert.equal(retry.status, 403);
    const signOut = await fetch(`${router.url}/console/sign-out`, { method: 'POST', headers, body: '', redirect: 'manual' });
    assert.equal(signOut.status, 403);
    // No session at all: refused too.
    const anon = await fetch(`${router.url}/console/try`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '_csrf=x', redirect: 'manual' });
    assert.equal(anon.status, 403);

    // With the page's token the same action goes through.
    const page = await (await fetch(`${router.url}/console/try`, { headers: { cookie } })).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
    assert.ok(csrf);
    const ok = await fetch(`${router.url}/console/try`, { method: 'POST', headers, body: new URLSearchParams({ _csrf: csrf, json: '{"type":"run.failed"}' }).toString() });
    assert.equal(ok.status, 200);
  });

  test('silence add and expire without the CSRF token, or with a wrong one, are refused with 403 and change nothing', async () => {
    const headers = { cookie, 'content-type': 'application/x-www-form-urlencoded' };
    const page = await (await fetch(`${router.url}/console/silences`, { headers: { cookie } })).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
    assert.ok(csrf);
    const add = { destination: 'ops-hook', for: '1h', comment: 'csrf test' };
    for (const extra of [{}, { _csrf: 'wrong' }] as Record<string, string>[]) {
      const res = await fetch(`${router.url}/console/silences`, { method: 'POST', headers, body: new URLSearchParams({ ...add, ...extra }).toString(), redirect: 'manual' });
      assert.equal(res.status, 403, JSON.stringify(extra));
    }
    assert.equal(readDb(router.dbPath, (db) => db.prepare('SELECT count(*) FROM silences').pluck().get()), 0, 'no silence was added');

    // With the token: added (303 back to the page); a refused one answers 400 with the sentence.
    const ok = await fetch(`${router.url}/console/silences`, { method: 'POST', headers, body: new URLSearchParams({ ...add, _csrf: csrf }).toString(), redirect: 'manual' });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/console/silences');
    const bad = await fetch(`${router.url}/console/silences`, { method: 'POST', headers, body: new URLSearchParams({ rule: 'no-such-rule', for: '1h', _csrf: csrf }).toString(), redirect: 'manual' });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /the rules file has no rule &quot;no-such-rule&quot;/);
    const id = readDb(router.dbPath, (db) => db.prepare('SELECT id FROM silences').pluck().get()) as string;
    assert.ok(id);

    for (const extra of [{}, { _csrf: 'wrong' }] as Record<string, string>[]) {
      const res = await fetch(`${router.url}/console/silences/${id}/expire`, { method: 'POST', headers, body: new URLSearchParams(extra).toString(), redirect: 'manual' });
      assert.equal(res.status, 403, JSON.stringify(extra));
    }
    const endsAt = () => readDb(router.dbPath, (db) => db.prepare('SELECT ends_at FROM silences WHERE id = ?').pluck().get(id)) as number;
    assert.ok(endsAt() > Date.now(), 'the silence is still active');
    const expired = await fetch(`${router.url}/console/silences/${id}/expire`, { method: 'POST', headers, body: new URLSearchParams({ _csrf: csrf }).toString(), redirect: 'manual' });
    assert.equal(expired.status, 303);
    assert.ok(endsAt() <= Date.now(), 'ended with the token');
  });

  test('after sign-in, next leads only to console pages', async () => {
    for (const [next, to] of [
      ['/console/rules?x=1', '/console/rules?x=1'],
      ['//evil.example/console', '/console'],
      ['https://evil.example/console', '/console'],
      ['/console\\..\\..\\evil', '/console'],
      ['/consolex', '/console'],
      ['/console/sign-in', '/console'],
    ]) {
      assert.equal(safeNext(next), to, next);
    }
    const res = await signIn(router.url, TOKEN, '//evil.example/');
    assert.equal(res.headers.get('location'), '/console');
  });

  test('a Content-Security-Policy on console answers, none on the hook path', async () => {
    for (const path of ['/console/sign-in', '/console/assets/console.css']) {
      const res = await fetch(router.url + path);
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'self'/, path);
      assert.match(csp, /script-src 'self'/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.match(csp, /form-action 'self'/, path);
      assert.doesNotMatch(csp, /unsafe-inline/, path);
    }
    const page = await fetch(`${router.url}/console/events`, { headers: { cookie } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal(page.headers.get('cache-control'), 'no-store');

    const hook = await fetch(`${router.url}/b3os/hooks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(hook.status, 401);
    for (const h of ['content-security-policy', 'x-frame-options', 'x-ratelimit-limit', 'set-cookie']) assert.equal(hook.headers.get(h), null, h);
    const signed = await postEvent(router.url, { id: 'evt_csp', type: 'run.failed' });
    assert.ok(signed.status < 300);
  });

  test('templates never skip escaping', () => {
    for (const [name, t] of Object.entries({ LAYOUT, ...PAGES, ...PARTIALS })) {
      assert.doesNotMatch(t, /\{\{\{|\{\{\s*&/, `${name} has an unescaped value`);
      assert.doesNotMatch(t, /<script>|\son[a-z]+=|style=/i, `${name} has inline script or style`);
    }
  });

  // Last: it uses up this address's failed sign-ins for the minute.
  test('a wrong token is refused (401); after 5 failures even the right one gets 429', async () => {
    const wrong = await signIn(router.url, 'not-the-token');
    assert.equal(wrong.status, 401);
    assert.equal(cookieOf(wrong), undefined);
    assert.match(await wrong.text(), /That is not the admin token/);
    for (let i = 0; i < 4; i++) assert.equal((await signIn(router.url, `wrong-${i}`)).status, 401);
    const limited = await signIn(router.url, 'wrong-again');
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    const right = await signIn(router.url, TOKEN);
    assert.equal(right.status, 429, 'the right token waits too, or the limit would not bound guessing');
    // The session signed in before still works.
    assert.equal((await fetch(`${router.url}/console`, { headers: { cookie }, redirect: 'manual' })).status, 200);
    const all = JSON.stringify(router.logs) + router.stderr();
    assert.ok(!all.includes(TOKEN) && !all.includes('not-the-token'), 'a token (right or wrong) is in the log');
  });
});
