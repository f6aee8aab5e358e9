// The console's guards over plain HTTP (issue 14, contract §10): off without ADMIN_TOKEN, a wrong
// token refused and then rate-limited, actions refused without the session's CSRF token, the
// Content-Security-Policy on console answers and not on the hook path, and templates that cannot
// skip escaping.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LAYOUT, PAGES, PARTIALS } from '../src/console/templates.js';
import { safeNext } from '../src/console/index.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, waitFor } from './helpers/cli.js';
import { cookieOf, csrfOf, signIn } from './helpers/console.js';
import { postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';

const TOKEN = 'console-security-token-77';

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
    const anon = await fetch(`${router.url}/console/try`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '_csrf=x',
      redirect: 'manual',
    });
    assert.equal(anon.status, 403);

    // With the page's token the same action goes through.
    const page = await (await fetch(`${router.url}/console/try`, { headers: { cookie } })).text();
    const csrf = csrfOf(page);
    assert.ok(csrf);
    const ok = await fetch(`${router.url}/console/try`, {
      method: 'POST',
      headers,
      body: new URLSearchParams({ _csrf: csrf, json: '{"type":"run.failed"}' }).toString(),
    });
    assert.equal(ok.status, 200);
  });

  test('silence add and expire without the CSRF token, or with a wrong one, are refused with 403 and change nothing', async () => {
    const headers = { cookie, 'content-type': 'application/x-www-form-urlencoded' };
    const page = await (await fetch(`${router.url}/console/silences`, { headers: { cookie } })).text();
    const csrf = csrfOf(page);
    assert.ok(csrf);
    const add = { destination: 'ops-hook', for: '1h', comment: 'csrf test' };
    for (const extra of [{}, { _csrf: 'wrong' }] as Record<string, string>[]) {
      const res = await fetch(`${router.url}/console/silences`, {
        method: 'POST',
        headers,
        body: new URLSearchParams({ ...add, ...extra }).toString(),
        redirect: 'manual',
      });
      assert.equal(res.status, 403, JSON.stringify(extra));
    }
    assert.equal(
      readDb(router.dbPath, (db) => db.prepare('SELECT count(*) FROM silences').pluck().get()),
      0,
      'no silence was added',
    );

    // With the token: added (303 back to the page); a refused one answers 400 with the sentence.
    const ok = await fetch(`${router.url}/console/silences`, {
      method: 'POST',
      headers,
      body: new URLSearchParams({ ...add, _csrf: csrf }).toString(),
      redirect: 'manual',
    });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/console/silences');
    const bad = await fetch(`${router.url}/console/silences`, {
      method: 'POST',
      headers,
      body: new URLSearchParams({ rule: 'no-such-rule', for: '1h', _csrf: csrf }).toString(),
      redirect: 'manual',
    });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /the rules file has no rule &quot;no-such-rule&quot;/);
    const id = readDb(router.dbPath, (db) => db.prepare('SELECT id FROM silences').pluck().get()) as string;
    assert.ok(id);

    for (const extra of [{}, { _csrf: 'wrong' }] as Record<string, string>[]) {
      const res = await fetch(`${router.url}/console/silences/${id}/expire`, {
        method: 'POST',
        headers,
        body: new URLSearchParams(extra).toString(),
        redirect: 'manual',
      });
      assert.equal(res.status, 403, JSON.stringify(extra));
    }
    const endsAt = () => readDb(router.dbPath, (db) => db.prepare('SELECT ends_at FROM silences WHERE id = ?').pluck().get(id)) as number;
    assert.ok(endsAt() > Date.now(), 'the silence is still active');
    const expired = await fetch(`${router.url}/console/silences/${id}/expire`, {
      method: 'POST',
      headers,
      body: new URLSearchParams({ _csrf: csrf }).toString(),
      redirect: 'manual',
    });
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

// ------------------------------------------------------------------------------------------
// The check page (security review of the console, findings 1-3)

const CHECK_TOKEN = 'check-admin-t0ken-abcdef';
const HOOK_URL = 'https://hooks.example.com/secret-path-q7w8e9';
const QUOTED = 'p@ss"w\\rd-and-more';
const LONG = `long-secret-${'x7'.repeat(50)}-end`;
const SECRETS = { ADMIN_TOKEN: CHECK_TOKEN, B3OS_WEBHOOK_SECRET: 'test-secret-1', HOOK_URL, QUOTED_SECRET: QUOTED, LONG_SECRET: LONG };

const htmlEscaped = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;').replace(/\//g, '&#x2F;');

/** Every way a secret (or a telling part of it) could be written into a page. */
function leaks(html: string): string[] {
  const found: string[] = [];
  for (const [name, value] of Object.entries(SECRETS)) {
    const forms = [value, JSON.stringify(value).slice(1, -1), value.slice(0, 12), value.slice(-12)];
    for (const f of forms)
      for (const g of [f, htmlEscaped(f), htmlEscaped(JSON.stringify(f).slice(1, -1))]) if (html.includes(g)) found.push(`${name} as ${JSON.stringify(g)}`);
  }
  return found;
}

const RULES_IN_FORCE = `version: 1
destinations:
  hook: { type: webhook, url: "http://127.0.0.1:9/in-force" }
rules:
  - name: in-force
    match: { type: run.failed }
    send_to: [hook]
    examples:
      - event: ok.json
        matches: true
`;

describe('console check page', () => {
  const tmp = tempDir();
  let router: RouterProcess;
  let cookie: string;
  let csrf: string;
  before(async () => {
    writeFileSync(join(tmp.dir, 'ok.json'), JSON.stringify({ type: 'run.failed', data: { workflowId: 'wf_ok' } }));
    writeFileSync(join(tmp.dir, '.env'), 'SECRET_IN_DOTENV=dotenv-value-5544\n');
    writeFileSync(join(tmp.dir, 'private.json'), JSON.stringify({ type: 'run.failed', data: { private: 'json-file-secret-8821' } }));
    // debug: the test waits for 'console evaluation started' rather than for a fixed time.
    router = await startRouter({ dir: tmp.dir, rules: RULES_IN_FORCE, env: { ...SECRETS, LOG_LEVEL: 'debug' } });
    for (let i = 0; i < 3; i++)
      assert.ok((await postEvent(router.url, { id: `evt_check_${i}`, type: 'run.failed', data: { workflowId: `wf_${i}`, x: LONG } })).status < 300);
    const res = await signIn(router.url, CHECK_TOKEN);
    cookie = cookieOf(res)!;
    const page = await (await fetch(`${router.url}/console/check`, { headers: { cookie } })).text();
    csrf = csrfOf(page)!;
  });
  after(async () => {
    await router?.stop();
    tmp.cleanup();
  });

  const check = async (yaml: string) => {
    const t0 = Date.now();
    const res = await fetch(`${router.url}/console/check`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, yaml }).toString(),
    });
    return { status: res.status, html: await res.text(), ms: Date.now() - t0 };
  };

  test('values from the environment never appear: rule names, example events, match reasons, diff sentences', async () => {
    // Valid: the diff runs, and its sentences name the rules.
    const valid = await check(`version: 1
destinations:
  hook: { type: webhook, url: "\${HOOK_URL}", secret: "\${B3OS_WEBHOOK_SECRET}" }
rules:
  - name: "\${ADMIN_TOKEN}"
    match: { type: run.failed }
    send_to: [hook]
  - name: "q-\${QUOTED_SECRET}"
    description: "\${LONG_SECRET}"
    match: { type: run.failed }
    send_to: [hook]
  - name: "long-\${LONG_SECRET}"
    when: { "==": [{ var: "data.x" }, "\${LONG_SECRET}"] }
    send_to: [hook]
`);
    assert.equal(valid.status, 200);
    assert.match(valid.html, /Valid: 3 rules, 1 destination/, 'a URL from a variable that is set is not refused');
    assert.match(valid.html, /would match 3 events/);
    assert.match(valid.html, /HOOK_URL/, 'the page says which variables it did not show');
    assert.deepEqual(leaks(valid.html), []);

    // Invalid: examples whose reasons quote the values (JSON-escaped, and past 77 characters).
    const invalid = await check(`version: 1
destinations:
  hook: { type: webhook, url: "\${HOOK_URL}" }
rules:
  - name: r
    match: { type: run.failed, data.workflowId: "\${QUOTED_SECRET}" }
    send_to: [hook]
    examples:
      - event: { type: run.failed, data: { workflowId: "\${LONG_SECRET}", extra: "\${QUOTED_SECRET}" } }
        matches: true
      - event: { type: run.failed, data: { workflowId: "\${QUOTED_SECRET}", token: "\${ADMIN_TOKEN}" } }
        matches: false
`);
    assert.equal(invalid.status, 200);
    assert.match(invalid.html, /example 1 of rule &quot;r&quot; expects matches: true/);
    assert.match(invalid.html, /example 2 of rule &quot;r&quot; expects matches: false/);
    assert.deepEqual(leaks(invalid.html), []);

    const missing = await check('version: 1\nrules:\n  - name: "${NOT_SET_ANYWHERE}"\n    send_to: []\n');
    assert.match(missing.html, /line 3, column 12<\/a>: the environment variable NOT_SET_ANYWHERE is not set/, 'a missing variable is still reported');
  });

  test('event files: only those the rules in force use; a JSON error gives a place, never the text', async () => {
    const res = await check(`version: 1
destinations:
  hook: { type: webhook, url: "http://127.0.0.1:9/x" }
rules:
  - name: r
    match: { type: run.failed, data.workflowId: wf_ok }
    send_to: [hook]
    examples:
      - event: ok.json
        matches: true
      - event: .env
        matches: true
      - event: private.json
        matches: false
      - event: ../../etc/passwd
        matches: false
`);
    assert.equal(res.status, 200);
    assert.doesNotMatch(res.html, /SECRET_IN_|dotenv-value|json-file-secret|root:/);
    assert.doesNotMatch(res.html, /example 1 of rule/, 'the file the rules in force use is read (from memory)');
    assert.match(res.html, /the event file &quot;\.env&quot; is not one the rules in force use/);
    assert.match(res.html, /the event file &quot;private\.json&quot; is not one the rules in force use/);
  });

  test('a JSON error in an event file names the place, not the text (check on the CLI)', async () => {
    writeFileSync(join(tmp.dir, 'bad.json'), 'SECRET_IN_FILE=1\n');
    writeFileSync(
      join(tmp.dir, 'bad-rules.yaml'),
      `version: 1
destinations: {}
rules:
  - name: r
    match: { type: run.failed }
    send_to: []
    examples:
      - event: bad.json
        matches: true
`,
    );
    const { loadRules } = await import('../src/config/load.js');
    const { problems } = loadRules(join(tmp.dir, 'bad-rules.yaml'), {});
    const text = problems.map((p) => p.message).join('\n');
    assert.match(text, /the event file "bad\.json" is not valid JSON/);
    assert.doesNotMatch(text, /SECRET_IN/);
    writeFileSync(join(tmp.dir, 'bad.json'), '{"type": "run.failed",\n  "data": {"a": 1,}}');
    const again = loadRules(join(tmp.dir, 'bad-rules.yaml'), {})
      .problems.map((p) => p.message)
      .join('\n');
    assert.match(again, /is not valid JSON at line 2, column 19/);
  });

  test('a rules file that takes too long is stopped, and hooks are answered meanwhile', async () => {
    const r = (n: number) => `[${Array.from({ length: n }, (_, i) => i).join(',')}]`;
    const slow = `{ some: [${r(150)}, { some: [${r(150)}, { some: [${r(150)}, { some: [${r(150)}, { "==": [{ var: "" }, -1] }] }] }] }] }`;
    // JSON Logic runs under a work budget linear in the event's size; examples with big events
    // (one YAML alias each) make that budget long: about 10 s on the main thread, unbounded.
    const examples = Array.from({ length: 30 }, () => '      - { event: { type: run.failed, data: *big }, matches: false }').join('\n');
    const yaml = `version: 1
destinations: {}
rules:
  - name: slow
    when: ${slow}
    send_to: []
    examples:
      - { event: { type: run.failed, data: &big "${'x'.repeat(300_000)}" }, matches: false }
${examples}
`;
    const started = router.logs.filter((l) => l.msg === 'console evaluation started').length;
    const pending = check(yaml);
    // While it runs: a second try is refused at once, and a hook is answered quickly.
    await waitFor(() => router.logs.filter((l) => l.msg === 'console evaluation started').length > started, { what: 'the slow check evaluating' });
    const second = await check('version: 1\n');
    assert.equal(second.status, 429);
    assert.ok(second.ms < 1000, `the busy answer took ${second.ms} ms`);
    const t0 = Date.now();
    const hook = await postEvent(router.url, { id: 'evt_during_check', type: 'run.failed' });
    const hookMs = Date.now() - t0;
    assert.ok(hook.status < 300);
    assert.ok(hookMs < 1000, `the hook waited ${hookMs} ms`);
    const res = await pending;
    assert.equal(res.status, 200, res.html.slice(0, 3000));
    assert.match(res.html, /takes too long to evaluate/);
    assert.ok(res.ms < 9000, `the check page took ${res.ms} ms`);
    // And the next one is served again.
    const after = await check('version: 1\n');
    assert.match(after.html, /Valid: 0 rules/);
  });
});

