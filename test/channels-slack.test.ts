// The Slack channel against a fake Slack Web API and a fake incoming webhook (real local servers).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ChannelEnv } from '../src/delivery/channels/channel.js';
import { ChannelRegistry } from '../src/delivery/channels/index.js';
import type { SlackPayload } from '../src/delivery/compose.js';
import {
  PerDestination,
  notification,
  sampleEvent,
  slackDestination,
  startFakeSlackApi,
  startFakeSlackWebhook,
  type FakeSlackApi,
  type FakeSlackWebhook,
} from './helpers/receivers.js';

const never = new AbortController().signal;

type Block = { type: string; text?: { text: string }; fields?: Array<{ text: string }>; elements?: Array<{ text: string }> };

describe('slack channel, Web API mode', () => {
  let api: FakeSlackApi;
  let channel: PerDestination;
  let env: ChannelEnv;

  before(async () => {
    api = await startFakeSlackApi();
    env = { slackBotToken: 'xoxb-env-token', slackApiUrl: api.apiUrl, smtpUrl: null };
    channel = new PerDestination(env);
  });
  after(async () => {
    await channel.close();
    await api.close();
  });

  test('ok: chat.postMessage with channel, text and blocks', async () => {
    const start = api.calls.length;
    const n = notification(slackDestination({ channel: '#b3os-alerts' }), {
      message: (e) => (e === 'slack' ? ':red_circle: Payroll run run_42 failed: insufficient funds' : 'wrong escape'),
    });
    const r = await channel.send(n, never);
    assert.deepEqual(r, { outcome: 'delivered', code: 'ok' });
    const [call] = (await api.waitFor(start + 1)).slice(start);
    assert.ok(call);
    assert.equal(call.method, 'chat.postMessage');
    assert.equal(call.token, 'xoxb-env-token');
    assert.equal(call.args.channel, '#b3os-alerts');
    assert.equal(call.args.text, ':red_circle: Payroll run run_42 failed: insufficient funds');
    const blocks = call.args.blocks as Block[];
    assert.ok(Array.isArray(blocks));
    assert.equal(blocks[0]?.type, 'section');
    assert.equal(blocks[0]?.text?.text, ':red_circle: Payroll run run_42 failed: insufficient funds');
    const fields = blocks.find((b) => b.fields)?.fields?.map((f) => f.text) ?? [];
    assert.deepEqual(fields, ['*Workflow*\nPayroll (wf_payroll)', '*Run*\nrun_42', '*Status*\nrun.failed']);
    const link = blocks.find((b) => b.text?.text.includes('<https://'));
    assert.equal(link?.text?.text, ':link: <https://app.b3os.org/runs/run_42|Open in B3OS>');
  });

  test("the destination's token wins over SLACK_BOT_TOKEN", async () => {
    const start = api.calls.length;
    await channel.send(notification(slackDestination({ token: 'xoxb-dest-token' })), never);
    const [call] = (await api.waitFor(start + 1)).slice(start);
    assert.equal(call?.token, 'xoxb-dest-token');
  });

  test('ratelimited → retry with retryAfterMs from Retry-After, one call', async () => {
    api.reply({ ratelimited: 30 });
    const start = api.calls.length;
    const r = await channel.send(notification(slackDestination()), never);
    assert.equal(r.outcome, 'retry');
    assert.equal(r.code, 'ratelimited');
    assert.equal(r.outcome === 'retry' ? r.retryAfterMs : null, 30_000);
    assert.equal(api.calls.length, start + 1, 'the library did not retry by itself');
  });

  test('channel_not_found → permanent after exactly one call', async () => {
    api.reply('channel_not_found');
    const start = api.calls.length;
    const r = await channel.send(notification(slackDestination({ channel: '#nope' })), never);
    assert.equal(r.outcome, 'permanent');
    assert.equal(r.code, 'channel_not_found');
    assert.equal(api.calls.length, start + 1);
  });

  test('invalid_auth, not_in_channel, account_inactive → permanent', async () => {
    for (const error of ['invalid_auth', 'not_in_channel', 'account_inactive']) {
      api.reply(error);
      const start = api.calls.length;
      const r = await channel.send(notification(slackDestination()), never);
      assert.equal(r.outcome, 'permanent', error);
      assert.equal(r.code, error);
      assert.equal(api.calls.length, start + 1);
    }
  });

  test('HTTP 500 → retry, one call', async () => {
    api.reply(500);
    const start = api.calls.length;
    const r = await channel.send(notification(slackDestination()), never);
    assert.equal(r.outcome, 'retry');
    assert.equal(r.code, '500');
    assert.equal(api.calls.length, start + 1);
  });

  test('other platform errors (internal_error) → retry; HTTP 404 → permanent', async () => {
    api.reply('internal_error', 404);
    const a = await channel.send(notification(slackDestination()), never);
    assert.equal(a.outcome, 'retry');
    assert.equal(a.code, 'internal_error');
    const b = await channel.send(notification(slackDestination()), never);
    assert.equal(b.outcome, 'permanent');
    assert.equal(b.code, '404');
  });

  test('ratelimited then ok', async () => {
    api.reply('ratelimited', 'ok');
    const a = await channel.send(notification(slackDestination()), never);
    assert.equal(a.outcome === 'retry' ? a.retryAfterMs : null, 1_000);
    const b = await channel.send(notification(slackDestination()), never);
    assert.equal(b.outcome, 'delivered');
  });

  test('missing token → permanent with a clear error, no call', async () => {
    const noToken = new PerDestination({ ...env, slackBotToken: null });
    const start = api.calls.length;
    const r = await noToken.send(notification(slackDestination()), never);
    assert.equal(r.outcome, 'permanent');
    assert.match(r.outcome === 'permanent' ? r.error : '', /SLACK_BOT_TOKEN/);
    assert.equal(api.calls.length, start);
  });

  test('a hanging API → retry after the timeout; the token is not in the result', async () => {
    api.reply('hang');
    const t0 = Date.now();
    const r = await channel.send(notification(slackDestination({ delivery: { timeoutMs: 300 } })), never);
    const took = Date.now() - t0;
    assert.equal(r.outcome, 'retry');
    assert.equal(r.code, 'timeout');
    assert.ok(took >= 250 && took < 2_000, `took ${took} ms`);
    assert.doesNotMatch(JSON.stringify(r), /xoxb/);
  });

  test('the AbortSignal aborting a call in flight resolves promptly', async () => {
    api.reply('hang');
    const start = api.calls.length;
    const ctl = new AbortController();
    const pending = channel.send(notification(slackDestination({ delivery: { timeoutMs: 30_000 } })), ctl.signal);
    await api.waitFor(start + 1);
    const t0 = Date.now();
    ctl.abort();
    const r = await pending;
    assert.ok(Date.now() - t0 < 1_000);
    assert.equal(r.outcome, 'retry');
    assert.equal(r.code, 'aborted');
  });

  test('the registry hands out one channel per destination, a new one when its settings change', async () => {
    const channels = new ChannelRegistry(env);
    const a = channels.lease(slackDestination());
    const again = channels.lease(slackDestination());
    const other = channels.lease(slackDestination({ name: 'other', channel: '#x' }));
    assert.equal(a.channel, again.channel);
    assert.notEqual(a.channel, other.channel);
    const changed = channels.lease(slackDestination({ channel: '#elsewhere' }));
    assert.notEqual(changed.channel, a.channel);
    const start = api.calls.length;
    assert.equal((await a.channel.send(notification(slackDestination()).payload, never)).outcome, 'delivered');
    await api.waitFor(start + 1);
    for (const l of [a, again, other, changed]) l.release();
    await channels.close();
  });
});

