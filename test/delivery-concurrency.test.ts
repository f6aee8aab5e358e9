// A destination's `concurrency` bounds its sends in flight exactly, whichever path claims them
// (the poll, ingest's wake, or the transaction that records a batch of outcomes), and a slow
// destination holding all of its slots never holds up another one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tempDir, waitFor } from './helpers/cli.js';
import { postEvent, readDb, startRouter, type RouterProcess } from './helpers/router.js';

/** A receiver that counts requests in flight; `hold` keeps answers back until released. */
async function countingReceiver(hold: boolean) {
  const waiting: ServerResponse[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let answered = 0;
  const ids = new Set<string>();
  let holding = hold;
  const answer = (res: ServerResponse) => {
    inFlight--;
    answered++;
    res.writeHead(204).end();
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    ids.add(String(req.headers['idempotency-key']));
    req.resume();
    req.on('end', () => (holding ? waiting.push(res) : answer(res)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/in`,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    answered: () => answered,
    distinct: () => ids.size,
    waiting: () => waiting.length,
    /** Answers the requests held now, keeps holding later ones. */
    releaseHeld: () => {
      for (const res of waiting.splice(0)) answer(res);
    },
    releaseAll: () => {
      holding = false;
      for (const res of waiting.splice(0)) answer(res);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const EVENTS = 24;

describe('per-destination concurrency', () => {
  const tmp = tempDir();
  let r: RouterProcess;
  let slow: Awaited<ReturnType<typeof countingReceiver>>;
  let fast: Awaited<ReturnType<typeof countingReceiver>>;

  before(async () => {
    [slow, fast] = await Promise.all([countingReceiver(true), countingReceiver(false)]);
    r = await startRouter({
      dir: tmp.dir,
      rules: `version: 1
destinations:
  slow: { type: webhook, url: "${slow.url}", concurrency: 3, timeout: 30s }
  fast: { type: webhook, url: "${fast.url}", concurrency: 2 }
rules:
  - name: all
    match: { type: run.failed }
    send_to: [slow, fast]
`,
    });
  });
  after(async () => {
    await r?.stop();
    await Promise.all([slow?.close(), fast?.close()]);
    tmp.cleanup();
  });

  test('never more in flight than the concurrency; a slow destination does not hold up another', async () => {
    for (let i = 0; i < EVENTS; i++) {
      assert.equal((await postEvent(r.url, { id: `evt_c${i}`, type: 'run.failed', data: { n: i } })).status, 204);
    }
    // The slow receiver holds its 3 slots; the fast destination still gets every event.
    await waitFor(() => fast.distinct() === EVENTS && fast.answered() >= EVENTS, { timeoutMs: 20_000, what: 'every event at the fast receiver' });
    await waitFor(() => slow.waiting() === 3, { timeoutMs: 10_000, what: 'the slow receiver holding 3' });
    assert.equal(slow.inFlight(), 3);
    // Released a few at a time: each wave refills the slots (claims with the outcomes), never past 3.
    while (slow.answered() < EVENTS - 3) {
      const before = slow.answered();
      slow.releaseHeld();
      await waitFor(() => slow.answered() > before && (slow.waiting() === 3 || slow.answered() + slow.waiting() >= EVENTS), {
        timeoutMs: 10_000,
        what: 'the next wave at the slow receiver',
      });
      assert.ok(slow.maxInFlight() <= 3, `slow had ${slow.maxInFlight()} in flight`);
    }
    slow.releaseAll();
    await waitFor(
      () => readDb(r.dbPath, (d) => (d.prepare(`SELECT count(*) AS n FROM deliveries WHERE status = 'delivered'`).get() as { n: number }).n) === 2 * EVENTS,
      {
        timeoutMs: 20_000,
        what: 'every delivery recorded delivered',
      },
    );
    assert.equal(slow.distinct(), EVENTS);
    assert.equal(slow.maxInFlight(), 3);
  });
});
