// The contract's HTTP table, row by row, against the real server (child process), a real SQLite
// file and real HTTP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import Database from 'better-sqlite3';
import { sign } from '../src/ingest/signature.js';
import { runCli, tempDir, waitFor } from './helpers/cli.js';
import { SECRET, postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';
import { startHttpReceiver } from './helpers/receivers.js';

const countEvents = (db: string) => readDb(db, (d) => (d.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n);
const eventByKey = (db: string, key: string) =>
  readDb(db, (d) => d.prepare('SELECT * FROM events WHERE key = ?').get(key) as Record<string, unknown> | undefined);

describe('POST /b3os/hooks answers every row of the contract', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  before(async () => {
    r = await startRouter({
      dir: tmp.dir,
      env: { B3OS_WEBHOOK_SECRET_PREVIOUS: 'old-secret' },
      rules: `version: 1
server:
  max_body_bytes: 2048
destinations: {}
rules: []
`,
    });
  });
  after(async () => {
    await r.stop();
    tmp.cleanup();
  });

  test('valid signature, new event: 204 and stored before the answer', async () => {
    const res = await postEvent(r.url, { id: 'evt_new_1', type: 'run.failed', data: { runId: 'run_1' } });
    assert.equal(res.status, 204);
    const row = eventByKey(r.dbPath, 'id:evt_new_1');
    assert.ok(row, 'stored');
    assert.equal(row.key_kind, 'event_id');
    assert.equal(row.type, 'run.failed');
    assert.equal(row.run_id, 'run_1');
    assert.equal(JSON.parse(row.payload as string).id, 'evt_new_1');
  });

  test('same idempotency key again: 200, no second copy, duplicate counted', async () => {
    const body = { id: 'evt_dup_1', type: 'run.started' };
    assert.equal((await postEvent(r.url, body)).status, 204);
    const again = await postEvent(r.url, { ...body, extra: 'different body, same id' });
    assert.equal(again.status, 200);
    const rows = readDb(r.dbPath, (d) => d.prepare(`SELECT duplicates FROM events WHERE key = 'id:evt_dup_1'`).all() as { duplicates: number }[]);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.duplicates, 1);
  });

  test('signature missing, malformed or wrong: 401, not stored', async () => {
    const before = countEvents(r.dbPath);
    const body = JSON.stringify({ id: 'evt_bad_sig', type: 'run.failed' });
    assert.equal((await postEvent(r.url, body, { secret: null })).status, 401, 'missing');
    assert.equal((await postEvent(r.url, body, { secret: null, headers: { 'x-b3os-signature': 'not-hex' } })).status, 401, 'malformed');
    assert.equal((await postEvent(r.url, body, { secret: null, headers: { 'x-b3os-signature': 'ab'.repeat(31) } })).status, 401, 'short');
    assert.equal((await postEvent(r.url, body, { secret: 'wrong-secret' })).status, 401, 'wrong secret');
    const good = sign(SECRET, body)['x-b3os-signature']!;
    assert.equal((await postEvent(r.url, body + ' ', { secret: null, headers: { 'x-b3os-signature': good } })).status, 401, 'body changed');
    assert.equal(countEvents(r.dbPath), before);
  });

  test('hex in either case and with or without the sha256= prefix', async () => {
    const body = JSON.stringify({ id: 'evt_case', type: 'run.failed' });
    const hex = sign(SECRET, body, { prefix: '' })['x-b3os-signature']!;
    assert.equal((await postEvent(r.url, body, { secret: null, headers: { 'x-b3os-signature': hex.toUpperCase() } })).status, 204);
    assert.equal((await postEvent(r.url, body, { secret: null, headers: { 'x-b3os-signature': 'SHA256=' + hex } })).status, 200);
  });

  test('previous secret is accepted during rotation; other secrets are not', async () => {
    assert.equal((await postEvent(r.url, { id: 'evt_rot', type: 'run.failed' }, { secret: 'old-secret' })).status, 204);
    assert.equal((await postEvent(r.url, { id: 'evt_rot2', type: 'run.failed' }, { secret: 'older-secret' })).status, 401);
  });

  test('Content-Type not JSON: 415, not stored', async () => {
    const before = countEvents(r.dbPath);
    assert.equal((await postEvent(r.url, '{"id":"evt_ct"}', { contentType: 'text/plain' })).status, 415);
    assert.equal((await postEvent(r.url, 'id=evt_ct', { contentType: 'application/x-www-form-urlencoded' })).status, 415);
    assert.equal(countEvents(r.dbPath), before);
  });

  test('body not JSON or not an object: 400, not stored', async () => {
    const before = countEvents(r.dbPath);
    for (const body of ['{"id": ', '[1,2,3]', '"a string"', '42', 'null', '']) {
      assert.equal((await postEvent(r.url, body)).status, 400, `body ${JSON.stringify(body)}`);
    }
    assert.equal(countEvents(r.dbPath), before);
  });

  test('body over server.max_body_bytes: 413, not stored', async () => {
    const before = countEvents(r.dbPath);
    const res = await postEvent(r.url, { id: 'evt_big', type: 'run.failed', pad: 'x'.repeat(4096) });
    assert.equal(res.status, 413);
    assert.equal(countEvents(r.dbPath), before);
  });

  test('wrong method on the hook path: 405; unknown path: 404', async () => {
    const get = await fetch(r.url + '/b3os/hooks');
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    assert.equal((await postEvent(r.url, { id: 'x' }, { path: '/elsewhere' })).status, 404);
  });

  test('healthz and readyz answer 200', async () => {
    assert.equal((await fetch(r.url + '/healthz')).status, 200);
    const ready = await fetch(r.url + '/readyz');
    assert.equal(ready.status, 200);
  });
});

