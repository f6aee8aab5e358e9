// Events posted to the running router (child process) reach real local stand-ins for Slack, an
// SMTP server and webhook receivers, and failures are retried or given up as the contract says.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { tempDir, waitFor } from './helpers/cli.js';
import { postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';
import { startFakeSlackApi, startFakeSlackWebhook, startHttpReceiver, startSmtpServer } from './helpers/receivers.js';

type DeliveryRow = { id: string; status: string; destination: string; attempts: number; reason: string | null };

const deliveries = (db: string, where = '1=1') =>
  readDb(db, (d) => d.prepare(`SELECT * FROM deliveries WHERE ${where} ORDER BY created_at`).all() as DeliveryRow[]);
const waitStatus = (db: string, destination: string, status: string, count = 1, timeoutMs = 15_000) =>
  waitFor(() => deliveries(db, `destination = '${destination}' AND status = '${status}'`).length >= count, {
    timeoutMs,
    what: `${count} ${status} deliveries to ${destination}`,
  });

describe('an event reaches each channel as the rules say', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  let slack: Awaited<ReturnType<typeof startFakeSlackApi>>;
  let slackHook: Awaited<ReturnType<typeof startFakeSlackWebhook>>;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let hook: Awaited<ReturnType<typeof startHttpReceiver>>;

  before(async () => {
    [slack, slackHook, smtp, hook] = await Promise.all([startFakeSlackApi(), startFakeSlackWebhook(), startSmtpServer(), startHttpReceiver()]);
    r = await startRouter({
      dir: tmp.dir,
      env: { SLACK_BOT_TOKEN: 'xoxb-test', SLACK_API_URL: slack.apiUrl, SMTP_URL: smtp.url, HOOK_URL: hook.url + '/in' },
      rules: `version: 1
destinations:
  ops-slack: { type: slack, channel: "#alerts" }
  team-hook: { type: slack, webhook_url: "${slackHook.webhookUrl}" }
  oncall: { type: email, to: [oncall@example.com], from: router@example.com, subject: "B3OS {{type}}: {{data.workflowName}}" }
  sink: { type: webhook, url: "\${HOOK_URL}", secret: hook-secret }
rules:
  - name: payroll-failed
    match: { type: run.failed, data.workflowId: wf_payroll }
    send_to: [ops-slack, team-hook, oncall, sink]
    message: "{{data.workflowName}} run {{data.runId}} failed: {{data.error.message}}"
  - name: other
    match: { type: run.succeeded }
    send_to: [sink]
`,
    });
  });
  after(async () => {
    await r.stop();
    await Promise.all([slack.close(), slackHook.close(), smtp.close(), hook.close()]);
    tmp.cleanup();
  });

  test('slack web api, slack webhook, email and webhook each get it once', async () => {
    const event = {
      id: 'evt_all',
      type: 'run.failed',
      data: { workflowId: 'wf_payroll', workflowName: 'Payroll <EU>', runId: 'run_9', error: { message: 'bank said no' } },
    };
    assert.equal((await postEvent(r.url, event)).status, 204);
    const [call] = await slack.waitFor(1);
    assert.equal(call!.method, 'chat.postMessage');
    assert.equal(call!.args.channel, '#alerts');
    assert.equal(call!.token, 'xoxb-test');
    assert.equal(call!.args.text, 'Payroll &lt;EU&gt; run run_9 failed: bank said no');
    await slackHook.waitFor(1);
    const [hookPayload] = slackHook.payloads();
    assert.match(String(hookPayload!.text), /run_9 failed/);
    const [mail] = await smtp.waitFor(1);
    assert.equal(mail!.subject, 'B3OS run.failed: Payroll <EU>');
    assert.deepEqual(mail!.to, ['oncall@example.com']);
    assert.match(mail!.text ?? '', /Payroll <EU> run run_9 failed/);
    assert.match(mail!.html ?? '', /Payroll &lt;EU&gt;/);
    const [req] = await hook.waitFor(1);
    const body = req!.json<{ rule: string; destination: string; event: unknown }>();
    assert.equal(body.rule, 'payroll-failed');
    assert.equal(body.destination, 'sink');
    assert.deepEqual(body.event, event);
    const expected = 'sha256=' + createHmac('sha256', 'hook-secret').update(req!.body).digest('hex');
    assert.equal(req!.headers['x-b3os-router-signature'], expected);
    await waitStatus(r.dbPath, 'sink', 'delivered');
    await waitStatus(r.dbPath, 'oncall', 'delivered');
    assert.equal(deliveries(r.dbPath).length, 4);
  });

  test('a non-matching event sends nothing; a duplicate creates nothing', async () => {
    const before = deliveries(r.dbPath).length;
    assert.equal((await postEvent(r.url, { id: 'evt_none', type: 'run.failed', data: { workflowId: 'wf_other' } })).status, 204);
    assert.equal((await postEvent(r.url, { id: 'evt_all', type: 'run.failed', data: { workflowId: 'wf_payroll' } })).status, 200);
    assert.equal(deliveries(r.dbPath).length, before);
  });
});

