// Several real `serve` processes on one real PostgreSQL database, for the multi-replica test files:
// one server per file, a fresh database per test (server.createDatabase()), and every replica and
// receiver a test starts stopped after it, so the server's connections are free for the next test.
import { after, afterEach, before } from 'node:test';
import pg from 'pg';
import { tempDir } from './cli.js';
import { startPostgres, type PostgresServer } from './postgres.js';
import { startHttpReceiver, type HttpReceiver, type HttpReplyScript } from './receivers.js';
import { startRouter, type RouterProcess } from './router.js';

export interface ReplicaSuite {
  /** The file's PostgreSQL server (set once the suite's `before` has run). */
  readonly server: PostgresServer;
  /** Runs after the current test, newest first. */
  cleanup(fn: () => Promise<void> | void): void;
  /** Starts `n` replicas on `db` at once, each in its own folder with the same rules; killed after the test. */
  replicas(n: number, db: string, rules: string, env?: Record<string, string>): Promise<RouterProcess[]>;
  /** A local receiver, closed after the test. */
  receiver(defaultReply?: HttpReplyScript): Promise<HttpReceiver>;
}

/** Registers the file's hooks (call once, at the top of a test file). */
export function replicaSuite(defaultEnv: Record<string, string> = { DB_POOL_MAX: '4' }): ReplicaSuite {
  let server: PostgresServer | undefined;
  const cleanups: (() => Promise<void> | void)[] = [];
  before(async () => {
    server = await startPostgres();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  after(async () => {
    await server?.stop();
  });
  return {
    get server() {
      if (!server) throw new Error('the PostgreSQL server is not started yet');
      return server;
    },
    cleanup: (fn) => void cleanups.push(fn),
    replicas: (n, db, rules, env = {}) =>
      Promise.all(
        Array.from({ length: n }, async () => {
          const tmp = tempDir('b3os-replica-');
          cleanups.push(tmp.cleanup);
          const r = await startRouter({ dir: tmp.dir, rules, dbPath: db, env: { ...defaultEnv, ...env }, timeoutMs: 30_000 });
          cleanups.push(() =>
            r.stop('SIGKILL').then(
              () => undefined,
              () => undefined,
            ),
          );
          return r;
        }),
      ),
    async receiver(defaultReply) {
      const r = await startHttpReceiver(defaultReply === undefined ? {} : { defaultReply });
      cleanups.push(() => r.close());
      return r;
    },
  };
}

/** One query on its own connection (for reading what the replicas wrote). */
export async function queryDb<T = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}