describe('idempotency key chain', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  before(async () => (r = await startRouter({ dir: tmp.dir })));
  after(async () => {
    await r.stop();
    tmp.cleanup();
  });

  test('event id (id, event_id, eventId)', async () => {
    for (const [field, value] of [
      ['id', 'e1'],
      ['event_id', 'e2'],
      ['eventId', 'e3'],
    ] as const) {
      assert.equal((await postEvent(r.url, { [field]: value, type: 'run.failed' })).status, 204);
      assert.equal(eventByKey(r.dbPath, `id:${value}`)?.key_kind, 'event_id', field);
    }
  });

  test('run id + type, at the top level and under data', async () => {
    assert.equal((await postEvent(r.url, { type: 'run.failed', runId: 'r1' })).status, 204);
    assert.equal(eventByKey(r.dbPath, 'run:r1:run.failed')?.key_kind, 'run_type');
    assert.equal((await postEvent(r.url, { type: 'run.succeeded', data: { run_id: 'r1' } })).status, 204, 'same run, other type: new');
    assert.equal((await postEvent(r.url, { event_type: 'run.failed', data: { runId: 'r1' } })).status, 200, 'same run and type: duplicate');
  });

  test('execution id + type', async () => {
    assert.equal((await postEvent(r.url, { eventType: 'execution.failed', data: { executionId: 'x1' } })).status, 204);
    assert.equal(eventByKey(r.dbPath, 'exec:x1:execution.failed')?.key_kind, 'execution_type');
    assert.equal((await postEvent(r.url, { type: 'execution.failed', execution_id: 'x1' })).status, 200);
  });

  test('SHA-256 of the body when nothing else identifies it', async () => {
    const body = JSON.stringify({ type: 'run.failed', note: 'no ids at all' });
    assert.equal((await postEvent(r.url, body)).status, 204);
    const key = 'sha256:' + createHash('sha256').update(body).digest('hex');
    assert.equal(eventByKey(r.dbPath, key)?.key_kind, 'body_hash');
    assert.equal((await postEvent(r.url, body)).status, 200);
  });

  test('200 concurrent posts of the same event store exactly one', async () => {
    const body = JSON.stringify({ id: 'evt_concurrent', type: 'run.failed' });
    const results = await Promise.all(Array.from({ length: 200 }, () => postEvent(r.url, body)));
    const statuses = results.map((x) => x.status);
    assert.equal(statuses.filter((s) => s === 204).length, 1, 'exactly one first delivery');
    assert.equal(statuses.filter((s) => s === 200).length, 199, 'the rest are duplicates');
    const row = eventByKey(r.dbPath, 'id:evt_concurrent');
    assert.equal(row?.duplicates, 199);
  });

  test('a restart on the same database still treats an old event as a duplicate', async () => {
    assert.equal((await postEvent(r.url, { id: 'evt_before_restart', type: 'run.failed' })).status, 204);
    assert.equal(await r.stop(), 0);
    r = await startRouter({ dir: tmp.dir, dbPath: r.dbPath, rulesPath: r.rulesPath });
    assert.equal((await postEvent(r.url, { id: 'evt_before_restart', type: 'run.failed' })).status, 200);
  });
});

