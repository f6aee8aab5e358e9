// The webhook channel against a real local HTTP receiver.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { getEventListeners, setMaxListeners } from 'node:events';
import { createHmac } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { deadline } from '../src/delivery/channels/deadline.js';
import { waitFor } from './helpers/cli.js';
import { parseRetryAfter } from '../src/delivery/channels/http.js';
import { SIGNATURE_HEADER, signatureHeaders } from '../src/delivery/channels/signing.js';
import { sign, verify } from '../src/ingest/signature.js';
import { DEFAULT_SERVER } from '../src/config/defaults.js';
import { PerDestination, notification, startHttpReceiver, testTemplate, webhookDestination, type HttpReceiver } from './helpers/receivers.js';

const never = new AbortController().signal;

test("loading the webhook channel leaves Node's own fetch (the Slack channel's) on its own dispatcher", () => {
  // undici's index installs its Agent as the global dispatcher that Node's fetch also reads.
  const channel = new URL('../src/delivery/channels/webhook.js', import.meta.url).href;
  const script = `await import(${JSON.stringify(channel)}); console.log(globalThis[Symbol.for('undici.globalDispatcher.1')] === undefined ? 'untouched' : 'replaced');`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(out.trim(), 'untouched');
});

test('a pending deadline keeps no process alive: a send with a 60 s timeout, then close, and the process exits', () => {
  const helpers = new URL('./helpers/receivers.js', import.meta.url).href;
  const script = `
    const { PerDestination, notification, startHttpReceiver, webhookDestination } = await import(${JSON.stringify(helpers)});
    const rx = await startHttpReceiver();
    rx.reply('hang');
    const channel = new PerDestination();
    const signal = new AbortController().signal;
    const cut = await channel.send(notification(webhookDestination({ name: 'cut', url: rx.url + '/hang', delivery: { timeoutMs: 200 } })), signal);
    const sent = await channel.send(notification(webhookDestination({ url: rx.url + '/ok', delivery: { timeoutMs: 60000 } })), signal);
    await channel.close();
    await rx.close();
    console.log(cut.code, sent.outcome);`;
  const t0 = Date.now();
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(out.trim(), 'timeout delivered');
  assert.ok(Date.now() - t0 < 20_000, `exited after ${Date.now() - t0} ms`);
});