describe('retries and give-ups', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  let hook: Awaited<ReturnType<typeof startHttpReceiver>>;
  let slow: Awaited<ReturnType<typeof startHttpReceiver>>;
  let slack: Awaited<ReturnType<typeof startFakeSlackApi>>;

  before(async () => {
    [hook, slow, slack] = await Promise.all([startHttpReceiver(), startHttpReceiver({ defaultReply: 'hang' }), startFakeSlackApi()]);
    r = await startRouter({
      dir: tmp.dir,
      env: { SLACK_BOT_TOKEN: 'xoxb-test', SLACK_API_URL: slack.apiUrl },
      rules: `version: 1
delivery:
  max_attempts: 3
  backoff: { initial: 50ms, max: 200ms }
  timeout: 2s
destinations:
  hook: { type: webhook, url: "${hook.url}/hook" }
  down: { type: webhook, url: "http://127.0.0.1:9/nothing-listens-here" }
  slow: { type: webhook, url: "${slow.url}/slow", timeout: 10s, max_attempts: 1 }
  chat: { type: slack, channel: "#c" }
rules:
  - { name: to-hook, match: { type: hook.test }, send_to: [hook] }
  - { name: to-down, match: { type: down.test }, send_to: [down] }
  - { name: to-slow, match: { type: slow.test }, send_to: [slow] }
  - { name: to-chat, match: { type: chat.test }, send_to: [chat] }
`,
    });
  });
  after(async () => {
    await r.stop();
    await Promise.all([hook.close(), slow.close(), slack.close()]);
    tmp.cleanup();
  });

  test('500, 500, 200: delivered on the third attempt with the same Idempotency-Key', async () => {
    hook.reply(500, 500, 200);
    assert.equal((await postEvent(r.url, { id: 'evt_retry', type: 'hook.test' })).status, 204);
    const reqs = await hook.waitFor(3);
    const keys = new Set(reqs.map((q) => q.headers['idempotency-key']));
    assert.equal(keys.size, 1);
    const [row] = await waitFor(() => {
      const d = deliveries(r.dbPath, `destination = 'hook' AND status = 'delivered'`);
      return d.length ? d : null;
    });
    assert.equal(row!.attempts, 3);
    assert.equal([...keys][0], row!.id);
  });

  test('400: one attempt, dead', async () => {
    const n = hook.requests.length;
    hook.reply(400);
    assert.equal((await postEvent(r.url, { id: 'evt_400', type: 'hook.test' })).status, 204);
    await waitStatus(r.dbPath, 'hook', 'dead');
    assert.equal(hook.requests.length, n + 1);
    const [row] = deliveries(r.dbPath, `destination = 'hook' AND status = 'dead'`);
    assert.equal(row!.attempts, 1);
  });

  test('429 with Retry-After is honoured', async () => {
    const n = hook.requests.length;
    hook.reply({ status: 429, headers: { 'retry-after': '1' } }, 200);
    assert.equal((await postEvent(r.url, { id: 'evt_429', type: 'hook.test' })).status, 204);
    const reqs = await hook.waitFor(n + 2);
    const gap = reqs[n + 1]!.at - reqs[n]!.at;
    assert.ok(gap >= 900, `second attempt came ${gap} ms after the first; backoff alone is at most 200 ms`);
  });

  test('Slack ratelimited, then ok: delivered; channel_not_found: one call, dead', async () => {
    slack.reply({ ratelimited: 1 }, 'ok');
    assert.equal((await postEvent(r.url, { id: 'evt_rl', type: 'chat.test' })).status, 204);
    await waitStatus(r.dbPath, 'chat', 'delivered');
    assert.equal(slack.calls.length, 2);
    slack.reply('channel_not_found');
    assert.equal((await postEvent(r.url, { id: 'evt_cnf', type: 'chat.test' })).status, 204);
    await waitStatus(r.dbPath, 'chat', 'dead');
    assert.equal(slack.calls.length, 3);
    const [dead] = deliveries(r.dbPath, `destination = 'chat' AND status = 'dead'`);
    assert.match(dead!.reason ?? '', /channel_not_found/);
  });

  test('a receiver that is down: dead after max_attempts, server healthy', async () => {
    assert.equal((await postEvent(r.url, { id: 'evt_down', type: 'down.test' })).status, 204);
    await waitStatus(r.dbPath, 'down', 'dead');
    const [row] = deliveries(r.dbPath, `destination = 'down'`);
    assert.equal(row!.attempts, 3);
    assert.equal((await fetch(r.url + '/healthz')).status, 200);
  });

  test('one destination hanging does not delay another', async () => {
    assert.equal((await postEvent(r.url, { id: 'evt_slow', type: 'slow.test' })).status, 204);
    await slow.waitFor(1);
    const n = hook.requests.length;
    assert.equal((await postEvent(r.url, { id: 'evt_fast', type: 'hook.test' })).status, 204);
    // The slow send hangs for its whole 10 s timeout; the fast one must arrive well before that.
    await hook.waitFor(n + 1, 5_000);
    assert.equal(deliveries(r.dbPath, `destination = 'slow'`)[0]!.status, 'pending', 'the slow one is still in flight');
  });
});