describe('signature settings from the rules file', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  before(async () => {
    r = await startRouter({
      dir: tmp.dir,
      rules: `version: 1
server:
  accept_types: ["run.*", "execution.failed"]
  signature:
    header: x-signature
    encoding: base64
    prefix: "v1="
    timestamp_header: x-timestamp
    tolerance: 2m
destinations: {}
rules: []
`,
    });
  });
  after(async () => {
    await r.stop();
    tmp.cleanup();
  });

  const signed = (body: string, ts: number) => ({
    'x-signature': sign(SECRET, body, { header: 'x-signature', encoding: 'base64', prefix: 'v1=', timestampHeader: 'x-timestamp', now: ts * 1000 })[
      'x-signature'
    ]!,
    'x-timestamp': String(ts),
  });
  const nowS = () => Math.floor(Date.now() / 1000);

  test('timestamp inside the tolerance: accepted', async () => {
    const body = JSON.stringify({ id: 'ts_ok', type: 'run.failed' });
    assert.equal((await postEvent(r.url, body, { secret: null, headers: signed(body, nowS() - 60) })).status, 204);
  });

  test('timestamp too old, too far in the future, missing or unparsable: 401', async () => {
    const body = JSON.stringify({ id: 'ts_bad', type: 'run.failed' });
    assert.equal((await postEvent(r.url, body, { secret: null, headers: signed(body, nowS() - 600) })).status, 401, 'old');
    assert.equal((await postEvent(r.url, body, { secret: null, headers: signed(body, nowS() + 600) })).status, 401, 'future');
    const h = signed(body, nowS());
    assert.equal((await postEvent(r.url, body, { secret: null, headers: { 'x-signature': h['x-signature']! } })).status, 401, 'missing');
    assert.equal((await postEvent(r.url, body, { secret: null, headers: { ...h, 'x-timestamp': 'yesterday' } })).status, 401, 'unparsable');
    assert.equal(eventByKey(r.dbPath, 'id:ts_bad'), undefined);
  });

  test('the timestamp is part of what is signed', async () => {
    const body = JSON.stringify({ id: 'ts_swap', type: 'run.failed' });
    const h = signed(body, nowS());
    assert.equal((await postEvent(r.url, body, { secret: null, headers: { ...h, 'x-timestamp': String(nowS() - 1) } })).status, 401);
  });

  test('accept_types: other types get 204 and are neither stored nor routed', async () => {
    const ignored = JSON.stringify({ id: 'ignored_1', type: 'execution.running' });
    assert.equal((await postEvent(r.url, ignored, { secret: null, headers: signed(ignored, nowS()) })).status, 204);
    assert.equal(eventByKey(r.dbPath, 'id:ignored_1'), undefined);
    const kept = JSON.stringify({ id: 'kept_1', type: 'execution.failed' });
    assert.equal((await postEvent(r.url, kept, { secret: null, headers: signed(kept, nowS()) })).status, 204);
    assert.ok(eventByKey(r.dbPath, 'id:kept_1'));
    const metrics = await (await fetch(r.url + '/metrics')).text();
    assert.match(metrics, /b3os_router_events_received_total\{outcome="ignored",reason=""\} 1/);
  });

  test('accept_types is applied after the signature check', async () => {
    const ignored = JSON.stringify({ id: 'ignored_2', type: 'execution.running' });
    assert.equal((await postEvent(r.url, ignored, { secret: 'wrong' })).status, 401);
  });
});