describe('webhook channel', () => {
  let rx: HttpReceiver;
  const channel = new PerDestination();

  before(async () => {
    rx = await startHttpReceiver();
  });
  after(async () => {
    await channel.close();
    await rx.close();
  });

  test('default body splices the original event byte for byte', async () => {
    // Odd spacing, key order, unicode and a big number: all must survive untouched.
    const raw = '{ "type":"run.succeeded",  "id":"evt_1", "amount": 12345678901234567890, "name":"Zoë \\u00e9", "data":{"runId":"r1"} }';
    const dest = webhookDestination({ url: `${rx.url}/hooks/a`, name: 'billing-sync' });
    const before = rx.requests.length;
    const result = await channel.send(notification(dest, { rawEvent: raw, rule: 'sync-billing' }), never);
    assert.deepEqual(result, { outcome: 'delivered', code: '200' });
    const [req] = (await rx.waitFor(before + 1)).slice(before);
    assert.ok(req);
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/hooks/a');
    assert.equal(req.text, `{"rule": "sync-billing", "destination": "billing-sync", "event": ${raw}}`);
    const parsed = req.json<{ rule: string; destination: string; event: unknown }>();
    assert.equal(parsed.rule, 'sync-billing');
    assert.equal(parsed.destination, 'billing-sync');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['user-agent'], 'b3os-router');
  });

  test('a 2xx whose body never ends: delivered, and the connection is not left open', async () => {
    const dest = webhookDestination({ url: `${rx.url}/trickle` });
    const gone = rx.disconnects;
    rx.reply({ status: 200, body: 'partial', hangBody: true });
    const result = await channel.send(notification(dest), never);
    assert.equal(result.outcome, 'delivered');
    await rx.waitForDisconnects(gone + 1);
  });

  test('a header value outside Latin-1 is a permanent failure, not a retry', async () => {
    const dest = webhookDestination({ url: `${rx.url}/h`, headers: { 'X-Note': 'snowman \u2603' } });
    const result = await channel.send(notification(dest), never);
    assert.equal(result.outcome, 'permanent');
  });

  test('Idempotency-Key equals the delivery id on every attempt; attempt header counts', async () => {
    const dest = webhookDestination({ url: `${rx.url}/idem` });
    const start = rx.requests.length;
    rx.reply(500);
    const first = await channel.send(notification(dest, { deliveryId: 'dlv_abc', attempt: 1 }), never);
    assert.equal(first.outcome, 'retry');
    const second = await channel.send(notification(dest, { deliveryId: 'dlv_abc', attempt: 2 }), never);
    assert.equal(second.outcome, 'delivered');
    const reqs = (await rx.waitFor(start + 2)).slice(start);
    assert.deepEqual(
      reqs.map((r) => r.headers['idempotency-key']),
      ['dlv_abc', 'dlv_abc'],
    );
    assert.deepEqual(
      reqs.map((r) => r.headers['x-b3os-router-delivery']),
      ['dlv_abc', 'dlv_abc'],
    );
    assert.deepEqual(
      reqs.map((r) => r.headers['x-b3os-router-attempt']),
      ['1', '2'],
    );
    assert.equal(reqs[0]?.text, reqs[1]?.text);
  });

  test('signature verifies with the inbound HMAC scheme; extra headers, method and body template', async () => {
    const secret = 's3cr3t-billing';
    const dest = webhookDestination({
      url: `${rx.url}/signed`,
      secret,
      method: 'PUT',
      headers: { 'X-Tenant': 'acme', 'Idempotency-Key': 'cannot-override' },
      body: testTemplate('{"run": "{{data.runId}}", "kind": "{{type}}"}'),
    });
    const start = rx.requests.length;
    const result = await channel.send(notification(dest, { deliveryId: 'dlv_sig' }), never);
    assert.equal(result.outcome, 'delivered');
    const [req] = (await rx.waitFor(start + 1)).slice(start);
    assert.ok(req);
    assert.equal(req.method, 'PUT');
    assert.equal(req.text, '{"run": "run_42", "kind": "run.failed"}');
    assert.equal(req.headers['x-tenant'], 'acme');
    assert.equal(req.headers['idempotency-key'], 'dlv_sig');
    const header = String(req.headers['x-b3os-router-signature']);
    const expected = 'sha256=' + createHmac('sha256', secret).update(req.body).digest('hex');
    assert.equal(header, expected);
    // ... and the inbound verifier accepts it, configured for the outbound header name.
    const settings = { ...DEFAULT_SERVER.signature, header: 'x-b3os-router-signature' };
    assert.deepEqual(verify(settings, [secret], { 'x-b3os-router-signature': header }, req.body, Date.now()), { ok: true });
    assert.deepEqual(verify(settings, ['wrong'], { 'x-b3os-router-signature': header }, req.body, Date.now()).ok, false);
  });

  test("the b3os signature is sign()'s, byte for byte, for bodies with non-ASCII text (as a string or as bytes)", () => {
    const bodies = ['{}', '{"name":"Zoë \u00e9 ✓ 𝄞"}', 'x'.repeat(5000), ''];
    for (const body of bodies) {
      for (const secret of ['s3cr3t', 'ünïcode-sécret']) {
        const want = sign(secret, Buffer.from(body, 'utf8'), { header: SIGNATURE_HEADER });
        assert.deepEqual(signatureHeaders('b3os', secret, 'dlv_1', 1_700_000_000, body), want);
        assert.deepEqual(signatureHeaders('b3os', secret, 'dlv_1', 1_700_000_000, Buffer.from(body, 'utf8')), want);
      }
    }
  });

  test('no signature header without a secret', async () => {
    const start = rx.requests.length;
    await channel.send(notification(webhookDestination({ url: `${rx.url}/plain` })), never);
    const [req] = (await rx.waitFor(start + 1)).slice(start);
    assert.equal(req?.headers['x-b3os-router-signature'], undefined);
  });

  test('500 → retry, 503 with Retry-After → retry honouring it', async () => {
    const dest = webhookDestination({ url: `${rx.url}/err` });
    rx.reply(500, { status: 503, headers: { 'retry-after': '7' }, body: 'maintenance' });
    const a = await channel.send(notification(dest), never);
    assert.equal(a.outcome, 'retry');
    assert.equal(a.code, '500');
    assert.equal('retryAfterMs' in a ? a.retryAfterMs : 'absent', 'absent');
    const b = await channel.send(notification(dest), never);
    assert.equal(b.outcome, 'retry');
    assert.equal(b.code, '503');
    assert.equal(b.outcome === 'retry' ? b.retryAfterMs : null, 7000);
    assert.match(b.outcome === 'retry' ? b.error : '', /503: maintenance/);
  });

  test('400 → permanent, with a bounded snippet of the body', async () => {
    rx.reply({ status: 400, body: 'bad field: ' + 'x'.repeat(10_000) });
    const r = await channel.send(notification(webhookDestination({ url: `${rx.url}/bad` })), never);
    assert.equal(r.outcome, 'permanent');
    assert.equal(r.code, '400');
    assert.ok(r.outcome === 'permanent' && r.error.length < 400, 'error is short');
    assert.match(r.outcome === 'permanent' ? r.error : '', /bad field/);
  });

  test('408 and 429 are retried; 404 and 410 are permanent', async () => {
    const dest = webhookDestination({ url: `${rx.url}/codes` });
    rx.reply(408, 429, 404, 410);
    const outcomes = [];
    for (let i = 0; i < 4; i++) outcomes.push((await channel.send(notification(dest), never)).outcome);
    assert.deepEqual(outcomes, ['retry', 'retry', 'permanent', 'permanent']);
  });

  test('429 Retry-After in seconds and as an HTTP-date → retryAfterMs', async () => {
    const dest = webhookDestination({ url: `${rx.url}/limited` });
    rx.reply({ status: 429, headers: { 'retry-after': '120' } });
    const a = await channel.send(notification(dest), never);
    assert.equal(a.outcome === 'retry' ? a.retryAfterMs : null, 120_000);

    const when = new Date(Date.now() + 90_000);
    rx.reply({ status: 429, headers: { 'retry-after': when.toUTCString() } });
    const b = await channel.send(notification(dest), never);
    assert.equal(b.outcome, 'retry');
    const ms = b.outcome === 'retry' ? (b.retryAfterMs ?? -1) : -1;
    // HTTP-dates have whole seconds: within (89 s, 90 s].
    assert.ok(ms > 88_000 && ms <= 90_000, `retryAfterMs ${ms}`);
  });

  test('a hanging receiver → retry after the timeout, within a bound', async () => {
    const dest = webhookDestination({ url: `${rx.url}/hang`, delivery: { timeoutMs: 300 } });
    rx.reply('hang');
    const disconnects = rx.disconnects;
    const t0 = Date.now();
    const r = await channel.send(notification(dest), never);
    const took = Date.now() - t0;
    assert.equal(r.outcome, 'retry');
    assert.equal(r.code, 'timeout');
    assert.match(r.outcome === 'retry' ? r.error : '', /300 ms/);
    assert.ok(took >= 250 && took < 2_000, `took ${took} ms`);
    await rx.waitForDisconnects(disconnects + 1);
  });

  test('headers sent but body hanging on an error status → still bounded by the timeout', async () => {
    const dest = webhookDestination({ url: `${rx.url}/hangbody`, delivery: { timeoutMs: 300 } });
    rx.reply({ status: 502, body: 'partial', hangBody: true });
    const t0 = Date.now();
    const r = await channel.send(notification(dest), never);
    assert.equal(r.outcome, 'retry');
    assert.equal(r.code, '502');
    assert.ok(Date.now() - t0 < 2_000);
  });

  test('a 302 → permanent, and the redirect is not followed', async () => {
    const target = await startHttpReceiver();
    try {
      rx.reply({ status: 302, headers: { location: `${target.url}/elsewhere?token=hunter2` } });
      const r = await channel.send(notification(webhookDestination({ url: `${rx.url}/moved` })), never);
      assert.equal(r.outcome, 'permanent');
      assert.equal(r.code, '302');
      const error = r.outcome === 'permanent' ? r.error : '';
      assert.match(error, /redirect/i);
      assert.match(error, /not followed/);
      assert.doesNotMatch(error, /hunter2/, 'query strings are not echoed');
      assert.equal(target.requests.length, 0);
    } finally {
      await target.close();
    }
  });

  test('the AbortSignal aborting a send in flight resolves promptly', async () => {
    const dest = webhookDestination({ url: `${rx.url}/abort`, delivery: { timeoutMs: 30_000 } });
    rx.reply('hang');
    const start = rx.requests.length;
    const ctl = new AbortController();
    const pending = channel.send(notification(dest), ctl.signal);
    await rx.waitFor(start + 1);
    const t0 = Date.now();
    ctl.abort();
    const r = await pending;
    assert.ok(Date.now() - t0 < 1_000, 'resolved promptly');
    assert.equal(r.outcome, 'retry');
    assert.equal(r.code, 'aborted');
  });

  test("a deadline past setTimeout's range (24.8 days) does not fire early, and arms no overflowing timer", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    const far = deadline(undefined, 30 * 24 * 3600_000);
    const near = deadline(undefined, 100);
    try {
      await waitFor(() => near.aborted, { timeoutMs: 2_000, what: 'the near deadline' });
      assert.equal(far.aborted, false);
      assert.deepEqual(
        warnings.filter((w) => w === 'TimeoutOverflowWarning'),
        [],
      );
    } finally {
      far.dispose();
      near.dispose();
      process.off('warning', onWarning);
    }
  });

  test('sends share one deadline scheduler: a shorter timeout after a longer one fires on time, only it is cut', async () => {
    rx.setDefault((req) => (req.path.startsWith('/share-hang') ? 'hang' : 200));
    try {
      const long = new AbortController();
      let longDone = false;
      const start = rx.requests.length;
      const longSend = channel
        .send(notification(webhookDestination({ name: 'share-long', url: `${rx.url}/share-hang/long`, delivery: { timeoutMs: 30_000 } })), long.signal)
        .finally(() => (longDone = true));
      await rx.waitFor(start + 1); // the 30 s send is in flight, its deadline queued first
      const t0 = Date.now();
      const short = channel.send(
        notification(webhookDestination({ name: 'share-short', url: `${rx.url}/share-hang/short`, delivery: { timeoutMs: 300 } })),
        never,
      );
      const fast = await Promise.all(
        Array.from({ length: 5 }, () =>
          channel.send(notification(webhookDestination({ name: 'share-fast', url: `${rx.url}/share-ok`, delivery: { timeoutMs: 300 } })), never),
        ),
      );
      assert.deepEqual(
        fast.map((r) => r.outcome),
        Array(5).fill('delivered'),
      );
      const r = await short;
      const took = Date.now() - t0;
      assert.equal(r.code, 'timeout');
      assert.match(r.outcome === 'retry' ? r.error : '', /did not answer within 300 ms/);
      assert.ok(took >= 250 && took < 2_000, `took ${took} ms`);
      assert.equal(longDone, false, 'the 30 s send is not cut by the 300 ms deadline');
      long.abort();
      assert.equal((await longSend).code, 'aborted');
    } finally {
      rx.setDefault(200);
    }
  });

  test("the caller's signal carries one listener while its sends are in flight, none after; its abort cuts them all", async () => {
    const ctl = new AbortController();
    setMaxListeners(0, ctl.signal);
    const dest = webhookDestination({ name: 'listeners', url: `${rx.url}/listeners`, delivery: { timeoutMs: 30_000, concurrency: 4 } });
    rx.setDefault({ status: 200, delayMs: 100 });
    try {
      const sends = Array.from({ length: 4 }, () => channel.send(notification(dest), ctl.signal));
      const during = getEventListeners(ctl.signal, 'abort').length;
      assert.deepEqual(
        (await Promise.all(sends)).map((r) => r.outcome),
        Array(4).fill('delivered'),
      );
      assert.equal(during, 1, `${during} listeners while 4 sends were in flight`);
      assert.equal(getEventListeners(ctl.signal, 'abort').length, 0);

      rx.setDefault('hang');
      const start = rx.requests.length;
      const hung = Array.from({ length: 3 }, () => channel.send(notification(dest), ctl.signal));
      await rx.waitFor(start + 3);
      const t0 = Date.now();
      ctl.abort();
      const cut = await Promise.all(hung);
      assert.ok(Date.now() - t0 < 1_000, 'resolved promptly');
      assert.deepEqual(
        cut.map((r) => r.code),
        Array(3).fill('aborted'),
      );
      assert.equal(getEventListeners(ctl.signal, 'abort').length, 0);
    } finally {
      rx.setDefault(200);
    }
  });

  test('an already aborted signal sends nothing', async () => {
    const ctl = new AbortController();
    ctl.abort();
    const start = rx.requests.length;
    const r = await channel.send(notification(webhookDestination({ url: `${rx.url}/pre` })), ctl.signal);
    assert.equal(r.outcome, 'retry');
    assert.equal(rx.requests.length, start);
  });

  test('a receiver that is down → retry with the network error', async () => {
    const down = await startHttpReceiver();
    const url = `${down.url}/gone`;
    await down.close();
    const r = await channel.send(notification(webhookDestination({ url })), never);
    assert.equal(r.outcome, 'retry');
    assert.equal(r.code, 'ECONNREFUSED');
  });

  test('a reset connection → retry', async () => {
    rx.reply('reset');
    const r = await channel.send(notification(webhookDestination({ url: `${rx.url}/reset` })), never);
    assert.equal(r.outcome, 'retry');
  });

  test('a connection closed before the answer → retry coded ECONNRESET (as node:http named it)', async () => {
    rx.reply('reset');
    const r = await channel.send(notification(webhookDestination({ url: `${rx.url}/closed` })), never);
    assert.equal(r.outcome, 'retry');
    assert.equal(r.code, 'ECONNRESET');
    assert.doesNotMatch(r.outcome === 'retry' ? r.error : '', /127\.0\.0\.1|\/closed/, 'no URL in the error');
  });

  test('credentials in the URL are sent as Basic auth; a destination Authorization header wins', async () => {
    const url = `http://bench%40acme:p%3Ass@127.0.0.1:${rx.port}/auth`;
    const start = rx.requests.length;
    assert.equal((await channel.send(notification(webhookDestination({ url })), never)).outcome, 'delivered');
    const own = webhookDestination({ url, headers: { Authorization: 'Bearer own-token' } });
    assert.equal((await channel.send(notification(own), never)).outcome, 'delivered');
    const reqs = (await rx.waitFor(start + 2)).slice(start);
    assert.deepEqual(
      reqs.map((r) => r.headers.authorization),
      [`Basic ${Buffer.from('bench@acme:p:ss').toString('base64')}`, 'Bearer own-token'],
    );
    assert.equal(reqs[0]?.path, '/auth');
  });

  test('a broken %-escape in the URL credentials is permanent (it will not mend on retry), nothing sent', async () => {
    const start = rx.requests.length;
    const r = await channel.send(notification(webhookDestination({ url: `http://user:p%zz@127.0.0.1:${rx.port}/bad-auth` })), never);
    assert.equal(r.outcome, 'permanent');
    assert.match((r as { error: string }).error, /invalid URL/);
    assert.ok(!(r as { error: string }).error.includes('p%zz'));
    assert.equal(rx.requests.length, start);
  });

  test('a Content-Length header of the destination is replaced by the body length', async () => {
    const start = rx.requests.length;
    const dest = webhookDestination({ url: `${rx.url}/length`, headers: { 'Content-Length': '3' } });
    assert.equal((await channel.send(notification(dest), never)).outcome, 'delivered');
    const [req] = (await rx.waitFor(start + 1)).slice(start);
    assert.equal(req?.headers['content-length'], String(req?.body.length));
    assert.ok((req?.body.length ?? 0) > 3);
  });

  test('a framing header (Transfer-Encoding) is refused before sending, as permanent', async () => {
    const start = rx.requests.length;
    const dest = webhookDestination({ url: `${rx.url}/te`, headers: { 'Transfer-Encoding': 'chunked' } });
    const r = await channel.send(notification(dest), never);
    assert.equal(r.outcome, 'permanent');
    assert.match(r.outcome === 'permanent' ? r.error : '', /transfer-encoding/);
    assert.equal(rx.requests.length, start);
  });

  test("at most the destination's concurrency of connections, reused across sends", async () => {
    const own = await startHttpReceiver({ defaultReply: { status: 200, headers: { 'content-length': '2' }, body: 'ok', delayMs: 100 } });
    const pooled = new PerDestination();
    try {
      const dest = webhookDestination({ url: `${own.url}/pool`, delivery: { concurrency: 2 } });
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => pooled.send(notification(dest, { deliveryId: `dlv_pool_${i}` }), never)));
      assert.deepEqual(
        results.map((r) => r.outcome),
        Array(6).fill('delivered'),
      );
      assert.equal(own.requests.length, 6);
      assert.equal(own.openConnections(), 2, 'two kept-alive connections carried all six');
    } finally {
      await pooled.close();
      await own.close();
    }
  });

  test('the secret never appears in results', async () => {
    rx.reply(500);
    const r = await channel.send(notification(webhookDestination({ url: `${rx.url}/secret`, secret: 'TOPSECRET-VALUE' })), never);
    assert.doesNotMatch(JSON.stringify(r), /TOPSECRET-VALUE/);
  });
});

