// `b3os-router status [--json]`: the live servers on this database (a heartbeat under 30 s old)
// with their version and rules hash, and the queue. Either engine: SQLite has at most one server.
import { REPLICA_DEFAULTS } from '../config/defaults.js';
import { isLive } from '../ops/replicas.js';
import { bool, parse } from './args.js';
import { iso, openStore, printJson, printTable } from './context.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv);
  const store = openStore(p, 'read');
  try {
    const now = Date.now();
    const live = (await store.replicas()).filter((r) => isLive(r, now));
    const queue = await store.stats(now);
    const hashes = new Set(live.map((r) => r.rulesHash).filter((h) => h !== ''));
    if (bool(p, 'json')) {
      printJson({
        engine: store.engine,
        replicas: live.map((r) => ({
          host: r.host,
          pid: r.pid,
          version: r.version,
          rules_hash: r.rulesHash,
          last_seen: iso(r.lastSeenAt),
          started: iso(r.startedAt),
        })),
        queue: { pending: queue.queueDepth, oldest_due_age_seconds: Math.round(queue.oldestDueAgeSeconds * 1000) / 1000 },
        rules_consistent: hashes.size <= 1,
      });
      return 0;
    }
    if (live.length === 0) process.stdout.write(`no live server (none with a heartbeat in the last ${REPLICA_DEFAULTS.liveMs / 1000} s)\n`);
    else
      printTable(
        ['HOST', 'PID', 'VERSION', 'RULES', 'LAST SEEN'],
        live.map((r) => [r.host, r.pid, r.version, r.rulesHash.slice(0, 12), `${Math.max(0, Math.round((now - r.lastSeenAt) / 1000))}s ago`]),
      );
    if (hashes.size > 1) process.stdout.write(`warning: the live servers run ${hashes.size} different rules files; deploy the same file everywhere\n`);
    process.stdout.write(`queue: ${queue.queueDepth} pending, oldest due ${Math.round(queue.oldestDueAgeSeconds)}s ago\n`);
    return 0;
  } finally {
    await store.close();
  }
}
