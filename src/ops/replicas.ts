// A serving process's presence in its database: the server lock (SQLite: one server) or a
// heartbeat row among many (PostgreSQL), refreshed every few seconds with the version and the
// hash of the rules file in force. Replicas are meant to run the same rules file; one whose hash
// differs from the other live replicas' says so in its log, and /metrics shows every replica's
// hash (b3os_router_rules_info{hash}), so a dashboard can tell them apart. It keeps working.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { REPLICA_DEFAULTS } from '../config/defaults.js';
import type { Store, StoredReplica } from '../store/store.js';
import { VERSION } from './version.js';

export const isLive = (r: StoredReplica, now: number) => now - r.lastSeenAt < REPLICA_DEFAULTS.liveMs;

export class ReplicaPresence {
  private timer: NodeJS.Timeout | undefined;
  private readonly gauge: Gauge<'hash'>;
  private shownHash = '';
  private warned = '';
  private readonly host = hostname();

  constructor(
    private readonly store: Store,
    private readonly rulesHash: () => string,
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.gauge = new Gauge({
      name: 'b3os_router_rules_info',
      help: 'The rules file in force, by the SHA-256 of its text; the value is always 1. Replicas sharing a database should all show the same hash.',
      labelNames: ['hash'] as const,
      registers: [registry],
    });
    this.refresh();
  }

  private info() {
    return { version: VERSION, rulesHash: this.rulesHash() };
  }

  /** After a reload: the gauge shows the new hash at once (the row follows at the next beat). */
  refresh(): void {
    const hash = this.rulesHash();
    if (hash === this.shownHash) return;
    this.gauge.reset();
    this.gauge.set({ hash }, 1);
    this.shownHash = hash;
  }

  async claim(): Promise<{ ok: true } | { ok: false; holder: string }> {
    const lock = await this.store.acquireServerLock(process.pid, this.host, Date.now(), this.info());
    if (lock.ok) await this.compare().catch(() => undefined);
    return lock;
  }

  start(): void {
    this.timer = setInterval(() => void this.beat(), REPLICA_DEFAULTS.heartbeatMs);
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    try {
      this.refresh();
      await this.store.heartbeat(process.pid, Date.now(), this.info());
      await this.compare();
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'could not refresh the heartbeat; will try again');
    }
  }

  /** Logs once per change when the other live replicas run other rules than this one. */
  private async compare(): Promise<void> {
    const now = Date.now();
    const mine = this.rulesHash();
    const others = (await this.store.replicas()).filter((r) => isLive(r, now) && !(r.host === this.host && r.pid === process.pid) && r.rulesHash !== '');
    const differ = others.filter((r) => r.rulesHash !== mine);
    const signature = differ
      .map((r) => `${r.host}:${r.pid}:${r.rulesHash}`)
      .sort()
      .join(',');
    if (signature === this.warned) return;
    this.warned = signature;
    if (differ.length === 0) {
      if (others.length > 0) this.log.info({ rules: mine.slice(0, 12), replicas: others.length + 1 }, "rules file the same as the other replicas'");
      return;
    }
    this.log.warn(
      { rules: mine.slice(0, 12), others: differ.map((r) => ({ host: r.host, pid: r.pid, rules: r.rulesHash.slice(0, 12) })) },
      'this replica runs a different rules file than other live replicas on the same database; deploy the same file everywhere',
    );
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async release(): Promise<void> {
    await this.store.releaseServerLock(process.pid);
  }
}
