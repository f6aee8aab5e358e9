// The delivery worker: claims due deliveries from the store, and takes each through named steps:
// gate (the send-time check) → compose (what the destination receives) → attempt (the guarded
// send through the destination's channel) → settle (what the result makes of the delivery, pure)
// → record. It owns retries, backoff and bookkeeping; channels only send.
//
// Concurrency: a global bound and a per-destination bound (`concurrency`), so one slow or failing
// destination never starves the others. Order is not guaranteed, across or within destinations.
// Crash safety: a claim is a lease in the database; a delivery whose sender died becomes due again
// when the lease lapses (and at once when the sole server restarts, see start()).
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { WORKER_DEFAULTS } from '../config/defaults.js';
import type { Destination, EventObject, RouterConfig } from '../config/types.js';
import { eventType as readType } from '../event/accessors.js';
import type { Digest } from '../event/model.js';
import { loadDigest } from '../dispatch/digest.js';
import type { DeliveryMetrics } from '../ops/metrics.js';
import { ruleNamed } from '../route/route.js';
import type { SilenceCache } from '../silence/cache.js';
import type { ClaimRequest, ClaimedDelivery, DeliveryUpdate, Store } from '../store/store.js';
import { attempt } from './attempt.js';
import type { SendResult } from './channels/channel.js';
import type { Lease } from './channels/index.js';
import { compose } from './compose.js';
import { gate } from './gate.js';
import { settle } from './settle.js';

export interface WorkerDeps {
  store: Store;
  rules(): RouterConfig;
  /** Channels per destination (channels/index.ts ChannelRegistry). */
  channels: { lease(dest: Destination): Lease; sync?(destinations: ReadonlyMap<string, Destination>): void };
  metrics: DeliveryMetrics;
  log: Logger;
  options?: Partial<WorkerOptions>;
  /** Noise control: the silences, checked again before each send (gate.ts). */
  silences: SilenceCache;
}

export type WorkerOptions = { -readonly [K in keyof typeof WORKER_DEFAULTS]: number };

function log(logger: Logger, c: ClaimedDelivery, note: string): void {
  logger.warn({ delivery: c.id, rule: c.rule, destination: c.destination, error: note }, 'a template failed to render; sending the default instead');
}

