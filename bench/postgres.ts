// Scenario "postgres" (issue 12): the router on PostgreSQL, one replica and two, beside the router
// on SQLite in the same run. The same one-rule file as "delivery" (a webhook to the sink). Each
// target: a warm-up, then closed-loop load with 50 connections in all (two replicas: the driver
// splits them, 25 to each, i.e. round-robin by connection), then until every accepted event has
// reached the sink. PostgreSQL is a real server (the test suite's binaries) with its durability
// defaults (fsync on, synchronous_commit on), on the same machine and cores as the routers.
import { join } from 'node:path';
import { startPostgres } from '../test/helpers/postgres.js';
import { load, mean, sleep, startRouter, summarize, until, type Sink, type Target } from './common.js';
import { oneRule } from './delivery.js';

export interface PgTargetResult {
  target: string;
  replicas: number;
  rps: number;
  /** The worst replica's p99 (ms). */
  p99: number;
  accepted: number;
  non2xx: number;
  deliveriesPerSecond: number;
  missingAtSink: number;
}

export interface PostgresResult {
  seconds: number;
  connections: number;
  targets: PgTargetResult[];
  ratios: { oneVsSqlite: number; twoVsOne: number; deliveriesOneVsSqlite: number; deliveriesTwoVsOne: number };
}

async function measure(name: string, routers: Target[], sink: Sink, o: { seconds: number; connections: number; warmup: number }): Promise<PgTargetResult> {
  const accepted = new Set<string>();
  const each = Math.max(1, Math.floor(o.connections / routers.length));
  await Promise.all(
    routers.map((r, i) => load({ url: r.url, connections: 10, amount: o.warmup, idPrefix: `pgwarm-${name}-${i}`, onOk: (id) => accepted.add(id) })),
  );
  await until(async () => (await sink.stats()).unique >= accepted.size, 60_000, `${name}: warm-up deliveries`, 20);
  await sink.reset();
  accepted.clear();
  const start = Date.now();
  const runs = await Promise.all(
    routers.map((r, i) => load({ url: r.url, connections: each, duration: o.seconds, idPrefix: `pg-${name}-${i}`, onOk: (id) => accepted.add(id) })),
  );
  const deadline = Date.now() + 180_000;
  await until(async () => (await sink.stats()).unique >= accepted.size, 180_000, `${name}: ${accepted.size} deliveries at the sink`, 10);
  // Then until every accepted event is there (or the time is up: those not there are missing).
  // Requests cut off when the load stopped were stored and delivered without counting as
  // accepted, so as many events as were accepted can reach the sink before all accepted ones do.
  let missing = accepted.size;
  for (; missing > 0 && Date.now() < deadline; await sleep(20)) {
    const ids = new Set(await sink.ids());
    missing = 0;
    for (const id of accepted) if (!ids.has(id)) missing++;
  }
  const stats = await sink.stats();
  const sums = runs.map((r, i) => summarize(`${name}-${i}`, 1, r));
  return {
    target: name,
    replicas: routers.length,
    rps: sums.reduce((a, s) => a + s.requests, 0) / mean(sums.map((s) => s.seconds)),
    p99: Math.max(...sums.map((s) => s.p99)),
    accepted: accepted.size,
    non2xx: sums.reduce((a, s) => a + s.non2xx + s.errors, 0),
    deliveriesPerSecond: stats.unique / (((stats.lastAt ?? Date.now()) - start) / 1000),
    missingAtSink: missing,
  };
}

export async function runPostgres(o: {
  dir: string;
  sink: Sink;
  seconds: number;
  connections: number;
  warmup: number;
  routerNodeArgs: string[];
  log: (line: string) => void;
}): Promise<PostgresResult> {
  const rules = oneRule(o.sink.url);
  const server = await startPostgres({ durable: true });
  const targets: PgTargetResult[] = [];
  try {
    const run = async (name: string, n: number, db: () => Promise<string | undefined>) => {
      await o.sink.reset();
      const url = await db();
      const routers = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          startRouter({
            dir: join(o.dir, `pg-${name}-${i}`),
            rules,
            db: url,
            nodeArgs: o.routerNodeArgs,
            logFile: join(o.dir, `pg-${name}-${i}.log`),
            env: { DB_POOL_MAX: '8' },
          }),
        ),
      );
      try {
        o.log(`postgres: ${name}`);
        targets.push(await measure(name, routers, o.sink, o));
      } finally {
        for (const r of routers) {
          r.rss.stop();
          await r.stop();
        }
      }
    };
    await run('sqlite', 1, async () => undefined);
    await run('postgres-1', 1, () => server.createDatabase());
    await run('postgres-2', 2, () => server.createDatabase());
  } finally {
    await server.stop();
  }
  const [sqlite, one, two] = targets as [PgTargetResult, PgTargetResult, PgTargetResult];
  return {
    seconds: o.seconds,
    connections: o.connections,
    targets,
    ratios: {
      oneVsSqlite: one.rps / sqlite.rps,
      twoVsOne: two.rps / one.rps,
      deliveriesOneVsSqlite: one.deliveriesPerSecond / sqlite.deliveriesPerSecond,
      deliveriesTwoVsOne: two.deliveriesPerSecond / one.deliveriesPerSecond,
    },
  };
}
