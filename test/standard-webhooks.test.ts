// Standard Webhooks (contract §11) through the real `serve`: inbound events are signed, and
// outbound requests verified, by the `standardwebhooks` reference library, not by our own code.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { runCli, tempDir, waitFor } from './helpers/cli.js';
import { startHttpReceiver, type RecordedRequest } from './helpers/receivers.js';
import { postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';

const whsec = () => `whsec_${randomBytes(24).toString('base64')}`;
const SECRET = whsec();

const INBOUND_RULES = `version: 1
server:
  signature: { scheme: standard-webhooks, tolerance: 5m }
destinations: {}
rules: []
`;

/** Posts `body` with the three Standard Webhooks headers (each may be overridden or dropped). */
async function post(
  url: string,
  body: string,
  o: { secret?: string; id?: string; at?: Date; headers?: Record<string, string | null> } = {},
): Promise<{ status: number; text: string }> {
  const id = o.id ?? `msg_${randomBytes(6).toString('hex')}`;
  const at = o.at ?? new Date();
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(o.secret ?? SECRET).sign(id, at, body),
  };
  for (const [k, v] of Object.entries(o.headers ?? {})) {
    if (v === null) delete headers[k];
    else headers[k] = v;
  }
  const res = await fetch(`${url}/b3os/hooks`, { method: 'POST', headers, body });
  return { status: res.status, text: await res.text() };
}

describe('Standard Webhooks inbound', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  before(async () => {
    r = await startRouter({ dir: tmp.dir, rules: INBOUND_RULES, env: { B3OS_WEBHOOK_SECRET: SECRET } });
  });
  after(async () => {
    await r.stop();
    tmp.cleanup();
  });

  test('a correctly signed event is accepted (204)', async () => {
    assert.equal((await post(r.url, JSON.stringify({ id: 'evt_sw_1', type: 'run.failed' }))).status, 204);
  });

  test('a wrong secret is 401', async () => {
    const res = await post(r.url, JSON.stringify({ id: 'evt_sw_2', type: 'run.failed' }), { secret: whsec() });
    assert.equal(res.status, 401);
    assert.match(res.text, /signature_mismatch/);
  });

  test('a stale or a future timestamp is 401, either way of the tolerance', async () => {
    const body = JSON.stringify({ id: 'evt_sw_3', type: 'run.failed' });
    const stale = await post(r.url, body, { at: new Date(Date.now() - 6 * 60_000) });
    const future = await post(r.url, body, { at: new Date(Date.now() + 6 * 60_000) });
    assert.deepEqual([stale.status, future.status], [401, 401]);
    assert.match(stale.text + future.text, /timestamp_out_of_tolerance/);
    assert.equal((await post(r.url, body, { at: new Date(Date.now() - 4 * 60_000) })).status, 204, 'inside the window');
  });

  test('a missing header is 401', async () => {
    const body = JSON.stringify({ id: 'evt_sw_4', type: 'run.failed' });
    for (const h of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      assert.equal((await post(r.url, body, { headers: { [h]: null } })).status, 401, `without ${h}`);
    }
    // Our own scheme's header is not a way around it.
    assert.equal((await post(r.url, body, { headers: { 'webhook-signature': null, 'x-b3os-signature': 'sha256=00' } })).status, 401);
  });

  test('several signatures, one of them valid, is accepted', async () => {
    const id = 'msg_multi';
    const at = new Date();
    const body = JSON.stringify({ id: 'evt_sw_5', type: 'run.failed' });
    const good = new Webhook(SECRET).sign(id, at, body);
    const wrong = new Webhook(whsec()).sign(id, at, body);
    const res = await post(r.url, body, { id, at, headers: { 'webhook-signature': `${wrong} v1a,c29tZXRoaW5nIGVsc2U= ${good}` } });
    assert.equal(res.status, 204);
    const onlyWrong = await post(r.url, body, { id, at, headers: { 'webhook-signature': `${wrong} ${wrong}` } });
    assert.equal(onlyWrong.status, 401);
  });

  test('webhook-id is the idempotency key when the body has no id', async () => {
    const body = JSON.stringify({ type: 'run.failed', data: { note: 'no ids at all' } });
    assert.equal((await post(r.url, body, { id: 'msg_dedupe_1' })).status, 204);
    // Resent by the sender with the same id (a fresh timestamp and signature): a duplicate.
    const again = await post(r.url, body, { id: 'msg_dedupe_1' });
    assert.equal(again.status, 200);
    assert.deepEqual(JSON.parse(again.text), { duplicate: true, key: 'id:msg_dedupe_1' });
    // The same body under another message id is another event.
    assert.equal((await post(r.url, body, { id: 'msg_dedupe_2' })).status, 204);
    const rows = readDb(r.dbPath, (db) => db.prepare(`SELECT key, event_id FROM events WHERE key LIKE 'id:msg_dedupe_%' ORDER BY key`).all());
    assert.deepEqual(rows, [
      { key: 'id:msg_dedupe_1', event_id: 'msg_dedupe_1' },
      { key: 'id:msg_dedupe_2', event_id: 'msg_dedupe_2' },
    ]);
  });
});

