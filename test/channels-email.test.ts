// The email channel against a real SMTP server (the smtp-server package).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PerDestination, emailDestination, notification, sampleEvent, startSmtpServer, testTemplate, type FakeSmtpServer } from './helpers/receivers.js';

const never = new AbortController().signal;

describe('email channel', () => {
  let smtp: FakeSmtpServer;
  let channel: PerDestination;

  before(async () => {
    smtp = await startSmtpServer();
    channel = new PerDestination({ slackBotToken: null, slackApiUrl: null, smtpUrl: smtp.url });
  });
  after(async () => {
    await channel.close();
    await smtp.close();
  });

  test('delivered: subject, text and html recorded by the SMTP server', async () => {
    const dest = emailDestination({
      to: ['oncall@example.com', 'ops@example.com'],
      from: 'b3os-router@example.com',
      subject: testTemplate('B3OS {{type}}: {{data.workflowName}} — ünïcode'),
    });
    const n = notification(dest, {
      message: (e) => (e === 'html' ? 'Payroll run <b>run_42</b> failed: a &lt; b' : e === 'none' ? 'Payroll run run_42 failed: a < b' : 'wrong'),
    });
    const start = smtp.messages.length;
    const r = await channel.send(n, never);
    assert.equal(r.outcome, 'delivered');
    assert.equal(r.code, '250');
    const [m] = (await smtp.waitFor(start + 1)).slice(start);
    assert.ok(m);
    assert.equal(m.from, 'b3os-router@example.com');
    assert.deepEqual(m.to, ['oncall@example.com', 'ops@example.com']);
    assert.equal(m.subject, 'B3OS run.failed: Payroll — ünïcode');
    assert.equal(m.text?.trim(), 'Payroll run run_42 failed: a < b');
    assert.ok(m.html, 'has an HTML part');
    assert.match(m.html, /^<!DOCTYPE html>/);
    assert.match(m.html, /<p>Payroll run <b>run_42<\/b> failed: a &lt; b<\/p>/);
    assert.match(m.html, /<title>B3OS run.failed: Payroll — ünïcode<\/title>/);
    assert.equal(m.headers['x-b3os-router-delivery'], 'dlv_test_0001');
  });

  test('no subject template → default `B3OS <type>: <workflow>`; test messages are marked', async () => {
    const start = smtp.messages.length;
    await channel.send(notification(emailDestination()), never);
    await channel.send(notification(emailDestination(), { event: sampleEvent({ type: 'run.succeeded' }), test: true }), never);
    const [a, b] = (await smtp.waitFor(start + 2)).slice(start);
    assert.equal(a?.subject, 'B3OS run.failed: Payroll');
    assert.equal(b?.subject, '[TEST b3os-router] B3OS run.succeeded: Payroll');
    assert.match(b?.text ?? '', /test message from b3os-router/);
  });

  test('transports are pooled: several sends reuse connections', async () => {
    const conns = smtp.connections;
    const start = smtp.messages.length;
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => channel.send(notification(emailDestination(), { deliveryId: `d${i}` }), never)));
    assert.deepEqual(
      results.map((r) => r.outcome),
      Array(6).fill('delivered'),
    );
    await smtp.waitFor(start + 6);
    assert.ok(smtp.connections - conns <= 5, `opened ${smtp.connections - conns} connections for 6 messages`);
  });

  test('SMTP 4xx on RCPT → retry', async () => {
    smtp.failNext('rcpt', 450, 'Mailbox busy');
    const r = await channel.send(notification(emailDestination({ to: ['busy@example.com'] })), never);
    assert.equal(r.outcome, 'retry');
    assert.equal(r.code, '450');
    assert.match(r.outcome === 'retry' ? r.error : '', /Mailbox busy/);
  });

  test('SMTP 4xx on DATA → retry', async () => {
    smtp.failNext('data', 451, 'Local error in processing');
    const r = await channel.send(notification(emailDestination()), never);
    assert.equal(r.outcome, 'retry');
    assert.equal(r.code, '451');
  });

  test('SMTP 5xx on RCPT → permanent', async () => {
    smtp.failNext('rcpt', 550, 'No such user');
    const r = await channel.send(notification(emailDestination({ to: ['nobody@example.com'] })), never);
    assert.equal(r.outcome, 'permanent');
    assert.equal(r.code, '550');
    assert.match(r.outcome === 'permanent' ? r.error : '', /No such user/);
  });

  test('SMTP 5xx on DATA → permanent', async () => {
    smtp.failNext('data', 554, 'Message rejected as spam');
    const r = await channel.send(notification(emailDestination()), never);
    assert.equal(r.outcome, 'permanent');
    assert.equal(r.code, '554');
  });

  test('the channel works again after failures (pooled connections recover)', async () => {
    const start = smtp.messages.length;
    const r = await channel.send(notification(emailDestination()), never);
    assert.equal(r.outcome, 'delivered');
    await smtp.waitFor(start + 1);
  });

  test('a server that never answers DATA → retry after the timeout, within a bound', async () => {
    const own = await startSmtpServer();
    const ch = new PerDestination({ slackBotToken: null, slackApiUrl: null, smtpUrl: own.url });
    try {
      own.hangNext('data');
      const t0 = Date.now();
      const r = await ch.send(notification(emailDestination({ delivery: { timeoutMs: 300 } })), never);
      const took = Date.now() - t0;
      assert.equal(r.outcome, 'retry');
      assert.equal(r.code, 'timeout');
      assert.ok(took >= 250 && took < 2_000, `took ${took} ms`);
    } finally {
      await ch.close();
      await own.close();
    }
  });

  test('the AbortSignal aborting a send in flight resolves promptly', async () => {
    const own = await startSmtpServer();
    const ch = new PerDestination({ slackBotToken: null, slackApiUrl: null, smtpUrl: own.url });
    try {
      own.hangNext('data');
      const ctl = new AbortController();
      const pending = ch.send(notification(emailDestination({ delivery: { timeoutMs: 30_000 } })), ctl.signal);
      await own.waitUntil(() => own.hung >= 1, 5_000, 'the DATA command to hang');
      const t0 = Date.now();
      ctl.abort();
      const r = await pending;
      assert.ok(Date.now() - t0 < 1_000);
      assert.equal(r.outcome, 'retry');
      assert.equal(r.code, 'aborted');
    } finally {
      await ch.close();
      await own.close();
    }
  });

  test('a server that is down → retry', async () => {
    const own = await startSmtpServer();
    const url = own.url;
    await own.close();
    const ch = new PerDestination({ slackBotToken: null, slackApiUrl: null, smtpUrl: url });
    try {
      const r = await ch.send(notification(emailDestination({ delivery: { timeoutMs: 2_000 } })), never);
      assert.equal(r.outcome, 'retry');
    } finally {
      await ch.close();
    }
  });

  test('missing or unusable SMTP URL → permanent with a clear message', async () => {
    const channels = new PerDestination({ slackBotToken: null, slackApiUrl: null, smtpUrl: null });
    try {
      const r = await channels.send(notification(emailDestination()), never);
      assert.equal(r.outcome, 'permanent');
      assert.match(r.outcome === 'permanent' ? r.error : '', /SMTP_URL/);
      const odd = await channels.send(notification(emailDestination({ smtpUrl: 'http://mail' })), never);
      assert.equal(odd.outcome, 'permanent');
    } finally {
      await channels.close();
    }
  });

  test("the destination's smtp_url overrides SMTP_URL; credentials stay out of results", async () => {
    const ch = new PerDestination({ slackBotToken: null, slackApiUrl: null, smtpUrl: 'smtp://127.0.0.1:1' });
    try {
      const start = smtp.messages.length;
      const url = smtp.url.replace('smtp://', 'smtp://alice:pa55word@');
      const r = await ch.send(notification(emailDestination({ smtpUrl: url })), never);
      assert.equal(r.outcome, 'delivered');
      const [m] = (await smtp.waitFor(start + 1)).slice(start);
      assert.equal(m?.user, 'alice');
      smtp.failNext('rcpt', 550, 'nope');
      const bad = await ch.send(notification(emailDestination({ smtpUrl: url })), never);
      assert.doesNotMatch(JSON.stringify(bad), /pa55word/);
    } finally {
      await ch.close();
    }
  });
});