export class DeliveryWorker {
  private readonly opts: WorkerOptions;
  private readonly inFlight = new Set<Promise<void>>();
  /** Deliveries this worker is sending or recording now; a claim that returns one again (its
   * lease lapsed while its outcome waited for the database) must not send it twice. */
  private readonly held = new Set<string>();
  private readonly perDestination = new Map<string, number>();
  private readonly abort = new AbortController();
  private pending: { update: DeliveryUpdate; destination: string; done: (claimed: boolean) => void }[] = [];
  private flushing: NodeJS.Immediate | NodeJS.Timeout | null = null;
  /** An outcome write is in flight: what finishes meanwhile waits for it and goes in the next. */
  private writing = false;
  /** Set at the end of shutdown: outcomes that still cannot be written are left to the restart. */
  private abandonWrites = false;
  private pumping = false;
  private synced: RouterConfig | null = null;
  /** The leases of the rules in force (set with `synced`): they depend on the rules alone. */
  private leases: { byDestination: Map<string, number>; otherMs: number } = { byDestination: new Map(), otherMs: 0 };
  private claimFailing = false;
  private again = false;
  private stopping = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: WorkerDeps) {
    this.opts = { ...WORKER_DEFAULTS, ...deps.options };
    // Every send in flight listens on the shutdown signal; that is by design, not a leak.
    setMaxListeners(0, this.abort.signal);
  }

  async start(): Promise<void> {
    // One server per database (README): whatever a previous life of this server had claimed is
    // due again now, rather than after its lease lapses.
    try {
      const released = await this.deps.store.releaseLeases();
      if (released > 0) this.deps.log.info({ released }, 'resuming deliveries claimed before the last stop');
    } catch (err) {
      // The database is away: the claims lapse with their leases; claiming resumes when it is back.
      this.deps.log.warn({ err: { message: (err as Error).message } }, 'could not take back earlier claims now; their leases will lapse');
    }
    void this.pump();
  }

  private wakeScheduled = false;

  /** Look for due deliveries soon (after ingest committed some, or a send finished). Wakes in one
   * turn of the event loop share one claim. */
  wake(): void {
    if (this.stopping || this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      void this.pump();
    });
  }

  private schedule(): void {
    if (this.stopping) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.pump();
    }, this.opts.pollMs);
    this.timer.unref();
  }

  /** What a claim may take now: room per destination and in all. `freed` are the deliveries whose
   * outcomes are being written with this claim: their slots count as free. */
  private claimRequest(config: RouterConfig, freed: readonly string[]): ClaimRequest | null {
    const free = this.opts.globalConcurrency - this.inFlight.size + freed.length;
    if (free <= 0 || this.stopping) return null;
    if (config !== this.synced) {
      // New rules: channels of changed or removed destinations are replaced (closed once idle).
      this.synced = config;
      this.deps.channels.sync?.(config.destinations);
      // Each delivery leased for its own send (contract §8: a dead replica's are sent by another
      // within timeout + margin), not for the slowest destination's; one no longer in the rules
      // for the slowest.
      const byDestination = new Map<string, number>();
      let maxTimeout = 0;
      for (const d of config.destinations.values()) {
        byDestination.set(d.name, d.delivery.timeoutMs + this.opts.leaseMarginMs);
        maxTimeout = Math.max(maxTimeout, d.delivery.timeoutMs);
      }
      this.leases = { byDestination, otherMs: maxTimeout + this.opts.leaseMarginMs };
    }
    const freedBy = new Map<string, number>();
    for (const d of freed) freedBy.set(d, (freedBy.get(d) ?? 0) + 1);
    const room = new Map<string, number>();
    for (const d of config.destinations.values()) {
      // A disabled destination is muted, not emptied: its deliveries wait, pending.
      const busy = (this.perDestination.get(d.name) ?? 0) - (freedBy.get(d.name) ?? 0);
      room.set(d.name, d.enabled ? d.delivery.concurrency - busy : 0);
    }
    return {
      now: Date.now(),
      leaseMs: this.leases.otherMs,
      leases: this.leases.byDestination,
      room,
      // Deliveries to destinations no longer in the rules are settled one at a time.
      defaultRoom: 1,
      limit: free,
    };
  }

  /** Starts the claimed deliveries (one this worker still holds is not sent twice). */
  private take(claimed: ClaimedDelivery[], config: RouterConfig): void {
    if (this.claimFailing) this.deps.log.info('claiming deliveries again');
    this.claimFailing = false;
    for (const c of claimed) if (!this.held.has(c.id)) this.launch(c, config);
  }

  private async pump(): Promise<void> {
    // One claim at a time (here or with a batch of outcomes, in flush): each counts the slots
    // the other has not yet filled, so two at once could overfill a destination.
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        const config = this.deps.rules();
        const req = this.claimRequest(config, []);
        if (req === null) break;
        const claimed = await this.deps.store.claimDue(req);
        this.take(claimed, config);
        if (claimed.length === req.limit) this.again = true;
      } while (this.again && !this.stopping);
    } catch (err) {
      this.claimFailed(err);
    } finally {
      this.pumping = false;
      this.schedule();
    }
  }

  private claimFailed(err: unknown): void {
    // Once per outage, not once per poll: deliveries pause until the database answers again.
    if (!this.claimFailing)
      this.deps.log.error({ err: { message: (err as Error).message } }, 'could not claim deliveries; deliveries paused, will keep trying');
    this.claimFailing = true;
  }

  private launch(c: ClaimedDelivery, config: RouterConfig): void {
    this.perDestination.set(c.destination, (this.perDestination.get(c.destination) ?? 0) + 1);
    this.held.add(c.id);
    const p = this.deliver(c, config)
      .catch((err) => {
        this.deps.log.error({ err: { message: (err as Error).message }, delivery: c.id }, 'delivery bookkeeping failed; it will be retried');
        return false;
      })
      .then((claimedWithOutcome) => {
        // When the outcome's transaction also claimed, flush() released this id already, and the
        // claim may have taken it back (due again at once): that new send holds it now.
        if (!claimedWithOutcome) this.held.delete(c.id);
        this.inFlight.delete(p);
        const busy = (this.perDestination.get(c.destination) ?? 1) - 1;
        this.perDestination.set(c.destination, busy);
        // The transaction that wrote this outcome also claimed for its slot: nothing to do.
        if (claimedWithOutcome) return;
        // A claim is a write transaction: rather than one per finished send, claim once a quarter
        // of the destination's slots is free, or when it has nothing left in flight. (Ingest wakes
        // the worker at once, and the poll timer still runs.)
        const concurrency = config.destinations.get(c.destination)?.delivery.concurrency ?? 1;
        if (busy === 0 || concurrency - busy >= Math.ceil(concurrency / 4)) this.wake();
      });
    this.inFlight.add(p);
  }

  /** Resolves true when the transaction that recorded the outcome also claimed for its slot. */
  private async deliver(c: ClaimedDelivery, config: RouterConfig): Promise<boolean> {
    const dest = config.destinations.get(c.destination) ?? null;
    const log = this.deps.log;
    const metrics = this.deps.metrics;
    let event: EventObject;
    try {
      event = JSON.parse(c.eventPayload) as EventObject;
    } catch {
      event = {};
    }
    // Noise control: the events a digest carries (read once per attempt, only for a digest).
    const digest = await loadDigest(this.deps.store, c, config.server.fields);
    const verdict = await gate(c, dest, config, event, this.deps.store, Date.now(), { silences: this.deps.silences, digest });
    if (!verdict.allowed) {
      if (verdict.update === null) {
        log.warn({ delivery: c.id, destination: c.destination }, 'a claimed delivery was no longer waiting; not sent');
        return false;
      }
      if (verdict.silenced) {
        log.info({ delivery: c.id, rule: c.rule, destination: c.destination, reason: verdict.reason }, 'delivery silenced at send time');
        metrics.deliveries.inc({ destination: c.destination, status: 'silenced' });
        return this.record(verdict.update, c.destination);
      }
      log.warn({ delivery: c.id, rule: c.rule, destination: c.destination, reason: verdict.reason }, 'privileged delivery blocked by policy at send time');
      metrics.policyBlocked.inc({ rule: c.rule, destination: c.destination });
      metrics.deliveries.inc({ destination: c.destination, status: 'blocked' });
      return this.record(verdict.update, c.destination);
    }

    const startedAt = Date.now();
    const result = dest
      ? await this.send(c, dest, config, event, digest)
      : ({ outcome: 'permanent', code: null, error: `destination "${c.destination}" is no longer in the rules file` } satisfies SendResult);
    const durationMs = Date.now() - startedAt;
    const update = settle(c, { result, startedAt, durationMs, cut: this.abort.signal.aborted }, dest?.delivery ?? config.delivery, Date.now());
    if (update === null) return false; // cut short by shutdown: not an attempt; resumed at start
    metrics.attempts.observe({ channel: dest?.type ?? 'none', outcome: result.outcome }, durationMs / 1000);
    const ctx = { delivery: c.id, rule: c.rule, destination: c.destination, attempt: c.attempts + 1, code: result.code };
    if (update.status === 'delivered') {
      metrics.deliveries.inc({ destination: c.destination, status: 'delivered' });
      log.debug(ctx, 'delivered');
    } else if (update.status === 'dead') {
      metrics.deliveries.inc({ destination: c.destination, status: 'dead' });
      log.error({ ...ctx, error: update.reason }, 'delivery is dead');
    } else {
      log.warn({ ...ctx, error: update.reason, retryInMs: (update.nextAttemptAt ?? Date.now()) - Date.now() }, 'delivery failed; will retry');
    }
    return this.record(update, c.destination);
  }

  /** compose → attempt, through the destination's current channel. */
  private async send(c: ClaimedDelivery, dest: Destination, config: RouterConfig, event: EventObject, digest: Digest | null): Promise<SendResult> {
    const type = c.eventType ?? readType(event, config.server.fields);
    const { payload, notes } = compose({
      destination: dest,
      rule: ruleNamed(config, c.rule),
      ruleName: c.rule,
      event,
      raw: c.eventPayload,
      type,
      digest,
      deliveryId: c.id,
      attempt: c.attempts + 1,
      fields: config.server.fields,
      now: Date.now(),
    });
    for (const note of notes) log(this.deps.log, c, note);
    const lease = this.deps.channels.lease(dest);
    try {
      return await attempt(lease.channel, payload, dest.delivery.timeoutMs + 5_000, this.abort.signal);
    } finally {
      lease.release();
    }
  }

  /**
   * Outcomes are written in batches: one transaction at a time, with what finished since the last, which also claims
   * what the batch's slots can take next (when the engine can, and no other claim is running). The
   * delivery's slot is held until its outcome is written; a write that fails is tried again every
   * second, so a full or locked database never turns into the same delivery being sent again and again.
   */
  private record(update: DeliveryUpdate, destination: string): Promise<boolean> {
    return new Promise<boolean>((done) => {
      this.pending.push({ update, destination, done });
      this.scheduleFlush(0);
    });
  }

  private scheduleFlush(delayMs: number): void {
    if (this.flushing !== null) return;
    this.flushing = delayMs === 0 ? setImmediate(() => this.flush()) : setTimeout(() => this.flush(), delayMs);
  }

  private flush(): void {
    this.flushing = null;
    // One write at a time, as group commit does for ingest: while one waits for its turn at the
    // database (thread/write-lock.ts) the outcomes that come meanwhile gather into the next,
    // instead of each turn of the loop queueing a transaction of its own (measured on both
    // engines: on PostgreSQL too the batches grow, and deliveries/s did not fall). Not when
    // shutdown has cut sends short: the last outcomes then wait for their turn beside the write in
    // flight, not after it, inside shutdown's last second.
    if (this.writing && !this.abandonWrites) return;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const updates = batch.map((b) => b.update);
    const store = this.deps.store;
    const config = this.deps.rules();
    const claim =
      !this.pumping && !this.abandonWrites
        ? this.claimRequest(
            config,
            batch.map((b) => b.destination),
          )
        : null;
    if (claim) this.pumping = true;
    const written = claim ? store.finishAndClaim(updates, claim) : store.finish(updates).then(() => null);
    this.writing = true;
    written
      .then(
        (claimed) => {
          // Their slots are free now (the claim counted them so); the rest of their bookkeeping
          // follows in the launch's continuation.
          for (const b of batch) this.held.delete(b.update.id);
          for (const b of batch) b.done(claimed !== null);
          if (claimed === null || claim === null) return;
          try {
            this.take(claimed, config);
          } finally {
            this.pumping = false;
          }
          // A wake that came while this claim ran (it set `again`) is honoured on the next turn,
          // once the batch's continuations have given back their slots.
          if (claimed.length === claim.limit || this.again) this.wake();
          else this.schedule();
        },
        (err) => {
          if (claim) {
            this.pumping = false;
            if (this.again) this.wake();
            else this.schedule();
          }
          if (this.abandonWrites) {
            // Shutting down: the deliveries keep their claim, which the next start releases.
            this.deps.log.error(
              { err: { message: (err as Error).message }, deliveries: batch.length },
              'could not record delivery outcomes; they will be sent again after restart',
            );
            for (const b of batch) b.done(false);
            return;
          }
          this.deps.log.error({ err: { message: (err as Error).message }, deliveries: batch.length }, 'could not record delivery outcomes; trying again in 1s');
          this.pending.unshift(...batch);
          this.scheduleFlush(1_000);
        },
      )
      .finally(() => {
        this.writing = false;
        if (this.pending.length > 0) this.scheduleFlush(0);
      });
  }

  /** Stops claiming; in-flight sends get `drainMs` to finish, then are cut short (they stay pending). */
  async stop(drainMs = this.opts.drainMs): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const deadline = (ms: number) => {
      let t: NodeJS.Timeout | undefined;
      return { done: new Promise<'timeout'>((r) => (t = setTimeout(() => r('timeout'), ms))), clear: () => clearTimeout(t) };
    };
    // Until nothing is in flight: a claim that was running when stop began may still launch sends.
    const all = async () => {
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    };
    const d1 = deadline(drainMs);
    const timedOut = (await Promise.race([all(), d1.done])) === 'timeout';
    d1.clear();
    if (timedOut) {
      this.deps.log.warn({ inFlight: this.inFlight.size }, 'shutdown: cutting in-flight sends short; they stay pending');
      this.abort.abort();
      this.abandonWrites = true;
      this.flush();
      const d2 = deadline(1_000);
      await Promise.race([all(), d2.done]);
      d2.clear();
    }
  }
}
