// The delivery thread under a real (in-process) router: it restarts by itself after it dies, and
// a reload that changes a destination's settings gives it a new channel, the old one closed.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { loadRules } from '../src/config/load.js';
import { serveOptions } from '../src/config/options.js';
import { createRouter, type Router } from '../src/router.js';
import { tempDir, waitFor } from './helpers/cli.js';
import { startHttpReceiver } from './helpers/receivers.js';
import { postEvent, SECRET } from './helpers/router.js';

const rulesFor = (url: string) => `version: 1
destinations:
  hook: { type: webhook, url: "${url}" }
rules:
  - { name: all, match: { type: "*" }, send_to: [hook] }
`;

async function start(dir: string, text: string): Promise<{ router: Router; url: string; rules: string }> {
  const rules = join(dir, 'rules.yaml');
  writeFileSync(rules, text);
  const { config, problems } = loadRules(rules, {});
  assert.ok(config, JSON.stringify(problems));
  const router = createRouter(serveOptions({ rules, db: join(dir, 'r.db'), port: '0', host: '127.0.0.1' }, { B3OS_WEBHOOK_SECRET: SECRET }), config, {
    logger: pino({ level: 'silent' }),
  });
  const { port } = await router.listen();
  return { router, url: `http://127.0.0.1:${port}`, rules };
}

const readyz = async (url: string) => (await fetch(`${url}/readyz`)).status;

test('the delivery thread dies: /readyz says 503, the thread restarts, readyz 200, and deliveries go on', async () => {
  const tmp = tempDir();
  const rx = await startHttpReceiver();
  const { router, url } = await start(tmp.dir, rulesFor(`${rx.url}/in`));
  try {
    assert.equal(await readyz(url), 200);
    await router.deliveries.crashForTest();
    assert.equal(router.deliveries.up, false);
    assert.equal(await readyz(url), 503);
    // Accepted while the thread is down: committed, and sent once it is back.
    assert.equal((await postEvent(url, { id: 'while-down', type: 'run.failed' })).status, 204);
    await waitFor(async () => (await readyz(url)) === 200, { timeoutMs: 10_000, what: 'the restarted delivery thread' });
    assert.equal((await postEvent(url, { id: 'after', type: 'run.failed' })).status, 204);
    await rx.waitFor(2, 10_000);
    const ids = rx.requests.map((q) => q.eventId()).sort();
    assert.deepEqual(ids, ['after', 'while-down']);
  } finally {
    await router.close();
    await rx.close();
    tmp.cleanup();
  }
});

test("a reload that changes a webhook's URL: the next delivery goes to the new receiver, the old channel's sockets are closed", async () => {
  const tmp = tempDir();
  // With a length, the channel reads the answer to its end and keeps the socket for the next send.
  const keptAlive = { status: 200, body: 'ok', headers: { 'content-length': '2' } };
  const oldRx = await startHttpReceiver({ defaultReply: keptAlive });
  const newRx = await startHttpReceiver({ defaultReply: keptAlive });
  const { router, url, rules } = await start(tmp.dir, rulesFor(`${oldRx.url}/in`));
  try {
    assert.equal((await postEvent(url, { id: 'one', type: 'run.failed' })).status, 204);
    await oldRx.waitFor(1);
    // Keep-alive: the old channel's socket stays open after its send.
    await waitFor(() => oldRx.openConnections() >= 1, { what: 'a kept-alive connection' });

    writeFileSync(rules, rulesFor(`${newRx.url}/in`));
    assert.equal(await router.reload(), true);
    assert.equal((await postEvent(url, { id: 'two', type: 'run.failed' })).status, 204);
    await newRx.waitFor(1);
    assert.equal(newRx.requests[0]!.eventId(), 'two');
    assert.equal(oldRx.requests.length, 1, 'nothing more went to the old URL');
    // Within 2 s: well before the receiver's own 5 s keep-alive timeout would close it anyway.
    await waitFor(() => oldRx.openConnections() === 0, { timeoutMs: 2_000, what: "the old channel's sockets closed" });
    assert.ok(newRx.openConnections() >= 1, 'the new channel keeps its own connection');
  } finally {
    await router.close();
    await oldRx.close();
    await newRx.close();
    tmp.cleanup();
  }
});