describe('console rules page', () => {
  const tmp = tempDir();
  let router: RouterProcess;
  let cookie: string;
  const rules = (extra = '') => `version: 1
destinations:
  hook: { type: webhook, url: "http://127.0.0.1:9/x" }
rules:
  - name: counted
    match: { type: run.failed }
    send_to: [hook]
${extra}`;
  before(async () => {
    router = await startRouter({ dir: tmp.dir, rules: rules(), env: { ADMIN_TOKEN: TOKEN } });
    cookie = cookieOf(await signIn(router.url, TOKEN))!;
  });
  after(async () => {
    await router?.stop();
    tmp.cleanup();
  });
  const matched = async () => {
    const html = await (await fetch(`${router.url}/console/rules`, { headers: { cookie } })).text();
    return /<dd class="matched">(\d+) time/.exec(html)?.[1];
  };

  test('match counts are kept for a minute per rules version, counted again when the rules change', async () => {
    assert.ok((await postEvent(router.url, { id: 'evt_count_1', type: 'run.failed' })).status < 300);
    assert.equal(await matched(), '1');
    assert.ok((await postEvent(router.url, { id: 'evt_count_2', type: 'run.failed' })).status < 300);
    assert.equal(await matched(), '1', 'the second view within a minute uses the kept count');
    // A new version of the rules file: counted again.
    writeFileSync(router.rulesPath, rules('  - name: other\n    match: { type: run.succeeded }\n    send_to: [hook]\n'));
    router.child.kill('SIGHUP');
    await waitFor(async () => (await matched()) === '2', { timeoutMs: 10_000, what: 'the count after a reload' });
  });
});

