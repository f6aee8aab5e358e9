// B4: a request whose headers and body have not all arrived within the request timeout is cut
// (a trickled body used to stay open for good), and connections past MAX_CONNECTIONS are closed on
// arrival. The real server, with the timeout lowered so the test is quick.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { tempDir, waitFor } from './helpers/cli.js';
import { postEvent, startRouter, type RouterProcess } from './helpers/router.js';

const TIMEOUT_MS = 1000;

/** Opens a raw connection; resolves once connected. Records what came back and when it closed. */
function open(port: number): Promise<{ socket: Socket; data: () => string; closedAt: () => number | null }> {
  return new Promise((resolve, reject) => {
    let data = '';
    let closedAt: number | null = null;
    const socket = connect(port, '127.0.0.1', () => resolve({ socket, data: () => data, closedAt: () => closedAt }));
    socket.on('data', (d) => (data += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => (closedAt = Date.now()));
    socket.once('error', reject);
  });
}

describe('slow requests', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  before(async () => {
    r = await startRouter({ dir: tmp.dir, env: { REQUEST_TIMEOUT_MS: String(TIMEOUT_MS), MAX_CONNECTIONS: '6' } });
  });
  after(async () => {
    await r.stop();
    tmp.cleanup();
  });

  test('a body trickled one byte at a time is answered 408 and cut within the timeout', async () => {
    const c = await open(r.port);
    const start = Date.now();
    c.socket.write('POST /b3os/hooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
    const drip = setInterval(() => c.socket.writable && c.socket.write(' '), 100);
    try {
      await waitFor(() => c.closedAt() !== null, { timeoutMs: TIMEOUT_MS + 4000, what: 'the trickling connection to be closed' });
    } finally {
      clearInterval(drip);
      c.socket.destroy();
    }
    const took = c.closedAt()! - start;
    assert.ok(took >= TIMEOUT_MS - 100 && took < TIMEOUT_MS + 2000, `closed after ${took} ms`);
    assert.match(c.data(), /^HTTP\/1\.1 408/);
  });

  test('headers trickled without an end are cut within the timeout too', async () => {
    const c = await open(r.port);
    const start = Date.now();
    c.socket.write('POST /b3os/hooks HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => c.socket.writable && c.socket.write('X-A: b\r\n'), 100);
    try {
      await waitFor(() => c.closedAt() !== null, { timeoutMs: TIMEOUT_MS + 4000, what: 'the slow-header connection to be closed' });
    } finally {
      clearInterval(drip);
      c.socket.destroy();
    }
    assert.ok(c.closedAt()! - start < TIMEOUT_MS + 2000, `closed after ${c.closedAt()! - start} ms`);
  });

  test('connections past MAX_CONNECTIONS are closed on arrival; the server answers again once they go', async () => {
    const held = await Promise.all(Array.from({ length: 6 }, () => open(r.port)));
    try {
      // A request line on each, so each is a live request, not only an idle socket.
      for (const h of held) h.socket.write('POST /b3os/hooks HTTP/1.1\r\nHost: x\r\n');
      const extra = await open(r.port);
      await waitFor(() => extra.closedAt() !== null, { timeoutMs: 700, what: 'the connection over the cap to be closed' });
      assert.equal(extra.data(), '');
      assert.ok(
        held.every((h) => h.closedAt() === null),
        'the connections under the cap stay open',
      );
    } finally {
      for (const h of held) h.socket.destroy();
    }
    await waitFor(async () => (await postEvent(r.url, { id: 'after-cap', type: 't' })).status === 204, {
      timeoutMs: 5000,
      what: 'a hook to be accepted again',
    });
  });
});

describe('hook bodies held before the signature check', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  const PART = 400 * 1024;
  before(async () => {
    // 1 MiB in all for unverified bodies: two 400 KiB bodies fit, a third does not.
    r = await startRouter({ dir: tmp.dir, env: { INGEST_BUFFER_MB: '1' } });
  });
  after(async () => {
    await r.stop();
    tmp.cleanup();
  });

  const start = async () => {
    const c = await open(r.port);
    c.socket.write(`POST /b3os/hooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${PART}\r\n\r\n{`);
    return c;
  };

  test('a body that would pass INGEST_BUFFER_MB is refused with 503 and Retry-After before it is read; room comes back', async () => {
    const held = [await start(), await start()];
    try {
      // The two must have reserved their room before the third asks (a request line is parsed at once).
      await waitFor(
        async () => {
          const third = await start();
          await waitFor(() => third.data() !== '' || third.closedAt() !== null, { timeoutMs: 3000, what: 'an answer to the third' });
          third.socket.destroy();
          return /^HTTP\/1\.1 503/.test(third.data()) && /retry-after: 1/i.test(third.data()) ? true : null;
        },
        { timeoutMs: 5000, what: 'the third body refused with 503' },
      );
      assert.ok(
        held.every((h) => h.closedAt() === null),
        'the two under the budget are still being received',
      );
      // Small hooks still fit beside them.
      assert.equal((await postEvent(r.url, { id: 'small-beside', type: 't' })).status, 204);
    } finally {
      for (const h of held) h.socket.destroy();
    }
    // The two gave their room back when their connections went.
    await waitFor(
      async () => {
        const c = await start();
        c.socket.write(' '.repeat(PART - 2) + '}');
        await waitFor(() => c.data() !== '' || c.closedAt() !== null, { timeoutMs: 3000, what: 'an answer' });
        c.socket.destroy();
        return /^HTTP\/1\.1 401/.test(c.data()) ? true : null;
      },
      { timeoutMs: 5000, what: 'a 400 KiB body read (and refused only for its missing signature)' },
    );
    const m = await (await fetch(`${r.url.replace(/\/b3os\/hooks$/, '')}/metrics`)).text();
    assert.match(m, /b3os_router_events_received_total\{outcome="rejected",reason="busy"\} [1-9]/);
  });
});