describe('slack channel, incoming webhook mode', () => {
  let hook: FakeSlackWebhook;
  const channel = new PerDestination({ slackBotToken: null, slackApiUrl: null, smtpUrl: null });

  before(async () => {
    hook = await startFakeSlackWebhook();
  });
  after(async () => {
    await channel.close();
    await hook.close();
  });

  test('ok: POSTs JSON text and blocks', async () => {
    const start = hook.requests.length;
    const r = await channel.send(notification(slackDestination({ webhookUrl: hook.webhookUrl }), { message: 'hello *team*' }), never);
    assert.equal(r.outcome, 'delivered');
    assert.equal(r.code, '200');
    const [req] = (await hook.waitFor(start + 1)).slice(start);
    assert.ok(req);
    assert.equal(req.method, 'POST');
    assert.match(String(req.headers['content-type']), /application\/json/);
    const body = req.json<{ text: string; blocks: Block[] }>();
    assert.equal(body.text, 'hello *team*');
    assert.equal(body.blocks[0]?.text?.text, 'hello *team*');
  });

  test('404 no_service → permanent, and the URL (a credential) is not in the error', async () => {
    hook.reply(404);
    const r = await channel.send(notification(slackDestination({ webhookUrl: hook.webhookUrl })), never);
    assert.equal(r.outcome, 'permanent');
    assert.equal(r.code, '404');
    assert.match(r.outcome === 'permanent' ? r.error : '', /no_service/);
    assert.doesNotMatch(JSON.stringify(r), /XXXXXXXX|services/);
  });

  test('429 with Retry-After → retry honouring it; 503 too; 500 → retry; 410 → permanent', async () => {
    hook.reply(
      { status: 429, headers: { 'retry-after': '12' }, body: 'rate_limited' },
      { status: 503, headers: { 'retry-after': '3' }, body: 'unavailable' },
      500,
      410,
    );
    const dest = slackDestination({ webhookUrl: hook.webhookUrl });
    const a = await channel.send(notification(dest), never);
    assert.equal(a.outcome === 'retry' ? a.retryAfterMs : null, 12_000);
    const b = await channel.send(notification(dest), never);
    assert.equal(b.outcome === 'retry' ? b.retryAfterMs : null, 3_000);
    const c = await channel.send(notification(dest), never);
    assert.equal(c.outcome, 'retry');
    const d = await channel.send(notification(dest), never);
    assert.equal(d.outcome, 'permanent');
    assert.match(d.outcome === 'permanent' ? d.error : '', /channel_is_archived/);
  });
});

