// Hostile input against the real router (child process): a table of bad requests, each with the
// status it must get and whether anything may be stored; payloads that try to reach prototypes
// must be stored like any event but never change how rules evaluate; a burst of bad signatures;
// and afterwards the server is healthy and still routes a valid event correctly.
//
// Requests go over raw sockets (node:net) wherever fetch would normalise what is sent (duplicate
// headers, bad lengths, slow or cut-short bodies, odd paths).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { createHmac, randomBytes } from 'node:crypto';
import { sign } from '../src/ingest/signature.js';
import { tempDir, waitFor } from './helpers/cli.js';
import { startHttpReceiver, type HttpReceiver } from './helpers/receivers.js';
import { SECRET, readDb, startRouter, type RouterProcess } from './helpers/router.js';

const MAX_BODY = 65_536;
const HOOK = '/b3os/hooks';

// ---------------------------------------------------------------------------------------------
// Raw HTTP over node:net

interface RawResponse {
  /** null when the server closed the connection without an answer. */
  status: number | null;
  head: string;
  body: string;
}

type HeaderList = [string, string][];

/** Builds request bytes exactly as given: headers in order, duplicates kept, no normalisation. */
function rawRequest(o: { method?: string; path?: string; headers?: HeaderList; body?: Buffer | string; contentLength?: number | string | null }): {
  head: Buffer;
  body: Buffer;
} {
  const body = o.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(o.body) ? o.body : Buffer.from(o.body, 'utf8');
  const lines = [`${o.method ?? 'POST'} ${o.path ?? HOOK} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [k, v] of o.headers ?? []) lines.push(`${k}: ${v}`);
  const cl = o.contentLength === undefined ? body.length : o.contentLength;
  if (cl !== null) lines.push(`Content-Length: ${cl}`);
  return { head: Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body };
}

function parseResponse(data: Buffer): RawResponse {
  const text = data.toString('latin1');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  const split = text.indexOf('\r\n\r\n');
  return { status: m ? Number(m[1]) : null, head: split >= 0 ? text.slice(0, split) : text, body: split >= 0 ? text.slice(split + 4) : '' };
}

/** Opens a socket, lets `drive` write to it, and collects the answer until the server closes (bounded). */
function exchange(port: number, drive: (s: Socket) => Promise<void> | void, timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks)));
    };
    const timer = setTimeout(() => {
      s.destroy();
      if (!settled) {
        settled = true;
        reject(new Error(`no end of answer within ${timeoutMs} ms; got: ${Buffer.concat(chunks).toString('latin1').slice(0, 200)}`));
      }
    }, timeoutMs);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => finish()); // a reset after the answer (or instead of one) ends the exchange
    s.on('close', finish);
    s.once('connect', () => {
      Promise.resolve(drive(s)).catch((err: unknown) => {
        s.destroy();
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(err as Error);
        }
      });
    });
  });
}

function send(port: number, req: { head: Buffer; body: Buffer }): Promise<RawResponse> {
  return exchange(port, (s) => {
    s.write(Buffer.concat([req.head, req.body]));
  });
}

const writeAsync = (s: Socket, chunk: Buffer) =>
  new Promise<void>((resolve, reject) => {
    const ok = s.write(chunk, (err) => (err ? reject(err) : undefined));
    if (ok) resolve();
    else s.once('drain', () => resolve());
  });

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Bodies and signatures

const sig = (body: Buffer | string, secret = SECRET) => sign(secret, body)['x-b3os-signature']!;
const hexDigest = (body: Buffer | string, secret = SECRET) => createHmac('sha256', secret).update(body).digest('hex');
const JSON_CT: [string, string] = ['Content-Type', 'application/json'];

let n = 0;
/** A valid event with a unique id; the id says which row it belongs to. */
function eventText(row: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    id: `hostile-${row}-${n++}`,
    type: 'run.failed',
    createdAt: new Date().toISOString(),
    data: { workflowId: 'wf_hostile', status: 'failed' },
    ...extra,
  });
}

/** A signed POST of `body` to the hook path with the given extra headers. */
function signedPost(body: Buffer | string, headers: HeaderList = [JSON_CT], o: { path?: string; method?: string } = {}) {
  return rawRequest({ method: o.method, path: o.path, headers: [...headers, ['x-b3os-signature', sig(body)]], body });
}

// ---------------------------------------------------------------------------------------------

const RULES = (hookUrl: string) => `version: 1
server:
  max_body_bytes: ${MAX_BODY}
destinations:
  hook:
    type: webhook
    url: ${hookUrl}
    max_attempts: 2
    backoff: { initial: 100ms, max: 200ms }
rules:
  - name: flag-match
    match: { data.flag: "yes" }
    send_to: [hook]
  - name: flag-when
    when: { "==": [{ var: data.flag }, "yes"] }
    send_to: [hook]
  - name: admin-match
    match: { data.role: admin }
    send_to: [hook]
  - name: typed-failure
    match: { type: run.failed, data.workflowId: wf_routed }
    send_to: [hook]
`;

interface Row {
  name: string;
  expect: number | 'closed-or-4xx';
  /** Some answers may be either of two statuses for the same reason (noted where used). */
  alsoOk?: number[];
  run(port: number): Promise<RawResponse>;
}

describe('hostile input', () => {
  const tmp = tempDir('b3os-hostile-');
  let receiver: HttpReceiver;
  let r: RouterProcess;
  const count = () => readDb(r.dbPath, (d) => (d.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n);
  const healthy = async () => (await fetch(r.url + '/healthz')).status === 200;

  before(async () => {
    receiver = await startHttpReceiver();
    r = await startRouter({ dir: tmp.dir, rules: RULES(receiver.url + '/hook') });
  });
  after(async () => {
    await r?.stop();
    await receiver?.close();
    tmp.cleanup();
  });

  const rows: Row[] = [
    // --- signatures -----------------------------------------------------------------------
    { name: 'signature header missing', expect: 401, run: (p) => send(p, rawRequest({ headers: [JSON_CT], body: eventText('s1') })) },
    { name: 'signature header empty', expect: 401, run: (p) => send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signature', '']], body: eventText('s2') })) },
    {
      name: 'wrong length: 63 hex digits',
      expect: 401,
      run: (p) => {
        const b = eventText('s3');
        return send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signature', 'sha256=' + hexDigest(b).slice(0, 63)]], body: b }));
      },
    },
    {
      name: 'wrong length: 66 hex digits',
      expect: 401,
      run: (p) => {
        const b = eventText('s4');
        return send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signature', 'sha256=' + hexDigest(b) + 'ab']], body: b }));
      },
    },
    {
      name: 'right length, all zeros',
      expect: 401,
      run: (p) => send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signature', 'sha256=' + '0'.repeat(64)]], body: eventText('s5') })),
    },
    {
      name: 'right length, last digit flipped',
      expect: 401,
      run: (p) => {
        const b = eventText('s6');
        const h = hexDigest(b);
        const flipped = h.slice(0, 63) + (h[63] === '0' ? '1' : '0');
        return send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signature', 'sha256=' + flipped]], body: b }));
      },
    },
    {
      name: 'right length, signed with another secret',
      expect: 401,
      run: (p) => send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signature', sig(eventText('x'), 'not-the-secret')]], body: eventText('s7') })),
    },
    {
      name: 'valid signature of a different body',
      expect: 401,
      run: (p) => {
        const b = eventText('s8');
        return send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signature', sig(b)]], body: b.replace('hostile-s8', 'hostile-s8x') }));
      },
    },
    {
      name: 'wrong prefix (sha1=) before the right digest',
      expect: 401,
      run: (p) => {
        const b = eventText('s9');
        return send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signature', 'sha1=' + hexDigest(b)]], body: b }));
      },
    },
    {
      name: 'base64 of the right digest where hex is expected',
      expect: 401,
      run: (p) => {
        const b = eventText('s10');
        return send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signature', 'sha256=' + createHmac('sha256', SECRET).update(b).digest('base64')]], body: b }));
      },
    },
    {
      name: 'right length but not hex',
      expect: 401,
      run: (p) => send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signature', 'sha256=' + 'zz'.repeat(32)]], body: eventText('s11') })),
    },
    {
      name: 'duplicate signature headers (both correct)',
      expect: 401,
      run: (p) => {
        const b = eventText('s12');
        return send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signature', sig(b)], ['X-B3OS-Signature', sig(b)]], body: b }));
      },
    },
    {
      name: 'signature under a look-alike header name',
      expect: 401,
      run: (p) => {
        const b = eventText('s13');
        return send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signatures', sig(b)]], body: b }));
      },
    },
    // --- bodies ---------------------------------------------------------------------------
    {
      name: 'invalid UTF-8, correctly signed',
      expect: 400,
      run: (p) => {
        const b = Buffer.concat([Buffer.from('{"id":"hostile-b1","type":"run.failed","note":"'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('"}')]);
        return send(p, signedPost(b));
      },
    },
    { name: 'binary body as application/json, correctly signed', expect: 400, run: (p) => send(p, signedPost(randomBytes(512))) },
    {
      name: 'binary body as application/octet-stream, correctly signed',
      expect: 415,
      run: (p) => send(p, signedPost(randomBytes(512), [['Content-Type', 'application/octet-stream']])),
    },
    { name: 'deeply nested arrays (10,000 levels), correctly signed', expect: 400, run: (p) => send(p, signedPost('['.repeat(10_000) + ']'.repeat(10_000))) },
    {
      name: 'deeply nested objects (200 levels) inside an event, correctly signed',
      expect: 400,
      run: (p) => {
        let inner = '{"leaf":true}';
        for (let i = 0; i < 200; i++) inner = `{"a":${inner}}`;
        return send(p, signedPost(`{"id":"hostile-b5","type":"run.failed","data":${inner}}`));
      },
    },
    { name: 'JSON array instead of an object, signed', expect: 400, run: (p) => send(p, signedPost(`[${eventText('b6')}]`)) },
    { name: 'JSON string instead of an object, signed', expect: 400, run: (p) => send(p, signedPost(JSON.stringify(eventText('b7')))) },
    { name: 'truncated JSON, signed', expect: 400, run: (p) => send(p, signedPost(eventText('b8').slice(0, -5))) },
    { name: 'empty body, signed', expect: 400, run: (p) => send(p, signedPost('')) },
    {
      name: 'huge field over max_body_bytes (Content-Length), signed',
      expect: 413,
      run: (p) => send(p, signedPost(eventText('b10', { data: { blob: 'x'.repeat(MAX_BODY + 10) } }))),
    },
    {
      name: 'huge field over max_body_bytes (chunked, no Content-Length), signed',
      expect: 413,
      run: (p) => {
        const b = Buffer.from(eventText('b11', { data: { blob: 'y'.repeat(MAX_BODY + 10) } }));
        const req = rawRequest({ headers: [JSON_CT, ['Transfer-Encoding', 'chunked'], ['x-b3os-signature', sig(b)]], contentLength: null });
        const chunked = Buffer.concat([Buffer.from(b.length.toString(16) + '\r\n'), b, Buffer.from('\r\n0\r\n\r\n')]);
        return send(p, { head: req.head, body: chunked });
      },
    },
    {
      name: 'huge header (20 kB signature value)',
      expect: 431,
      run: (p) => send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signature', 'a'.repeat(20_000)]], body: eventText('b12') })),
    },
    // --- content types --------------------------------------------------------------------
    { name: 'Content-Type missing, signed', expect: 415, run: (p) => send(p, signedPost(eventText('c1'), [])) },
    { name: 'Content-Type text/plain, signed', expect: 415, run: (p) => send(p, signedPost(eventText('c2'), [['Content-Type', 'text/plain']])) },
    {
      name: 'Content-Type form-urlencoded, signed',
      expect: 415,
      run: (p) => send(p, signedPost('id=hostile-c3&type=run.failed', [['Content-Type', 'application/x-www-form-urlencoded']])),
    },
    // --- framing --------------------------------------------------------------------------
    {
      name: 'Content-Length not a number',
      expect: 400,
      run: (p) => send(p, rawRequest({ headers: [JSON_CT, ['x-b3os-signature', sig('{}')]], body: '{}', contentLength: 'abc' })),
    },
    {
      name: 'Content-Length and Transfer-Encoding both',
      expect: 400,
      run: (p) => {
        const b = eventText('f2');
        const req = rawRequest({ headers: [JSON_CT, ['Transfer-Encoding', 'chunked'], ['x-b3os-signature', sig(b)]], body: b });
        return send(p, req);
      },
    },
    {
      name: 'body cut short: Content-Length larger than sent, then half-close',
      expect: 'closed-or-4xx',
      run: (p) => {
        const b = Buffer.from(eventText('f3'));
        return exchange(p, async (s) => {
          s.write(Buffer.concat([rawRequest({ headers: [JSON_CT, ['x-b3os-signature', sig(b)]], body: b, contentLength: b.length + 500 }).head, b]));
          await pause(50);
          s.end();
        });
      },
    },
    {
      name: 'body cut short: Content-Length larger than sent, then reset',
      expect: 'closed-or-4xx',
      run: (p) => {
        const b = Buffer.from(eventText('f4'));
        return exchange(p, async (s) => {
          s.write(Buffer.concat([rawRequest({ headers: [JSON_CT, ['x-b3os-signature', sig(b)]], body: b, contentLength: b.length + 500 }).head, b]));
          await pause(50);
          s.resetAndDestroy();
        });
      },
    },
    // --- methods and paths ----------------------------------------------------------------
    { name: 'GET on the hook path', expect: 405, run: (p) => send(p, rawRequest({ method: 'GET', contentLength: null })) },
    { name: 'PUT on the hook path, signed', expect: 405, run: (p) => send(p, signedPost(eventText('m2'), [JSON_CT], { method: 'PUT' })) },
    { name: 'DELETE on the hook path', expect: 405, run: (p) => send(p, rawRequest({ method: 'DELETE', contentLength: null })) },
    { name: 'POST to an unknown path, signed', expect: 404, run: (p) => send(p, signedPost(eventText('m4'), [JSON_CT], { path: '/hooks' })) },
    { name: 'POST to the hook path in upper case, signed', expect: 404, run: (p) => send(p, signedPost(eventText('m5'), [JSON_CT], { path: '/B3OS/HOOKS' })) },
    {
      name: 'POST to the hook path with a trailing slash, signed',
      expect: 404,
      run: (p) => send(p, signedPost(eventText('m6'), [JSON_CT], { path: `${HOOK}/` })),
    },
    {
      name: 'POST to a dot-segment path, signed',
      expect: 404,
      alsoOk: [400],
      run: (p) => send(p, signedPost(eventText('m7'), [JSON_CT], { path: '/b3os/../b3os/hooks' })),
    },
    { name: 'POST /healthz with a body', expect: 404, run: (p) => send(p, signedPost(eventText('m8'), [JSON_CT], { path: '/healthz' })) },
  ];

  for (const row of rows) {
    test(`${row.name} → ${row.expect}`, async (t) => {
      const before = count();
      const res = await row.run(r.port);
      t.diagnostic(`answered ${res.status ?? 'nothing (connection closed)'}`);
      if (row.expect === 'closed-or-4xx') {
        assert.ok(res.status === null || (res.status >= 400 && res.status < 500), `answered ${res.status}`);
      } else {
        const allowed = [row.expect, ...(row.alsoOk ?? [])];
        assert.ok(
          res.status !== null && allowed.includes(res.status),
          `expected ${allowed.join(' or ')}, got ${res.status}: ${res.head.split('\r\n')[0]} ${res.body.slice(0, 200)}`,
        );
      }
      assert.ok(await healthy(), 'healthz after the row');
      assert.equal(count(), before, 'nothing stored for a rejected request');
    });
  }

  test('accepted but unusual: Content-Type with charset, NUL and lone-surrogate escapes, a body sent slowly', async () => {
    const charset = eventText('ok1');
    assert.equal((await send(r.port, signedPost(charset, [['Content-Type', 'application/json; charset=utf-8']]))).status, 204);
    const escapes = JSON.stringify({ id: `hostile-ok2-${n++}`, type: 'run.started', data: { note: 'a\u0000b', odd: '\ud800' } });
    assert.equal((await send(r.port, signedPost(escapes))).status, 204);

    // Slowly: the headers, then the body in 16-byte chunks with small pauses (honouring drain).
    const slow = Buffer.from(eventText('ok3'));
    const req = signedPost(slow);
    const res = await exchange(r.port, async (s) => {
      await writeAsync(s, req.head);
      for (let i = 0; i < slow.length; i += 16) {
        await writeAsync(s, slow.subarray(i, i + 16));
        await pause(5);
      }
    });
    assert.equal(res.status, 204, `slow body: ${res.head}`);
    const ids = readDb(r.dbPath, (d) => d.prepare(`SELECT event_id FROM events WHERE event_id LIKE 'hostile-ok%'`).pluck().all() as string[]);
    for (const body of [charset, escapes, slow.toString()]) assert.ok(ids.includes(JSON.parse(body).id), `stored ${JSON.parse(body).id}`);
  });

  test('__proto__ and constructor payloads are stored normally and never change how rules evaluate', async () => {
    const payloads: { label: string; body: string }[] = [
      { label: 'data.__proto__.flag', body: `{"id":"hostile-proto-1","type":"run.failed","data":{"__proto__":{"flag":"yes","role":"admin"}}}` },
      { label: 'top-level __proto__.data.flag', body: `{"id":"hostile-proto-2","type":"run.failed","__proto__":{"data":{"flag":"yes","role":"admin"}}}` },
      {
        label: 'data.constructor.prototype.flag',
        body: `{"id":"hostile-proto-3","type":"run.failed","data":{"constructor":{"prototype":{"flag":"yes","role":"admin"}}}}`,
      },
      { label: '__proto__ with a type', body: `{"id":"hostile-proto-4","__proto__":{"type":"run.failed","data":{"workflowId":"wf_routed"}}}` },
      {
        label: 'constructor.name trick',
        body: `{"id":"hostile-proto-5","type":"run.failed","data":{"constructor":{"name":"Object"},"flag":{"__proto__":"yes"}}}`,
      },
    ];
    for (const p of payloads) {
      const res = await send(r.port, signedPost(p.body));
      assert.equal(res.status, 204, `${p.label}: ${res.body}`);
    }
    // A control that must match both flag rules and the admin rule.
    const control = `{"id":"hostile-proto-control","type":"run.failed","data":{"flag":"yes","role":"admin"}}`;
    assert.equal((await send(r.port, signedPost(control))).status, 204);

    const rows = readDb(
      r.dbPath,
      (d) =>
        d
          .prepare(
            `SELECT e.event_id AS id, e.payload AS payload, d.rule AS rule FROM events e LEFT JOIN deliveries d ON d.event_seq = e.seq WHERE e.event_id LIKE 'hostile-proto-%'`,
          )
          .all() as { id: string; payload: string; rule: string | null }[],
    );
    for (const p of payloads) {
      const id = (/"id":"([^"]+)"/.exec(p.body) ?? [])[1]!;
      const mine = rows.filter((x) => x.id === id);
      assert.equal(mine.length, 1, `${p.label}: stored once, with no delivery (${JSON.stringify(mine.map((m) => m.rule))})`);
      assert.equal(mine[0]!.rule, null, `${p.label}: no rule matched`);
      assert.equal(mine[0]!.payload, p.body, `${p.label}: stored byte for byte`);
    }
    const controlRules = rows
      .filter((x) => x.id === 'hostile-proto-control')
      .map((x) => x.rule)
      .sort();
    assert.deepEqual(controlRules, ['admin-match', 'flag-match', 'flag-when']);
    // The router's own prototypes are untouched: a fresh object has no `flag`.
    assert.ok(await healthy());
  });

  test('a burst of 200 bad signatures in parallel: all 401, nothing stored, healthy after', async () => {
    const before = count();
    const statuses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const body = eventText(`burst${i}`);
        const bad = i % 2 === 0 ? 'sha256=' + randomBytes(32).toString('hex') : sig(body, `wrong-${i}`);
        return fetch(r.url + HOOK, { method: 'POST', headers: { 'content-type': 'application/json', 'x-b3os-signature': bad }, body }).then(
          async (res) => {
            await res.arrayBuffer();
            return res.status;
          },
          (err: Error) => `error: ${err.message}`,
        );
      }),
    );
    const tally: Record<string, number> = {};
    for (const s of statuses) tally[String(s)] = (tally[String(s)] ?? 0) + 1;
    assert.deepEqual(tally, { '401': 200 });
    assert.equal(count(), before);
    assert.ok(await healthy());
    assert.equal((await fetch(r.url + '/readyz')).status, 200);
  });

  test('afterwards a valid event is still stored and routed to its destination', async () => {
    const body = JSON.stringify({ id: 'hostile-final-valid', type: 'run.failed', data: { workflowId: 'wf_routed', status: 'failed' } });
    const res = await send(r.port, signedPost(body));
    assert.equal(res.status, 204);
    await waitFor(() => receiver.requests.some((q) => q.text.includes('"hostile-final-valid"')), {
      timeoutMs: 10_000,
      what: 'the delivery of the valid event',
    });
    const got = receiver.requests.find((q) => q.text.includes('"hostile-final-valid"'))!;
    const payload = got.json<{ rule: string; event: { id: string } }>();
    assert.equal(payload.rule, 'typed-failure');
    assert.equal(payload.event.id, 'hostile-final-valid');
    // Nothing but the accepted rows reached the database.
    const stored = readDb(r.dbPath, (d) => d.prepare('SELECT event_id FROM events').pluck().all() as (string | null)[]);
    const unexpected = stored.filter((id) => !(id !== null && /^hostile-(ok\d|proto-|final-)/.test(id)));
    assert.deepEqual(unexpected, [], 'only accepted events are stored');
    assert.ok(await healthy());
  });
});