describe('the database unavailable or full: 503, never a 2xx', () => {
  test('locked by another writer: 503 and not stored; then 204 once free', async () => {
    const tmp = tempDir();
    const r = await startRouter({ dir: tmp.dir });
    try {
      const other = new Database(r.dbPath);
      other.pragma('busy_timeout = 5000');
      other.exec('BEGIN EXCLUSIVE');
      try {
        const res = await postEvent(r.url, { id: 'evt_locked', type: 'run.failed' });
        assert.equal(res.status, 503);
        assert.equal((await fetch(r.url + '/readyz')).status, 503);
      } finally {
        other.exec('ROLLBACK');
        other.close();
      }
      assert.equal(eventByKey(r.dbPath, 'id:evt_locked'), undefined);
      assert.equal((await postEvent(r.url, { id: 'evt_locked', type: 'run.failed' })).status, 204);
      assert.equal((await fetch(r.url + '/healthz')).status, 200);
    } finally {
      await r.stop();
      tmp.cleanup();
    }
  });

  test('full (DB_MAX_MB reached): 503 for what does not fit, every 2xx stored', async () => {
    const tmp = tempDir();
    const r = await startRouter({ dir: tmp.dir, env: { DB_MAX_MB: '0.25' } });
    try {
      const accepted: string[] = [];
      let sawFull = false;
      for (let i = 0; i < 400 && !sawFull; i++) {
        const id = `evt_fill_${i}`;
        const res = await postEvent(r.url, { id, type: 'run.failed', pad: 'y'.repeat(900) });
        if (res.status === 204) accepted.push(id);
        else {
          assert.equal(res.status, 503, `event ${i}: ${res.text}`);
          sawFull = true;
          assert.equal(eventByKey(r.dbPath, `id:${id}`), undefined);
        }
      }
      assert.ok(sawFull, 'the cap was reached');
      assert.ok(accepted.length > 10);
      for (const id of accepted) assert.ok(eventByKey(r.dbPath, `id:${id}`), id);
      assert.equal((await fetch(r.url + '/healthz')).status, 200, 'the server is still up');
    } finally {
      await r.stop();
      tmp.cleanup();
    }
  });
});

describe('process', () => {
  test('serve without B3OS_WEBHOOK_SECRET exits non-zero with one line naming it', async () => {
    const tmp = tempDir();
    try {
      const res = await runCli(['serve', '--db', `${tmp.dir}/x.db`, '--port', '0'], { cwd: tmp.dir });
      assert.notEqual(res.code, 0);
      const lines = res.stderr.trim().split('\n');
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /B3OS_WEBHOOK_SECRET/);
      assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      tmp.cleanup();
    }
  });

  test('SIGTERM: a request in flight is answered and stored, then exit 0', async () => {
    const tmp = tempDir();
    const r = await startRouter({ dir: tmp.dir });
    try {
      const body = JSON.stringify({ id: 'evt_inflight', type: 'run.failed' });
      // Expect: 100-continue makes the server say when it has the request's headers: from then on
      // the request is in flight. SIGTERM then, and the body only once shutdown has begun.
      const headers = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), expect: '100-continue', ...sign(SECRET, body) };
      const answered = new Promise<number>((resolve, reject) => {
        const req = request(r.url + '/b3os/hooks', { method: 'POST', headers }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.on('continue', () => {
          r.child.kill('SIGTERM');
          waitFor(() => r.logs.some((l) => l.msg === 'shutting down'), { what: 'shutdown to begin' }).then(() => req.end(body), reject);
        });
        req.flushHeaders();
      });
      assert.equal(await answered, 204);
      assert.equal(await r.stop(), 0);
      assert.ok(eventByKey(r.dbPath, 'id:evt_inflight'), 'stored');
    } finally {
      tmp.cleanup();
    }
  });
});