describe('parseRetryAfter', () => {
  test('seconds, dates, garbage', () => {
    const now = Date.parse('2024-05-01T12:00:00Z');
    assert.equal(parseRetryAfter('0', now), 0);
    assert.equal(parseRetryAfter(' 30 ', now), 30_000);
    assert.equal(parseRetryAfter('Wed, 01 May 2024 12:01:00 GMT', now), 60_000);
    assert.equal(parseRetryAfter('Wed, 01 May 2024 11:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter('', now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });
});

// Answers the shared receiver cannot give: informational responses, repeated headers, a stalled
// body after a length, and an error body far past the snippet.
describe('webhook channel, raw answers', () => {
  let server: Server;
  let url = '';
  const sockets = new Set<Socket>();
  let closedSockets = 0;
  const channel = new PerDestination();
  const routes = new Map<string, (res: ServerResponse) => void>([
    [
      '/early-hints',
      (res) => {
        res.writeEarlyHints({ link: '</style.css>; rel=preload' });
        res.writeHead(202, { 'content-length': '2' }).end('ok');
      },
    ],
    [
      '/early-hints-503',
      (res) => {
        res.writeEarlyHints({ link: '</style.css>; rel=preload' });
        res.writeHead(503, [
          ['Retry-After', '7'],
          ['Retry-After', '99'],
        ]);
        res.end('busy');
      },
    ],
    [
      '/stalled-length',
      (res) => {
        res.writeHead(200, { 'content-length': '100' });
        res.write('0123456789');
      },
    ],
    [
      '/big-error',
      (res) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.write(`first line\n${'y'.repeat(64 * 1024)}`);
        // and never ends: the snippet is taken and the connection cut
      },
    ],
  ]);

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => routes.get(req.url ?? '')?.(res));
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => {
        sockets.delete(s);
        closedSockets++;
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await channel.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('an informational 103 before the answer is passed over; the first of repeated Retry-After headers counts', async () => {
    const ok = await channel.send(notification(webhookDestination({ name: 'raw-103', url: `${url}/early-hints` })), never);
    assert.deepEqual(ok, { outcome: 'delivered', code: '202' });
    const busy = await channel.send(notification(webhookDestination({ name: 'raw-103', url: `${url}/early-hints-503` })), never);
    assert.deepEqual(busy, { outcome: 'retry', code: '503', error: 'webhook raw-103 answered 503: busy', retryAfterMs: 7_000 });
  });

  test('a success whose announced body stalls is delivered when the deadline cuts it', async () => {
    const t0 = Date.now();
    const r = await channel.send(notification(webhookDestination({ name: 'raw-stall', url: `${url}/stalled-length`, delivery: { timeoutMs: 300 } })), never);
    const took = Date.now() - t0;
    assert.deepEqual(r, { outcome: 'delivered', code: '200' });
    assert.ok(took >= 250 && took < 2_000, `took ${took} ms`);
  });

  test('an error body that never ends: its first line in the message, at once, and the connection closed', async () => {
    const closed = closedSockets;
    const t0 = Date.now();
    const r = await channel.send(notification(webhookDestination({ name: 'raw-big', url: `${url}/big-error`, delivery: { timeoutMs: 30_000 } })), never);
    assert.ok(Date.now() - t0 < 2_000, 'not held until the deadline');
    assert.equal(r.outcome, 'retry');
    assert.equal(r.code, '500');
    const error = r.outcome === 'retry' ? r.error : '';
    assert.match(error, /^webhook raw-big answered 500: first line y+…$/);
    assert.ok(error.length < 400, `error is ${error.length} characters`);
    await waitFor(() => closedSockets > closed, { timeoutMs: 5_000, what: 'the connection closed' });
  });
});
