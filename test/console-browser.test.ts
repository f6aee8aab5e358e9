// The console in a real browser (issue 14), against a real router process and local receivers:
// sign in, see posted events, read why a rule did not match, retry a dead delivery until a
// receiver gets it, check a rules file with a typo, try an event and read its Slack text,
// hostile event text that must stay text, and a silence added, seen silencing a delivery and
// expired. Writes a screenshot of the overview under dist/test/output (and to docs/console.png
// when UPDATE_SCREENSHOT=1).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer-core';
import { launchBrowser, type TestBrowser } from './helpers/browser.js';
import { runCli, tempDir, waitFor } from './helpers/cli.js';
import { startFakeSlackWebhook, startHttpReceiver, type FakeSlackWebhook, type HttpReceiver } from './helpers/receivers.js';
import { ROOT, postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';

const TOKEN = 'console-admin-token-4f9c2e';
const HOSTILE = '<img src=x onerror=alert(1)>';

const rules = (slack: string, hook: string) => `version: 1
destinations:
  ops-slack: { type: slack, webhook_url: "${slack}" }
  billing-hook: { type: webhook, url: "${hook}/billing", max_attempts: 1 }
rules:
  - name: payroll-failed
    description: Tell ops when payroll fails
    match: { type: run.failed, data.workflowId: wf_payroll }
    send_to: [ops-slack]
    message: ":red_circle: *{{data.workflowName}}* run {{data.runId}} failed: {{data.error.message}}"
  - name: billing-failed
    match: { type: run.failed, data.workflowId: wf_billing }
    send_to: [billing-hook]
`;

const event = (id: string, workflowId: string, workflowName: string, extra: object = {}) => ({
  id,
  type: 'run.failed',
  createdAt: new Date().toISOString(),
  data: { workflowId, workflowName, runId: `run_${id}`, error: { message: 'insufficient funds' }, ...extra },
});

describe('console in a browser', () => {
  const tmp = tempDir();
  let router: RouterProcess;
  let slack: FakeSlackWebhook;
  let hook: HttpReceiver;
  let b: TestBrowser;
  let page: Page;
  const dialogs: string[] = [];
  const urls: string[] = [];

  before(async () => {
    slack = await startFakeSlackWebhook();
    // The webhook receiver refuses (400, permanent) until the retry test lets it accept.
    hook = await startHttpReceiver({ defaultReply: 400 });
    router = await startRouter({ dir: tmp.dir, rules: rules(slack.webhookUrl, hook.url), env: { ADMIN_TOKEN: TOKEN } });
    b = await launchBrowser();
    page = await b.newPage();
    await page.setViewport({ width: 1200, height: 900 });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) urls.push(f.url());
    });
  });
  after(async () => {
    await b?.close();
    await router?.stop();
    await slack?.close();
    await hook?.close();
    tmp.cleanup();
  });

  const go = async (path: string) => {
    await page.goto(router.url + path, { waitUntil: 'load' });
  };
  const text = (selector: string) => page.$eval(selector, (el) => (el as HTMLElement).innerText);
  const submit = async (selector: string) => {
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(selector)]);
  };

  test('a page asked for without a session shows the sign-in form, then leads back to it', async () => {
    await go('/console/events?since=24h');
    assert.match(new URL(page.url()).pathname, /^\/console\/sign-in$/);
    await page.type('#token', TOKEN);
    await submit('form[action="/console/sign-in"] button[type=submit]');
    const u = new URL(page.url());
    assert.equal(u.pathname + u.search, '/console/events?since=24h');
    assert.match(await text('h1'), /Events/);
    const [cookie] = await page.cookies();
    assert.ok(cookie, 'a session cookie is set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/console');
    assert.ok(cookie.expires > Date.now() / 1000, 'the cookie has an expiry');
  });

  test('posted signed events show on the events page, newest first; hostile text stays text', async () => {
    for (const e of [event('evt_pay', 'wf_payroll', HOSTILE), event('evt_news', 'wf_newsletter', 'Newsletter'), event('evt_bill', 'wf_billing', 'Billing')]) {
      const r = await postEvent(router.url, e);
      assert.ok(r.status < 300, `hook answered ${r.status}: ${r.text}`);
    }
    await go('/console/events');
    const ids = await page.$$eval('#events tbody tr td[data-label=Event] a', (as) => as.map((a) => a.textContent));
    assert.deepEqual(ids, ['evt_bill', 'evt_news', 'evt_pay']);
    const workflows = await page.$$eval('#events td.workflow', (tds) => tds.map((td) => td.textContent));
    assert.ok(workflows.includes(HOSTILE), `the hostile name is shown as text: ${JSON.stringify(workflows)}`);
    assert.equal(await page.$$eval('img', (imgs) => imgs.length), 0, 'no img element was created');

    await go('/console/events?type=run.started');
    assert.match(await text('main'), /No events match these filters/);
  });

  test("one event's page says why a rule did not match", async () => {
    await go('/console/events');
    await submit('a[href$="/evt_news"]');
    assert.equal(new URL(page.url()).pathname, '/console/events/evt_news');
    const rows = await page.$$eval('#rule-outcomes tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).innerText));
    const payroll = rows.find((r) => r.startsWith('payroll-failed'));
    assert.ok(payroll, `rows: ${JSON.stringify(rows)}`);
    assert.match(payroll, /did not match/);
    assert.match(payroll, /data\.workflowId is "wf_newsletter"/);
    assert.match(await text('#explain'), /No rule matched/);
  });

  test('the hostile event page: the name renders as text in the Slack text sent, no dialog, no element', async () => {
    await slack.waitFor(1);
    await go('/console/events/evt_pay');
    const sent = await text('.delivery .sent');
    assert.ok(sent.includes('&lt;img src=x onerror=alert(1)&gt;'), `Slack text, escaped for mrkdwn: ${sent}`);
    assert.ok((await text('.payload')).includes(HOSTILE));
    assert.equal(await page.$$eval('img', (imgs) => imgs.length), 0);
    assert.deepEqual(dialogs, []);
  });

  test('a dead delivery retried from the deliveries page reaches the receiver', async () => {
    await waitFor(
      () => readDb(router.dbPath, (db) => db.prepare(`SELECT status FROM deliveries WHERE destination = 'billing-hook'`).pluck().get() === 'dead' || undefined),
      {
        what: 'the billing delivery to die',
      },
    );
    hook.setDefault(200);
    const before = hook.requests.length;
    await go('/console');
    await submit('#dead-count');
    assert.equal(new URL(page.url()).search, '?status=dead');
    await submit('#deliveries form button.retry');
    assert.match(await text('.notice'), /queued again/);
    await hook.waitFor(before + 1, 10_000);
    await waitFor(
      () =>
        readDb(
          router.dbPath,
          (db) => db.prepare(`SELECT status FROM deliveries WHERE destination = 'billing-hook'`).pluck().get() === 'delivered' || undefined,
        ),
      {
        what: 'the retried delivery to be delivered',
      },
    );
    await go('/console/deliveries?status=delivered&destination=billing-hook');
    assert.match(await text('#deliveries'), /billing-failed → billing-hook/);
  });

  test('a rules file with a typo: the error is shown with its line', async () => {
    await go('/console/check');
    const yaml = `version: 1
destinations:
  ops-slack: { type: slack, webhook_url: "https://hooks.slack.com/services/T/B/X" }
rules:
  - name: payroll-failed
    match: { type: run.failed }
    sned_to: [ops-slack]
`;
    await page.$eval('#rules-yaml', (el, v) => ((el as HTMLTextAreaElement).value = v), yaml);
    await submit('form[action="/console/check"] button[type=submit]');
    assert.match(await text('#check-summary'), /error/);
    const problems = await text('#problems');
    assert.match(problems, /line 7, column \d+: .*sned_to/);
    assert.match(await text('#line-7'), /sned_to/);
    assert.equal(await page.$eval('#line-7', (el) => el.className), 'error');
  });

  test('a valid rules file: check says valid and diff says what it would change', async () => {
    await go('/console/check');
    const yaml = rules(slack.webhookUrl, hook.url).replace('data.workflowId: wf_payroll }', 'data.workflowId: [wf_payroll, wf_newsletter] }');
    await page.$eval('#rules-yaml', (el, v) => ((el as HTMLTextAreaElement).value = v), yaml);
    await submit('form[action="/console/check"] button[type=submit]');
    assert.match(await text('#check-summary'), /^Valid/);
    assert.match(await text('#diff'), /1 event would now also go to ops-slack/);
  });

  test('an event pasted on the try page: the rendered Slack text is shown', async () => {
    await go('/console/try');
    const json = JSON.stringify(event('evt_try', 'wf_payroll', 'Payroll EU'));
    await page.$eval('#event-json', (el, v) => ((el as HTMLTextAreaElement).value = v), json);
    await submit('form[action="/console/try"] button[type=submit]');
    const rendered = await page.$$eval('#report ~ section pre.rendered', (ps) => ps.map((p) => p.textContent));
    assert.ok(rendered.includes(':red_circle: *Payroll EU* run run_evt_try failed: insufficient funds'), JSON.stringify(rendered));
    // A dry run: nothing was stored.
    assert.equal(
      readDb(router.dbPath, (db) => db.prepare(`SELECT count(*) FROM events WHERE event_id = 'evt_try'`).pluck().get()),
      0,
    );
  });

  test('a stored event picked on the try page', async () => {
    await go('/console/try?event=evt_pay');
    assert.match(await text('#report'), /payroll-failed\s+matched/);
  });

  test('the rules page says each rule in plain words with its matches', async () => {
    await go('/console/rules');
    const rule = await text('#rule-0');
    assert.match(rule, /When the type is run\.failed and the workflow is wf_payroll, tell ops-slack\./);
    assert.match(rule, /Matched in the last 24 hours\s+1 time/);
  });

  test('a silence added in the browser silences a matching delivery; expired, it leaves the active list', async () => {
    await go('/console');
    await submit('nav a[href="/console/silences"]');
    assert.equal(new URL(page.url()).pathname, '/console/silences');
    assert.match(await text('#silences-list'), /No active silences/);

    // Refused as `silence add` refuses it, with its sentence; what was chosen stays chosen.
    await page.select('#silence-rule', 'payroll-failed');
    await page.type('#silence-comment', `payroll migration ${HOSTILE}`);
    await submit('#add-silence button[type=submit]');
    assert.match(await text('.notice.bad'), /a silence needs an end: --for DURATION/);
    assert.equal(await page.$eval('#silence-rule', (el) => (el as HTMLSelectElement).value), 'payroll-failed');
    await page.type('#silence-for', '-5m');
    await submit('#add-silence button[type=submit]');
    const refusal = (await text('.notice.bad')).replace(/^The silence was not added: /, '');
    const cli = await runCli(['silence', 'add', '--rule', 'payroll-failed', '--for=-5m', '--db', router.dbPath, '--rules', router.rulesPath]);
    assert.equal(cli.code, 1);
    assert.ok(cli.stderr.includes(refusal), `the console says what \`silence add\` says: ${JSON.stringify(refusal)} in ${JSON.stringify(cli.stderr)}`);
    assert.match(refusal, /-5m/);

    await page.$eval('#silence-for', (el) => ((el as HTMLInputElement).value = '2h'));
    await submit('#add-silence button[type=submit]');
    assert.equal(new URL(page.url()).pathname, '/console/silences');
    assert.match(await text('.notice'), /^Silence \S+ added \(rule payroll-failed\) until .*within a second/);
    const rows = await page.$$('#silences tbody tr');
    assert.equal(rows.length, 1);
    const id = (await page.$eval('#silences tbody tr', (tr) => tr.id)).replace(/^silence-/, '');
    const row = await text(`#silence-${id}`);
    assert.match(row, /rule payroll-failed/);
    assert.match(row, /console/, 'made by "console"');
    assert.ok(row.includes(`payroll migration ${HOSTILE}`), `the comment is shown as text: ${row}`);
    assert.equal(await page.$$eval('img', (imgs) => imgs.length), 0);

    // The router honours a silence within a second: post payroll events until one is silenced.
    let n = 0;
    let silenced = '';
    await waitFor(
      async () => {
        const evt = `evt_sil_${n++}`;
        assert.ok((await postEvent(router.url, event(evt, 'wf_payroll', 'Payroll'))).status < 300);
        const status = await waitFor(
          () =>
            readDb(router.dbPath, (db) =>
              db
                .prepare(
                  `SELECT d.status FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE e.event_id = ? AND d.status IN ('silenced', 'delivered')`,
                )
                .pluck()
                .get(evt),
            ) as string | undefined,
          { what: `${evt} to settle` },
        );
        if (status === 'silenced') silenced = evt;
        return status === 'silenced';
      },
      { timeoutMs: 10_000, what: 'a payroll delivery to be silenced', intervalMs: 50 },
    );

    // The deliveries page shows it silenced, with the reason naming the silence and a link to it.
    await waitFor(
      async () => {
        await go('/console/deliveries?status=silenced');
        return (await page.$('#deliveries')) !== null && (await text('#deliveries')).includes(silenced);
      },
      { what: 'the silenced delivery on the deliveries page', intervalMs: 100 },
    );
    const reason = await page.$eval('#deliveries tbody tr td.reason', (td) => (td as HTMLElement).innerText);
    assert.match(reason, new RegExp(`silenced by silence ${id} \\("payroll migration `));
    assert.match(await text('#deliveries tbody tr td[data-label=Status]'), /silenced/);

    // The event page says why it was not sent, naming the silence.
    await go(`/console/events/${silenced}`);
    const delivery = await text('.delivery');
    assert.match(delivery, new RegExp(`Not sent: silenced by silence ${id}`));
    await submit('.delivery a.silence-link');
    assert.equal(new URL(page.url()).hash, `#silence-${id}`);

    // Expire it from the page: gone from the active list, shown as ended with the toggle.
    await go('/console/silences');
    const out = join(fileURLToPath(new URL('.', import.meta.url)), 'output');
    mkdirSync(out, { recursive: true });
    await page.screenshot({ path: join(out, 'console-silences.png'), fullPage: true });
    await submit(`#silence-${id} button.expire`);
    assert.match(await text('.notice'), new RegExp(`Silence ${id} ended`));
    assert.equal(await page.$(`#silence-${id}`), null);
    assert.match(await text('#silences-list'), /No active silences/);
    await submit('#silences-toggle');
    assert.match(await text(`#silence-${id}`), /ended/);
    assert.equal(await page.$(`#silence-${id} button.expire`), null, 'an ended silence has no Expire button');
    assert.deepEqual(dialogs, []);
  });

  test('the overview, with a screenshot; the token was never in a URL', async () => {
    await go('/console');
    assert.match(await text('#dead-count'), /^0\s+dead/);
    assert.equal(await page.$$eval('figure.chart svg rect', (r) => r.length > 0), true);
    // The types received in the last day, with counts (issue 16): every event posted here is run.failed.
    assert.match(await text('#received-types'), /run\.failed\s+\d+/);
    const out = join(fileURLToPath(new URL('.', import.meta.url)), 'output');
    mkdirSync(out, { recursive: true });
    const file = join(out, 'console-overview.png');
    await page.screenshot({ path: file, fullPage: true });
    if (process.env.UPDATE_SCREENSHOT === '1') copyFileSync(file, join(ROOT, 'docs', 'console.png'));

    for (const u of urls) assert.ok(!u.includes(TOKEN), `a URL held the token: ${u}`);
    assert.deepEqual(b.blocked, [], 'no request left loopback');
    assert.deepEqual(dialogs, []);
  });

  test("the token never appears in the router's log", async () => {
    await waitFor(() => router.logs.some((l) => l.msg === 'console sign-in'), { what: 'the sign-in log line' });
    const all = JSON.stringify(router.logs) + router.stderr();
    assert.ok(!all.includes(TOKEN), 'the admin token is in the log');
  });
});