describe('HTTPS and logs', () => {
  test('TLS_CERT_FILE / TLS_KEY_FILE serve HTTPS directly', async (t) => {
    const tmp = tempDir();
    const cert = `${tmp.dir}/cert.pem`;
    const key = `${tmp.dir}/key.pem`;
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], {
      encoding: 'utf8',
    });
    if (gen.status !== 0) {
      tmp.cleanup();
      return t.skip('openssl is not available to make a test certificate');
    }
    const r = await startRouter({ dir: tmp.dir, env: { TLS_CERT_FILE: cert, TLS_KEY_FILE: key } });
    try {
      const body = JSON.stringify({ id: 'evt_tls', type: 'run.failed' });
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest(
          `https://127.0.0.1:${r.port}/b3os/hooks`,
          { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json', ...sign(SECRET, body) } },
          (res) => {
            res.resume();
            resolve(res.statusCode!);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(status, 204);
      assert.ok(r.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('listening on https://')));
    } finally {
      await r.stop();
      tmp.cleanup();
    }
  });

  test('no secret, signature or body is ever logged; rejections log why', async () => {
    const tmp = tempDir();
    const receiver = await startHttpReceiver({ defaultReply: 500 });
    const r = await startRouter({
      dir: tmp.dir,
      env: { LOG_LEVEL: 'debug', B3OS_WEBHOOK_SECRET_PREVIOUS: 'previous-secret-xyz', HOOK_TOKEN: 'bearer-token-xyz' },
      rules: `version: 1
delivery: { max_attempts: 2, backoff: { initial: 10ms, max: 20ms } }
destinations:
  out: { type: webhook, url: "${receiver.url}/x", secret: outbound-secret-xyz, headers: { Authorization: "Bearer \${HOOK_TOKEN}" } }
rules:
  - { name: all, match: { type: "*" }, send_to: [out] }
`,
    });
    try {
      const body = JSON.stringify({ id: 'evt_log', type: 'run.failed', data: { marker: 'BODY-MARKER-123' } });
      const sig = sign(SECRET, body)['x-b3os-signature']!;
      assert.equal((await postEvent(r.url, body)).status, 204);
      assert.equal((await postEvent(r.url, body, { secret: 'wrong-secret-abc' })).status, 401);
      assert.equal((await postEvent(r.url, '{"marker":"BODY-MARKER-123"', {})).status, 400);
      await receiver.waitFor(2);
      await waitFor(() => r.logs.some((l) => l.msg === 'delivery is dead'), { what: 'the failing delivery to be logged' });
      await r.stop();
      const all = JSON.stringify(r.logs) + r.stderr();
      for (const secret of [SECRET, 'previous-secret-xyz', 'outbound-secret-xyz', 'bearer-token-xyz', sig.slice(7), 'BODY-MARKER-123']) {
        assert.ok(!all.includes(secret), `logs must not contain ${secret}`);
      }
      assert.ok(
        r.logs.some((l) => l.reason === 'signature_mismatch' && l.level === 40),
        'the 401 is logged at warn with its reason',
      );
      assert.ok(
        r.logs.some((l) => l.reason === 'invalid_json'),
        'the 400 is logged with its reason',
      );
    } finally {
      await receiver.close();
      tmp.cleanup();
    }
  });
});
