// In-process harness for the delivery thread's SQLite work alone (informational, not a scenario of
// `npm run bench`): N pending deliveries in a fresh database (after a history of H delivered
// ones), then the worker's pattern without the sends: one claim of `--in-flight`, then
// `finishAndClaim` of `--batch` outcomes (delivered, each with its attempt) claiming as many
// again, until the queue is empty. CPU µs per delivery (process.cpuUsage), 5 rounds, each on a
// fresh database; the least disturbed round and the median.
//
//   node dist/bench/delivery-store.js [--n 10000] [--history 20000] [--batch 8] [--in-flight 16]
//        [--root OTHER_CHECKOUT] [--breakdown]
//
// --breakdown also times each prepared statement the calls run (their `run`/`all`/`get` wrapped;
// the wrapper's own cost, calibrated on an empty call, is taken off), the rest being the
// transaction's BEGIN/COMMIT (the WAL write) and the code around the statements.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ClaimRequest, ClaimedDelivery, DeliveryUpdate, Store } from '../src/store/store.js';
import { cpuUs, fillBench, loadFrom, ROOT } from './common.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    history: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '8' },
    'in-flight': { type: 'string', default: '16' },
    rounds: { type: 'string', default: '5' },
    root: { type: 'string', default: ROOT },
    breakdown: { type: 'boolean', default: false },
  },
});
const a = {
  n: Number(values.n),
  history: Number(values.history),
  batch: Number(values.batch),
  inFlight: Number(values['in-flight']),
  rounds: Number(values.rounds),
  root: resolve(values.root!),
  breakdown: values.breakdown!,
};
type Args = typeof a;

function request(room: number): ClaimRequest {
  return { now: Date.now(), leaseMs: 35_000, room: new Map([['bench-hook', room]]), defaultRoom: 1, limit: room };
}

function outcome(c: ClaimedDelivery): DeliveryUpdate {
  const now = Date.now();
  return {
    id: c.id,
    status: 'delivered',
    nextAttemptAt: null,
    reason: null,
    attempt: { deliveryId: c.id, attempt: c.attempts + 1, startedAt: now - 1, durationMs: 1, outcome: 'delivered', code: '200', error: null },
  };
}

/** Wraps each prepared statement of the store (its private `s`) to add up the CPU of its calls. */
function instrument(store: Store): { totals: Map<string, { calls: number; cpu: number }>; overhead: number } {
  const totals = new Map<string, { calls: number; cpu: number }>();
  const s = (store as unknown as { s: Record<string, Record<string, (...x: unknown[]) => unknown>> }).s;
  for (const [name, stmt] of Object.entries(s)) {
    const t = { calls: 0, cpu: 0 };
    totals.set(name, t);
    for (const m of ['run', 'all', 'get'] as const) {
      const orig = stmt[m]!.bind(stmt);
      stmt[m] = (...x: unknown[]) => {
        const c0 = cpuUs();
        try {
          return orig(...x);
        } finally {
          t.cpu += cpuUs() - c0;
          t.calls++;
        }
      };
    }
  }
  // The wrapper's own cost: two getrusage calls around nothing.
  const k = 20_000;
  const c0 = cpuUs();
  for (let i = 0; i < k; i++) {
    cpuUs();
    cpuUs();
  }
  const overhead = (cpuUs() - c0) / k / 2;
  return { totals, overhead };
}

async function round(a: Args): Promise<{ perDelivery: number; breakdown: string | null }> {
  const { openStore } = await loadFrom<{ openStore(spec: string): Store }>(a.root, 'store/open.js');
  const dir = mkdtempSync(join(tmpdir(), 'b3os-bench-dstore-'));
  const store = openStore(join(dir, 'router.db'));
  try {
    const now = Date.now();
    // A history of delivered ones (as a running router has), then the queue.
    if (a.history > 0) {
      await fillBench(store, a.history, 1_000_000, now - 3_600_000);
      for (;;) {
        const c = await store.claimDue(request(500));
        if (c.length === 0) break;
        await store.finish(c.map(outcome));
      }
    }
    await fillBench(store, a.n, 0, now);
    const inst = a.breakdown ? instrument(store) : null;
    const c0 = cpuUs();
    let inFlight = await store.claimDue(request(a.inFlight));
    let done = 0;
    while (inFlight.length > 0) {
      const batch = inFlight.slice(0, a.batch);
      const next = await store.finishAndClaim(batch.map(outcome), request(batch.length));
      inFlight = inFlight.slice(batch.length).concat(next);
      done += batch.length;
    }
    const cpu = cpuUs() - c0;
    if (done !== a.n) throw new Error(`delivered ${done} of ${a.n}`);
    let breakdown: string | null = null;
    if (inst) {
      let sum = 0;
      const lines: string[] = [];
      for (const [name, t] of inst.totals) {
        if (t.calls === 0) continue;
        const us = (t.cpu - t.calls * inst.overhead) / a.n;
        sum += us;
        lines.push(`  ${name}: ${(t.calls / a.n).toFixed(2)} calls, ${us.toFixed(1)} µs per delivery`);
      }
      lines.push(
        `  the rest (BEGIN/COMMIT with the WAL write, code around): ${(cpu / a.n - sum).toFixed(1)} µs (wrapper ${inst.overhead.toFixed(2)} µs per call taken off)`,
      );
      breakdown = lines.join('\n');
    }
    return { perDelivery: cpu / a.n, breakdown };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const results: number[] = [];
  for (let r = 0; r < a.rounds; r++) {
    const { perDelivery, breakdown } = await round(a);
    results.push(perDelivery);
    if (breakdown && r === a.rounds - 1) console.log(breakdown);
  }
  const sorted = [...results].sort((x, y) => x - y);
  console.log(
    `delivery-store root=${a.root} n=${a.n} history=${a.history} batch=${a.batch} in-flight=${a.inFlight}: ` +
      `${sorted[0]!.toFixed(1)} µs CPU/delivery (least disturbed of ${a.rounds}), median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)}`,
  );
}

await main();