describe('crash safety', () => {
  test('kill -9 with deliveries pending: all delivered after restart', async () => {
    const tmp = tempDir();
    const hook = await startHttpReceiver({ defaultReply: 503 });
    const rules = `version: 1
delivery: { max_attempts: 50, backoff: { initial: 100ms, max: 300ms } }
destinations:
  hook: { type: webhook, url: "${hook.url}/in" }
rules:
  - { name: all, match: { type: "*" }, send_to: [hook] }
`;
    let r = await startRouter({ dir: tmp.dir, rules });
    try {
      const ids = Array.from({ length: 20 }, (_, i) => `evt_k9_${i}`);
      for (const id of ids) assert.equal((await postEvent(r.url, { id, type: 'run.failed' })).status, 204);
      await hook.waitFor(1);
      assert.equal(await r.stop('SIGKILL'), null);
      hook.setDefault(200);
      r = await startRouter({ dir: tmp.dir, dbPath: r.dbPath, rulesPath: r.rulesPath });
      await waitFor(() => deliveries(r.dbPath, `status = 'delivered'`).length === ids.length, { timeoutMs: 20_000, what: 'every delivery' });
      const got = new Set(hook.requests.filter((q) => q.headers['idempotency-key'] && q.text).map((q) => q.eventId()));
      for (const id of ids) assert.ok(got.has(id), `${id} reached the receiver`);
    } finally {
      await r.stop();
      await hook.close();
      tmp.cleanup();
    }
  });
});

describe('shutdown', () => {
  test('SIGTERM: an in-flight send finishes and is recorded, then exit 0', async () => {
    const tmp = tempDir();
    const hook = await startHttpReceiver({ defaultReply: { status: 200, delayMs: 800 } });
    const r = await startRouter({
      dir: tmp.dir,
      rules: `version: 1
destinations:
  hook: { type: webhook, url: "${hook.url}/in" }
rules:
  - { name: all, match: { type: "*" }, send_to: [hook] }
`,
    });
    try {
      assert.equal((await postEvent(r.url, { id: 'evt_term', type: 'run.failed' })).status, 204);
      await hook.waitFor(1);
      assert.equal(await r.stop('SIGTERM'), 0);
      assert.equal(deliveries(r.dbPath)[0]!.status, 'delivered');
    } finally {
      await hook.close();
      tmp.cleanup();
    }
  });

  test('SIGTERM with a send that never ends: exit 0 inside 10 s, and the delivery stays pending', async () => {
    const tmp = tempDir();
    const hook = await startHttpReceiver({ defaultReply: 'hang' });
    const r = await startRouter({
      dir: tmp.dir,
      rules: `version: 1
destinations:
  hook: { type: webhook, url: "${hook.url}/in", timeout: 60s }
rules:
  - { name: all, match: { type: "*" }, send_to: [hook] }
`,
    });
    try {
      assert.equal((await postEvent(r.url, { id: 'evt_hang', type: 'run.failed' })).status, 204);
      await hook.waitFor(1);
      const t0 = Date.now();
      assert.equal(await r.stop('SIGTERM', 15_000), 0);
      assert.ok(Date.now() - t0 < 10_000, `stopped in ${Date.now() - t0} ms; Docker kills at 10 s`);
      const [row] = deliveries(r.dbPath);
      assert.equal(row!.status, 'pending', 'cut short, not failed');
      assert.equal(row!.attempts, 0, 'a send cut short by shutdown is not an attempt');
    } finally {
      await hook.close();
      tmp.cleanup();
    }
  });
});