describe('console behind a TLS-terminating proxy', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  test('CONSOLE_SECURE_COOKIE=1 marks the session cookie Secure without the router serving TLS', async () => {
    const router = await startRouter({ dir: tmp.dir, env: { ADMIN_TOKEN: TOKEN, CONSOLE_SECURE_COOKIE: '1' } });
    try {
      const res = await signIn(router.url, TOKEN);
      assert.equal(res.status, 303);
      assert.match(res.headers.get('set-cookie') ?? '', /;\s*Secure/i);
    } finally {
      await router.stop();
    }
  });

  test('a CONSOLE_SECURE_COOKIE that is neither 1 nor 0 is refused at start', async () => {
    const { serveOptions, OptionError } = await import('../src/config/options.js');
    assert.throws(
      () => serveOptions({}, { B3OS_WEBHOOK_SECRET: 's', CONSOLE_SECURE_COOKIE: 'sometimes' }),
      (e: unknown) => e instanceof OptionError && /CONSOLE_SECURE_COOKIE "sometimes" is neither 1 nor 0/.test(e.message),
    );
    assert.equal(serveOptions({}, { B3OS_WEBHOOK_SECRET: 's' }).consoleSecureCookie, false);
    assert.equal(serveOptions({}, { B3OS_WEBHOOK_SECRET: 's', CONSOLE_SECURE_COOKIE: 'true' }).consoleSecureCookie, true);
  });
});