test('serve refuses to start when the scheme is standard-webhooks and the secret is not whsec_', async () => {
  const tmp = tempDir();
  try {
    const rules = join(tmp.dir, 'rules.yaml');
    writeFileSync(rules, INBOUND_RULES);
    for (const [name, env] of [
      ['B3OS_WEBHOOK_SECRET', { B3OS_WEBHOOK_SECRET: 'change-me-plain' }],
      ['B3OS_WEBHOOK_SECRET_PREVIOUS', { B3OS_WEBHOOK_SECRET: SECRET, B3OS_WEBHOOK_SECRET_PREVIOUS: 'whsec_!!not-base64' }],
    ] as const) {
      const res = await runCli(['serve', '--rules', rules, '--db', join(tmp.dir, 'r.db'), '--port', '0', '--host', '127.0.0.1'], { env, timeoutMs: 15_000 });
      assert.equal(res.code, 1, res.stderr);
      assert.equal(
        res.stderr,
        `b3os-router serve: not starting: server.signature.scheme is standard-webhooks, but ${name} is not a Standard Webhooks secret: write it as whsec_ followed by the base64 key (at least 16 bytes), as the sender or receiver shows it\n`,
      );
      assert.doesNotMatch(res.stderr, /change-me-plain|not-base64/);
    }
  } finally {
    tmp.cleanup();
  }
});

test('check refuses signing: standard-webhooks without a whsec_ secret, without showing it', async () => {
  const tmp = tempDir();
  try {
    const file = join(tmp.dir, 'rules.yaml');
    writeFileSync(
      file,
      [
        'version: 1',
        'destinations:',
        '  plain: { type: webhook, url: "https://a.example.com/h", signing: standard-webhooks, secret: "hunter2-plain" }',
        '  fromenv: { type: webhook, url: "https://b.example.com/h", signing: standard-webhooks, secret: "${HOOK_SECRET}" }',
        '  none: { type: webhook, url: "https://c.example.com/h", signing: standard-webhooks }',
        '  good: { type: webhook, url: "https://d.example.com/h", signing: standard-webhooks, secret: "' + whsec() + '" }',
        'rules: []',
        '',
      ].join('\n'),
    );
    const res = await runCli(['check', '--rules', file], { env: { HOOK_SECRET: 'S3cretFromEnv' } });
    assert.equal(res.code, 1, res.stdout);
    const lines = res.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 3), [
      `${file}:3:95: the secret of destination "plain" (not shown) is not a Standard Webhooks secret, which signing: standard-webhooks needs; write whsec_ followed by the base64 key (at least 16 bytes), as the sender or receiver shows it`,
      `${file}:4:97: the secret of destination "fromenv" (from the environment, not shown) is not a Standard Webhooks secret, which signing: standard-webhooks needs; write whsec_ followed by the base64 key (at least 16 bytes), as the sender or receiver shows it`,
      `${file}:5:67: destination "none" signs with standard-webhooks but has no secret; add secret: with whsec_ followed by the base64 key (at least 16 bytes), as the sender or receiver shows it`,
    ]);
    assert.doesNotMatch(res.stdout + res.stderr, /hunter2-plain|S3cretFromEnv/);
  } finally {
    tmp.cleanup();
  }
});