describe('slack message layout', () => {
  test('test messages are marked; missing fields are omitted; long text is clipped', () => {
    const dest = slackDestination();
    const bare = notification(dest, { event: { type: 'execution.failed' }, message: 'x'.repeat(5000), test: true });
    const m = bare.payload as SlackPayload;
    assert.match(m.text, /^:test_tube: \*Test message from b3os-router\*\n/);
    const section = m.blocks[0];
    assert.ok(section && section.type === 'section' && section.text);
    assert.ok(section.text.text.length <= 3000);
    const fields = m.blocks.find((b) => b.type === 'section' && b.fields);
    assert.deepEqual(fields && 'fields' in fields ? fields.fields?.map((f) => f.text) : null, ['*Status*\nexecution.failed']);
    assert.equal(
      m.blocks.some((b) => b.type === 'section' && b.text?.text.includes('<http')),
      false,
    );
  });

  test('event values are escaped for mrkdwn; non-http links are ignored', () => {
    const n = notification(slackDestination(), {
      event: sampleEvent({ data: { workflowName: '<!channel> & co', runId: 'r1', url: 'javascript:alert(1)' } }),
    });
    const m = n.payload as SlackPayload;
    const fields = m.blocks.find((b) => b.type === 'section' && b.fields);
    const texts = fields && 'fields' in fields ? (fields.fields ?? []).map((f) => f.text) : [];
    assert.equal(texts[0], '*Workflow*\n&lt;!channel&gt; &amp; co');
    assert.equal(
      m.blocks.some((b) => b.type === 'section' && b.text?.text.includes('javascript')),
      false,
    );
  });
});
