// Harness (not part of `npm run bench`): one router replica on PostgreSQL (or --replicas N) under load, with where its
// time goes. Starts a durable PostgreSQL (the bench's settings, plus pg_stat_statements), a sink
// and one `serve`; drives it closed-loop (autocannon, --connections) or open-loop at a fixed rate
// (--rate); prints req/s, p99, CPU per accepted event of the router (all threads) and of the
// PostgreSQL processes, and the statements by calls and time (batches = calls of the ingest one).
//
//   node dist/bench/pg-replica.js [--seconds 5] [--connections 50] [--rate N] [--replicas 1] [--sqlite] [--cpu-prof DIR]
// With several replicas the connections (or the rate) are split evenly; CPU is summed over them.
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startPostgres } from '../test/helpers/postgres.js';
import { cpuSecondsOf, load, startRouter, startSink, until } from './common.js';
import { oneRule } from './delivery.js';
import { openLoop } from './openloop.js';
import { cpuSecondsOfAll, postgresProcesses } from './pg-cpu.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    rate: { type: 'string' },
    sqlite: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    statements: { type: 'string', default: '12' },
    replicas: { type: 'string', default: '1' },
    /** Sample what the router's connections are doing (pg_stat_activity) every 5 ms during the load. */
    waits: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);

const dir = mkdtempSync(join(tmpdir(), 'b3os-pgrep-'));
const sink = await startSink();
const server = values.sqlite ? null : await startPostgres({ durable: true });
try {
  let dbUrl: string | undefined;
  let admin: pg.Client | null = null;
  if (server) {
    const c = new pg.Client({ connectionString: server.url() });
    await c.connect();
    await c.query(`ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`);
    await c.query(`ALTER SYSTEM SET pg_stat_statements.track_planning = on`);
    await c.end();
    await server.restart();
    dbUrl = await server.createDatabase();
    admin = new pg.Client({ connectionString: dbUrl });
    admin.on('error', () => undefined);
    await admin.connect();
    await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  }
  const replicas = values.sqlite ? 1 : Number(values.replicas);
  const routers = await Promise.all(
    Array.from({ length: replicas }, (_, i) =>
      startRouter({
        dir: join(dir, `router-${i}`),
        rules: oneRule(sink.url),
        db: dbUrl,
        env: { DB_POOL_MAX: '8' },
        nodeArgs: values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [],
      }),
    ),
  );
  const routerCpu = () => routers.reduce((a, r) => a + cpuSecondsOf(r.pid), 0);
  try {
    const accepted = new Set<string>();
    await Promise.all(routers.map((r, i) => load({ url: r.url, connections: 10, amount: 500, idPrefix: `warm${i}`, onOk: (id) => accepted.add(id) })));
    await until(async () => (await sink.stats()).unique >= accepted.size, 60_000, 'warm-up deliveries', 20);
    await sink.reset();
    accepted.clear();
    if (admin) {
      await admin.query('SELECT pg_stat_statements_reset()');
      await admin.query(`SELECT pg_stat_reset_shared('wal')`);
    }
    const pids = admin ? await postgresProcesses(admin) : [];
    const waits = new Map<string, number>();
    let sampling = values.waits && admin !== null;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await admin!.query(
          `SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU') AS w, state, left(query, 30) AS q FROM pg_stat_activity
           WHERE application_name LIKE 'b3os-router%' AND pid <> pg_backend_pid() AND state <> 'idle'`,
        );
        for (const r of rows) waits.set(`${r.w} | ${r.state} | ${r.q}`, (waits.get(`${r.w} | ${r.state} | ${r.q}`) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const r0 = routerCpu();
    const p0 = cpuSecondsOfAll(pids);
    let rps: number;
    let p99: number;
    if (values.rate) {
      const runs = await Promise.all(
        routers.map((x, i) => openLoop({ url: x.url, rate: Number(values.rate) / replicas, seconds, idPrefix: `ol${i}`, onOk: (id) => accepted.add(id) })),
      );
      rps = runs.reduce((a, r) => a + r.rps, 0);
      p99 = Math.max(...runs.map((r) => r.p99));
    } else {
      const runs = await Promise.all(
        routers.map((x, i) =>
          load({
            url: x.url,
            connections: Math.max(1, Math.floor(connections / replicas)),
            duration: seconds,
            idPrefix: `cl${i}`,
            onOk: (id) => accepted.add(id),
          }),
        ),
      );
      rps = runs.reduce((a, r) => a + r.requests.total / r.duration, 0);
      p99 = Math.max(...runs.map((r) => r.latency.p99));
    }
    const r1 = routerCpu();
    sampling = false;
    await sampler;
    const p1 = cpuSecondsOfAll(pids);
    await until(async () => (await sink.stats()).unique >= accepted.size, 120_000, 'deliveries', 20);
    const r2 = routerCpu();
    const n = accepted.size;
    console.log(
      JSON.stringify({
        engine: server ? 'postgres' : 'sqlite',
        replicas,
        rps: Math.round(rps),
        p99,
        accepted: n,
        routerCpuUsPerEventLoad: Math.round(((r1 - r0) * 1e6) / n),
        routerCpuUsPerEventToDelivered: Math.round(((r2 - r0) * 1e6) / n),
        routerCpuShareDuringLoad: +((r1 - r0) / seconds).toFixed(2),
        pgCpuUsPerEvent: server ? Math.round(((p1 - p0) * 1e6) / n) : null,
        pgCpuShareDuringLoad: server ? +((p1 - p0) / seconds).toFixed(2) : null,
      }),
    );
    if (waits.size > 0)
      console.table(
        [...waits]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 15)
          .map(([k, n]) => ({ samples: n, what: k.replace(/\s+/g, ' ') })),
      );
    if (admin) {
      const wal = await admin.query(`SELECT wal_records, wal_bytes FROM pg_stat_wal`);
      const io = await admin.query(`SELECT sum(fsyncs) AS fsyncs, sum(writes) AS writes FROM pg_stat_io WHERE object = 'wal'`);
      console.log(JSON.stringify({ ...wal.rows[0], ...io.rows[0] }));
      const { rows } = await admin.query(
        `SELECT calls, rows, round(total_exec_time::numeric, 1) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms, plans, round(total_plan_time::numeric, 1) AS plan_ms,
                wal_records, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS q
         FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
         ORDER BY calls DESC LIMIT $1`,
        [Number(values.statements)],
      );
      console.table(rows);
    }
  } finally {
    for (const r of routers) await r.stop();
    await admin?.end();
  }
} finally {
  await server?.stop();
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
}
