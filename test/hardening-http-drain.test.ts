// B3: a receiver that answers 2xx with a small Content-Length and never finishes the body must not
// cost the router a socket per delivery: the body is drained only within the destination timeout,
// then the connection is destroyed, and every delivery settles.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tempDir, waitFor } from './helpers/cli.js';
import { postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';

const COUNT = 40;
const tmp = tempDir();
let r: RouterProcess;
let server: Server;
const open = new Set<Socket>();
let requests = 0;

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      // Promises 100 bytes, sends 7, and never ends.
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
      res.write('partial');
    });
  });
  server.on('connection', (s: Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  r = await startRouter({
    dir: tmp.dir,
    rules: `version: 1
delivery: { timeout: 500ms, max_attempts: 1, concurrency: ${COUNT} }
destinations:
  sink: { type: webhook, url: "http://127.0.0.1:${port}/in" }
rules:
  - name: all
    match: { type: run.failed }
    send_to: [sink]
`,
  });
});

after(async () => {
  await r?.stop();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  tmp.cleanup();
});

test(`${COUNT} deliveries to a 2xx receiver whose body never ends: all settle and no socket stays open`, async () => {
  for (let i = 0; i < COUNT; i++) {
    assert.equal((await postEvent(r.url, { id: `evt_${i}`, type: 'run.failed' })).status, 204);
  }
  await waitFor(() => requests >= COUNT, { timeoutMs: 20_000, what: `${COUNT} requests at the receiver (got ${requests})` });
  await waitFor(
    () => readDb(r.dbPath, (d) => (d.prepare(`SELECT count(*) AS n FROM deliveries WHERE status = 'delivered'`).get() as { n: number }).n) === COUNT,
    { timeoutMs: 20_000, what: `${COUNT} delivered deliveries` },
  );
  // Every connection the router opened is closed by the router (the receiver never closes one).
  await waitFor(() => open.size === 0, { timeoutMs: 10_000, what: `the router to release its sockets (still open: ${open.size})` });
});
