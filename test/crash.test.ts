// Crash safety under load: a few posters send unique signed events continuously while the router
// (child process) is killed with SIGKILL at random moments, three times, and restarted on the same
// database each time. At the end every event that was answered 2xx is in the database, and every
// delivery the database holds reached the webhook receiver at least once (matched by the event id
// inside the default webhook body {rule, destination, event}).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir, waitFor } from './helpers/cli.js';
import { startHttpReceiver } from './helpers/receivers.js';
import { SECRET, readDb, startRouter, type RouterProcess } from './helpers/router.js';
import { sign } from '../src/ingest/signature.js';

const POSTERS = 4;
const KILLS = 3;

const RULES = (url: string) => `version: 1
destinations:
  hook:
    type: webhook
    url: ${url}
    max_attempts: 50
    backoff: { initial: 50ms, max: 500ms }
    timeout: 5s
rules:
  - name: crash-failures
    match: { type: run.failed }
    send_to: [hook]
`;

test('kill -9 under load, three times: no 2xx event lost, every delivery arrives', { timeout: 90_000 }, async (t) => {
  const tmp = tempDir('b3os-crash-');
  // A receiver that takes a little time per request, so that deliveries pile up and each kill
  // lands with sends in flight and deliveries pending.
  const receiver = await startHttpReceiver({ defaultReply: () => ({ status: 200, delayMs: 5 + Math.floor(Math.random() * 20) }) });
  const dbPath = join(tmp.dir, 'router.db');
  const rules = RULES(receiver.url + '/hook');
  const accepted = new Set<string>();
  const answeredOther: Record<string, number> = {};
  let current: RouterProcess | null = null;
  let running = true;
  let seq = 0;
  let routerUp: () => void = () => undefined;
  let up = new Promise<void>((r) => (routerUp = r));

  const poster = async (p: number) => {
    while (running) {
      const r = current;
      if (r === null) {
        await Promise.race([up, new Promise((res) => setTimeout(res, 200))]);
        continue;
      }
      const id = `crash-${p}-${seq++}`;
      const body = JSON.stringify({
        id,
        type: 'run.failed',
        createdAt: new Date().toISOString(),
        data: { workflowId: 'wf_crash', runId: `run_${id}`, poster: p },
      });
      try {
        const res = await fetch(r.url + '/b3os/hooks', {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...sign(SECRET, body) },
          body,
          signal: AbortSignal.timeout(5_000),
        });
        await res.arrayBuffer();
        if (res.status >= 200 && res.status < 300) accepted.add(id);
        else answeredOther[res.status] = (answeredOther[res.status] ?? 0) + 1;
      } catch {
        // The router died under this request (or is not up yet): not answered, so not promised.
        await new Promise((res) => setTimeout(res, 10));
      }
    }
  };

  const start = async () => {
    const r = await startRouter({ dir: tmp.dir, dbPath, rules });
    current = r;
    routerUp();
    return r;
  };

  const posters = Array.from({ length: POSTERS }, (_, i) => poster(i));
  const delays: number[] = [];
  const pendingAtKill: number[] = [];
  try {
    for (let life = 0; life < KILLS; life++) {
      const r = await start();
      // Let load build up in this life (some events accepted), then kill at a random moment.
      const base = accepted.size;
      await waitFor(() => accepted.size >= base + 50, { timeoutMs: 20_000, what: `load on router life ${life + 1}` });
      const delay = Math.floor(Math.random() * 1500);
      delays.push(delay);
      await new Promise((res) => setTimeout(res, delay));
      current = null;
      up = new Promise<void>((res) => (routerUp = res));
      r.child.kill('SIGKILL');
      assert.equal(await r.exited, null, 'killed by a signal, not exited');
      pendingAtKill.push(
        readDb(dbPath, (d) => (d.prepare(`SELECT count(*) AS n FROM deliveries WHERE status IN ('pending', 'failed')`).get() as { n: number }).n),
      );
    }
    t.diagnostic(`kills after ${delays.join(', ')} ms of extra load, with ${pendingAtKill.join(', ')} deliveries not yet sent`);
    assert.ok(
      pendingAtKill.some((n) => n > 0),
      'at least one kill left deliveries to resume',
    );

    // The last life: keep posting a little, then stop the posters and let deliveries finish.
    const last = await start();
    const base = accepted.size;
    await waitFor(() => accepted.size >= base + 50, { timeoutMs: 20_000, what: 'load on the last life' });
    running = false;
    await Promise.all(posters);

    // Every 2xx'd event is in the database.
    const stored = new Set(readDb(dbPath, (d) => d.prepare('SELECT event_id FROM events').pluck().all() as string[]));
    const missing = [...accepted].filter((id) => !stored.has(id));
    assert.deepEqual(missing, [], `${missing.length} of ${accepted.size} accepted events missing from the database`);

    // Every delivery the database holds (one per stored event) reaches the receiver at least once.
    const delivered = () => {
      const seen = new Set<string>();
      for (const q of receiver.requests) {
        try {
          const id = q.json<{ event?: { id?: string } }>().event?.id;
          if (id) seen.add(id);
        } catch {
          // not a webhook body
        }
      }
      return seen;
    };
    const dueIds = readDb(
      dbPath,
      (d) => d.prepare(`SELECT e.event_id FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.rule = 'crash-failures'`).pluck().all() as string[],
    );
    assert.equal(dueIds.length, stored.size, 'one delivery per stored event');
    await waitFor(
      () => {
        const seen = delivered();
        return dueIds.every((id) => seen.has(id));
      },
      { timeoutMs: 30_000, what: `all ${dueIds.length} deliveries at the receiver` },
    ).catch((err: Error) => {
      const seen = delivered();
      const notYet = dueIds.filter((id) => !seen.has(id));
      throw new Error(`${err.message}: ${notYet.length} never arrived, e.g. ${notYet.slice(0, 5).join(', ')}`);
    });
    const seen = delivered();
    const undelivered = [...accepted].filter((id) => !seen.has(id));
    assert.deepEqual(undelivered, [], 'every 2xx event delivered');
    await waitFor(() => readDb(dbPath, (d) => (d.prepare(`SELECT count(*) AS n FROM deliveries WHERE status <> 'delivered'`).get() as { n: number }).n === 0), {
      timeoutMs: 10_000,
      what: 'every delivery recorded as delivered',
    });
    t.diagnostic(
      `${accepted.size} events answered 2xx, ${stored.size} stored (the rest were in flight at a kill), ` +
        `${receiver.requests.length} webhook requests for ${dueIds.length} deliveries; other answers ${JSON.stringify(answeredOther)}`,
    );
    assert.equal(await last.stop('SIGTERM'), 0);
  } finally {
    running = false;
    const r = current as RouterProcess | null;
    if (r) r.child.kill('SIGKILL');
    await receiver.close();
    tmp.cleanup();
  }
});