describe('console links and errors', () => {
  const tmp = tempDir();
  let router: RouterProcess;
  let cookie: string;
  const ODD = 'a&b#c+d x';
  before(async () => {
    router = await startRouter({ dir: tmp.dir, env: { ADMIN_TOKEN: TOKEN } });
    cookie = cookieOf(await signIn(router.url, TOKEN))!;
    assert.ok((await postEvent(router.url, { id: `evt_${ODD}`, type: `run.${ODD}` })).status < 300);
  });
  after(async () => {
    await router?.stop();
    tmp.cleanup();
  });
  const get = async (path: string) => (await fetch(router.url + path, { headers: { cookie } })).text();
  const hrefs = (html: string) =>
    [...html.matchAll(/href="([^"]+)"/g)].map((m) =>
      m[1]!
        .replace(/&amp;/g, '&')
        .replace(/&#x2F;/g, '/')
        .replace(/&#x3D;/g, '='),
    );

  test('overview type links and the event page try link carry a type or id with & # + intact', async () => {
    const overview = hrefs(await get('/console'));
    const typeLink = overview.find((h) => h.startsWith('/console/events?type='));
    assert.ok(typeLink, `no type link in ${overview.join(' ')}`);
    const u = new URL(typeLink, router.url);
    assert.equal(u.searchParams.get('type'), `run.${ODD}`);
    assert.equal(u.searchParams.get('since'), '24h', 'a value the events page takes');
    // Followed, it lists the event and says the filter is "in the last 24 hours".
    const events = await get(u.pathname + u.search);
    assert.match(events, /<option value="24h" selected>/);
    assert.ok(events.includes(`evt_${ODD}`.replace(/&/g, '&amp;')), 'the event is listed');

    const page = hrefs(await get(`/console/events/${encodeURIComponent(`evt_${ODD}`)}`));
    const tryLink = page.find((h) => h.startsWith('/console/try?'));
    assert.ok(tryLink);
    assert.equal(new URL(tryLink, router.url).searchParams.get('event'), `evt_${ODD}`);
  });

  test('a malformed address answers with the console page and its headers', async () => {
    const res = await fetch(`${router.url}/console/events/%ZZ`, { headers: { cookie } });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.match(await res.text(), /is not a valid address/);
    // Elsewhere, the router's own JSON error.
    const other = await fetch(`${router.url}/admin/events/%ZZ`);
    assert.equal(other.status, 400);
    assert.match(other.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(other.headers.get('content-security-policy'), null);
  });
});
