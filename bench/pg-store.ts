// Harness (not part of `npm run bench`): the PostgreSQL store's own cost, in process, without HTTP.
// A durable PostgreSQL (the bench's settings); batches of `--batch` events ingested one batch at a
// time, then the deliveries taken through claim and finish as the worker does (finish, then
// claimDue; or finishAndClaim where the store has it). Prints, per event and per delivery, this
// process's CPU (process.cpuUsage), the PostgreSQL processes' CPU (/proc) and the wall time.
//
//   node dist/bench/pg-store.js [--store DIST_DIR] [--batch 25] [--batches 200] [--rounds 3] [--separate]
// --store: another build's dist/ (e.g. the base commit's), to compare its PostgresStore with this one.
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startPostgres } from '../test/helpers/postgres.js';
import type { ClaimRequest, ClaimedDelivery, DeliveryUpdate, IngestItem, Store } from '../src/store/store.js';
import { BENCH_DIST, benchItem } from './common.js';
import { cpuSecondsOfAll, postgresProcesses } from './pg-cpu.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string' },
    batch: { type: 'string', default: '25' },
    batches: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
    /** finish then claimDue even where the store has finishAndClaim. */
    separate: { type: 'boolean', default: false },
  },
});
const batch = Number(values.batch);
const batches = Number(values.batches);
const dist = resolve(values.store ?? join(BENCH_DIST, '..'));
type PgStore = Store & { finishAndClaim?(u: DeliveryUpdate[], c: ClaimRequest): Promise<ClaimedDelivery[]> };
const { PostgresStore } = (await import(pathToFileURL(join(dist, 'src/store/postgres.js')).href)) as {
  PostgresStore: new (url: string, o: { poolMax: number; replicaId: string }) => PgStore;
};

const body = (i: number) =>
  JSON.stringify({ id: `e${i}`, type: 'run.failed', data: { workflowId: 'wf_bench', runId: `run_${i}`, error: { message: 'step "post-ledger" timed out' } } });
let n = 0;
function item(at: number): IngestItem {
  const i = n++;
  return benchItem(`e${i}`, at, body(i));
}

const server = await startPostgres({ durable: true });
try {
  const url = await server.createDatabase();
  const store = new PostgresStore(url, { poolMax: 4, replicaId: 'bench' });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await store.ingest([item(Date.now())]); // schema, connections
    const measure = async (what: string, count: number, fn: () => Promise<void>) => {
      // Listed for each measurement: the pool opens server processes as it grows.
      const pids = await postgresProcesses(admin);
      const pg0 = cpuSecondsOfAll(pids);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await fn();
      const wall = performance.now() - t0;
      const c = process.cpuUsage(c0);
      const pg1 = cpuSecondsOfAll(pids);
      return {
        what,
        count,
        nodeUs: Math.round((c.user + c.system) / count),
        pgUs: Math.round(((pg1 - pg0) * 1e6) / count),
        wallUs: Math.round((wall * 1000) / count),
      };
    };
    const claimReq = (): ClaimRequest => ({ now: Date.now(), leaseMs: 40_000, room: new Map([['bench-hook', batch]]), defaultRoom: 1, limit: batch });
    const outcome = (c: ClaimedDelivery): DeliveryUpdate => ({
      id: c.id,
      attempt: { deliveryId: c.id, attempt: 1, startedAt: Date.now(), durationMs: 3, outcome: 'delivered', code: '200', error: null },
      status: 'delivered',
      nextAttemptAt: null,
      reason: null,
    });
    await store.finish((await store.claimDue(claimReq())).map(outcome)); // the warm-up's delivery
    const together = values.separate ? undefined : store.finishAndClaim?.bind(store);
    for (let r = 0; r < Number(values.rounds); r++) {
      const out = [];
      out.push(
        await measure('ingest (per event)', batch * batches, async () => {
          for (let b = 0; b < batches; b++) {
            const now = Date.now();
            const res = await store.ingest(Array.from({ length: batch }, () => item(now)));
            if (res.some((x) => x.status !== 'accepted')) throw new Error(`not accepted: ${JSON.stringify(res.find((x) => x.status !== 'accepted'))}`);
          }
        }),
      );
      // The worker's cycle: a batch of outcomes recorded, then the next batch claimed.
      let held = await store.claimDue(claimReq());
      let done = 0;
      out.push(
        await measure(together ? 'finishAndClaim (per delivery)' : 'finish + claimDue (per delivery)', batch * batches - batch, async () => {
          while (held.length > 0) {
            done += held.length;
            const updates = held.map(outcome);
            if (together) held = await together(updates, claimReq());
            else {
              await store.finish(updates);
              held = await store.claimDue(claimReq());
            }
          }
        }),
      );
      if (done !== batch * batches) throw new Error(`${done} deliveries went through, not ${batch * batches}`);
      console.log(JSON.stringify({ round: r, batch, store: dist, results: out }));
    }
  } finally {
    await admin.end();
    await store.close();
  }
} finally {
  await server.stop();
}