test('Standard Webhooks outbound: the receiver verifies every attempt, with the same webhook-id across a retry', async () => {
  const tmp = tempDir();
  const outSecret = whsec();
  const receiverWebhook = new Webhook(outSecret);
  const verified: RecordedRequest[] = [];
  // A receiver as a user would write it: verify with the library, answer 401 on failure. The first
  // verified attempt is answered 503, so the router must retry.
  const hook = await startHttpReceiver({
    defaultReply: (req) => {
      try {
        receiverWebhook.verify(req.text, req.headers as Record<string, string>);
      } catch {
        return 401;
      }
      verified.push(req);
      return verified.length === 1 ? 503 : 204;
    },
  });
  const r = await startRouter({
    dir: tmp.dir,
    rules: `version: 1
delivery: { backoff: { initial: 50ms, max: 200ms } }
destinations:
  hook: { type: webhook, url: "${hook.url}/in", signing: standard-webhooks, secret: "${outSecret}" }
rules:
  - { name: all, match: { type: "*" }, send_to: [hook] }
`,
  });
  try {
    assert.equal((await postEvent(r.url, { id: 'evt_out_1', type: 'run.failed' })).status, 204);
    await waitFor(() => readDb(r.dbPath, (db) => db.prepare(`SELECT status FROM deliveries`).get() as { status: string } | undefined)?.status === 'delivered', {
      timeoutMs: 20_000,
      what: 'the delivery to be delivered',
    });
    assert.equal(verified.length, 2, `every request verified: ${hook.requests.map((q) => q.index).join(',')}`);
    assert.equal(hook.requests.length, 2, 'no request failed verification');
    const [a, b] = verified as [RecordedRequest, RecordedRequest];
    const id = readDb(r.dbPath, (db) => (db.prepare(`SELECT id FROM deliveries`).get() as { id: string }).id);
    assert.equal(a.headers['webhook-id'], id, 'webhook-id is the delivery id');
    assert.equal(b.headers['webhook-id'], id, 'the same on the retry');
    assert.equal(a.headers['idempotency-key'], id);
    assert.equal(a.headers['x-b3os-router-signature'], undefined, 'not our own signature header');
    assert.match(String(a.headers['webhook-signature']), /^v1,[A-Za-z0-9+/]{43}=$/);
    assert.deepEqual(b.eventId(), 'evt_out_1');
  } finally {
    await r.stop();
    await hook.close();
    tmp.cleanup();
  }
});

test('a reload to standard-webhooks with a plain secret is refused; the running rules keep working', async () => {
  const tmp = tempDir();
  const r = await startRouter({ dir: tmp.dir });
  try {
    writeFileSync(r.rulesPath, INBOUND_RULES);
    r.child.kill('SIGHUP');
    const refused = await waitFor(() => r.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('reload refused')), {
      timeoutMs: 10_000,
      what: 'the reload to be refused',
    });
    assert.match(String(refused.msg), /B3OS_WEBHOOK_SECRET is not a Standard Webhooks secret/);
    assert.doesNotMatch(JSON.stringify(r.logs), /test-secret-1/, 'the secret is never logged');
    assert.equal((await postEvent(r.url, { id: 'evt_still_b3os', type: 'run.failed' })).status, 204, 'still the b3os scheme');
  } finally {
    await r.stop();
    tmp.cleanup();
  }
});
