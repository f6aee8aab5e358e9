// The delivery worker: claims due deliveries from the store, sends each through its channel, and
// records the outcome. It owns retries, backoff and bookkeeping; channels only send.
//
// Concurrency: a global bound and a per-destination bound (`concurrency`), so one slow or failing
// destination never starves the others. Order is not guaranteed, across or within destinations.
// Crash safety: a claim is a lease in the database; a delivery whose sender died becomes due again
// when the lease lapses (and at once when the sole server restarts, see start()).
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import { WORKER_DEFAULTS } from '../config/defaults.js';
import type { CompiledRule, Destination, EventObject, RouterConfig } from '../config/types.js';
import { eventType as readType } from '../ingest/event.js';
import type { DeliveryMetrics } from '../ops/metrics.js';
import { recheck } from '../policy/policy.js';
import { decideExisting } from '../policy/stored.js';
import { renderMessage } from '../rules/template.js';
import type { ClaimedDelivery, DeliveryUpdate, Store } from '../store/store.js';
import { nextAttemptDelay } from './backoff.js';
import type { Channel, Notification, SendResult } from './channels/channel.js';
import type { SendTimeNoise } from '../dispatch/send-time.js';
import type { Digest } from '../dispatch/digest.js';

export interface WorkerDeps {
  store: Store;
  rules(): RouterConfig;
  channels: { channelFor(dest: Destination): Channel };
  metrics: DeliveryMetrics;
  log: Logger;
  options?: Partial<WorkerOptions>;
  /** Noise control at send time: digests and silences (dispatch/send-time.ts). */
  noise?: SendTimeNoise;
}

export type WorkerOptions = { -readonly [K in keyof typeof WORKER_DEFAULTS]: number };

const rulesByName = new WeakMap<RouterConfig, Map<string, CompiledRule>>();

function ruleNamed(config: RouterConfig, name: string): CompiledRule | null {
  let m = rulesByName.get(config);
  if (!m) {
    m = new Map(config.rules.map((r) => [r.name, r]));
    rulesByName.set(config, m);
  }
  return m.get(name) ?? null;
}

export class DeliveryWorker {
  private readonly opts: WorkerOptions;
  private readonly inFlight = new Set<Promise<void>>();
  /** Deliveries this worker is sending or recording now; a claim that returns one again (its
   * lease lapsed while its outcome waited for the database) must not send it twice. */
  private readonly held = new Set<string>();
  private readonly perDestination = new Map<string, number>();
  private readonly abort = new AbortController();
  private pending: { update: DeliveryUpdate; done: () => void }[] = [];
  private flushing: NodeJS.Immediate | NodeJS.Timeout | null = null;
  /** Set at the end of shutdown: outcomes that still cannot be written are left to the restart. */
  private abandonWrites = false;
  private pumping = false;
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
    const released = await this.deps.store.releaseLeases();
    if (released > 0) this.deps.log.info({ released }, 'resuming deliveries claimed before the last stop');
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

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        const free = this.opts.globalConcurrency - this.inFlight.size;
        if (free <= 0 || this.stopping) break;
        const config = this.deps.rules();
        const room = new Map<string, number>();
        let maxTimeout = 0;
        for (const d of config.destinations.values()) {
          // A disabled destination is muted, not emptied: its deliveries wait, pending.
          room.set(d.name, d.enabled ? d.delivery.concurrency - (this.perDestination.get(d.name) ?? 0) : 0);
          maxTimeout = Math.max(maxTimeout, d.delivery.timeoutMs);
        }
        const claimed = await this.deps.store.claimDue({
          now: Date.now(),
          leaseMs: maxTimeout + this.opts.leaseMarginMs,
          room,
          // Deliveries to destinations no longer in the rules are settled one at a time.
          defaultRoom: 1,
          limit: free,
        });
        for (const c of claimed) if (!this.held.has(c.id)) this.launch(c, config);
        if (claimed.length === free) this.again = true;
      } while (this.again && !this.stopping);
    } catch (err) {
      this.deps.log.error({ err: { message: (err as Error).message } }, 'could not claim deliveries; will try again');
    } finally {
      this.pumping = false;
      this.schedule();
    }
  }

  private launch(c: ClaimedDelivery, config: RouterConfig): void {
    this.perDestination.set(c.destination, (this.perDestination.get(c.destination) ?? 0) + 1);
    this.held.add(c.id);
    const p = this.deliver(c, config)
      .catch((err) => this.deps.log.error({ err: { message: (err as Error).message }, delivery: c.id }, 'delivery bookkeeping failed; it will be retried'))
      .finally(() => {
        this.held.delete(c.id);
        this.inFlight.delete(p);
        this.perDestination.set(c.destination, (this.perDestination.get(c.destination) ?? 1) - 1);
        this.wake();
      });
    this.inFlight.add(p);
  }

  private async deliver(c: ClaimedDelivery, config: RouterConfig): Promise<void> {
    const dest = config.destinations.get(c.destination) ?? null;
    const log = this.deps.log;
    let event: EventObject;
    try {
      event = JSON.parse(c.eventPayload) as EventObject;
    } catch {
      event = {};
    }
    // Noise control (dispatch/send-time.ts): a digest's events; the silences, again, before any send.
    const digest = (await this.deps.noise?.digest(c, config)) ?? null;
    const silenced = this.deps.noise?.silenced(c, event, digest, Date.now()) ?? null;
    if (silenced !== null) {
      this.deps.metrics.deliveries.inc({ destination: c.destination, status: 'silenced' });
      await this.record({ id: c.id, attempt: null, status: 'silenced', nextAttemptAt: null, reason: silenced });
      return;
    }
    if (dest?.privileged) {
      const d = c.privileged ? recheck(c.rule, dest, event, config.grants, c.origin === 'replay') : await this.admit(c, dest, config, event);
      if (d === null) return;
      if (!d.allowed) {
        log.warn({ delivery: c.id, rule: c.rule, destination: c.destination, reason: d.reason }, 'privileged delivery blocked by policy at send time');
        this.deps.metrics.policyBlocked.inc({ rule: c.rule, destination: c.destination });
        this.deps.metrics.deliveries.inc({ destination: c.destination, status: 'blocked' });
        await this.record({ id: c.id, attempt: null, status: 'blocked', nextAttemptAt: null, reason: `at send time: ${d.reason}` });
        return;
      }
    }

    const attempt = c.attempts + 1;
    const startedAt = Date.now();
    let result: SendResult;
    if (!dest) result = { outcome: 'permanent', code: null, error: `destination "${c.destination}" is no longer in the rules file` };
    else result = await this.send(c, dest, config, event, attempt, digest);
    if (this.abort.signal.aborted && result.outcome !== 'delivered') {
      // Cut short by shutdown: not an attempt. The delivery stays pending and is resumed at start.
      return;
    }
    const durationMs = Date.now() - startedAt;
    this.deps.metrics.attempts.observe({ channel: dest?.type ?? 'none', outcome: result.outcome }, durationMs / 1000);

    const record = { deliveryId: c.id, attempt, startedAt, durationMs, outcome: result.outcome, code: result.code, error: result.outcome === 'delivered' ? null : result.error };
    const ctx = { delivery: c.id, rule: c.rule, destination: c.destination, attempt, code: result.code };
    if (result.outcome === 'delivered') {
      this.deps.metrics.deliveries.inc({ destination: c.destination, status: 'delivered' });
      log.debug(ctx, 'delivered');
      await this.record({ id: c.id, attempt: record, status: 'delivered', nextAttemptAt: null, reason: null });
      return;
    }
    const settings = dest?.delivery ?? config.delivery;
    const round = c.roundAttempts + 1;
    if (result.outcome === 'permanent' || round >= settings.maxAttempts) {
      const why = result.outcome === 'permanent' ? result.error : `${result.error} (gave up after ${round} attempts)`;
      this.deps.metrics.deliveries.inc({ destination: c.destination, status: 'dead' });
      log.error({ ...ctx, error: why }, 'delivery is dead');
      await this.record({ id: c.id, attempt: record, status: 'dead', nextAttemptAt: null, reason: why });
      return;
    }
    const delay = nextAttemptDelay(settings, round, result.retryAfterMs);
    log.warn({ ...ctx, error: result.error, retryInMs: delay }, 'delivery failed; will retry');
    await this.record({ id: c.id, attempt: record, status: 'failed', nextAttemptAt: Date.now() + delay, reason: result.error });
  }

  /**
   * A delivery created before its destination became privileged: the full policy, as if new, and
   * when allowed it is counted against max_per_hour in the same store transaction (many of these
   * are claimed at once; each must see the ones allowed before it). Null when the delivery is no
   * longer waiting (nothing to send or record).
   */
  private async admit(c: ClaimedDelivery, dest: Destination, config: RouterConfig, event: EventObject): Promise<{ allowed: boolean; reason: string } | null> {
    const now = Date.now();
    const [r] = await this.deps.store.admit([c.id], (row, counts) => decideExisting(counts, config, row, dest, event, now), { now, requeueDead: false });
    if (r!.outcome === 'skipped') {
      this.deps.log.warn({ delivery: c.id, destination: c.destination }, 'a claimed delivery was no longer waiting; not sent');
      return null;
    }
    return r!.outcome === 'admitted' ? { allowed: true, reason: '' } : { allowed: false, reason: r!.reason ?? 'refused by policy' };
  }

  private async send(c: ClaimedDelivery, dest: Destination, config: RouterConfig, event: EventObject, attempt: number, digest: Digest | null): Promise<SendResult> {
    const log = this.deps.log;
    const type = c.eventType ?? readType(event, config.server.fields);
    const rule = ruleNamed(config, c.rule);
    const onError = (what: string) => (err: Error) =>
      log.warn({ delivery: c.id, rule: c.rule, destination: c.destination, error: err.message }, `${what} failed to render; sending the default instead`);
    const single: Notification = {
      deliveryId: c.id,
      attempt,
      rule: c.rule,
      destination: dest,
      event,
      rawEvent: c.eventPayload,
      eventType: type,
      message: (escape) => renderMessage(rule, event, type, escape, onError('message')),
      render: (template, escape, fallback) => {
        if (template === null) return fallback();
        try {
          return template.render(event, escape);
        } catch (err) {
          onError('template')(err as Error);
          return fallback();
        }
      },
    };
    // Noise control: a notification that carries several events is a digest (dispatch/digest.ts).
    const n = digest && this.deps.noise ? this.deps.noise.notification(single, digest, rule, onError) : single;
    // A guard beyond the channel's own timeout: a channel bug must not hold a slot forever.
    const guardMs = dest.delivery.timeoutMs + 5_000;
    let guard: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.deps.channels.channelFor(dest).send(n, this.abort.signal),
        new Promise<SendResult>((resolve) => {
          guard = setTimeout(() => resolve({ outcome: 'retry', code: null, error: `no answer within ${guardMs} ms` }), guardMs);
        }),
      ]);
    } catch (err) {
      return { outcome: 'retry', code: null, error: (err as Error).message || 'send failed' };
    } finally {
      clearTimeout(guard);
    }
  }

  /**
   * Outcomes are written in batches: one transaction per turn of the event loop. The delivery's
   * slot is held until its outcome is written; a write that fails is tried again every second, so a
   * full or locked database never turns into the same delivery being sent again and again.
   */
  private record(update: DeliveryUpdate): Promise<void> {
    return new Promise<void>((done) => {
      this.pending.push({ update, done });
      this.scheduleFlush(0);
    });
  }

  private scheduleFlush(delayMs: number): void {
    if (this.flushing !== null) return;
    this.flushing = delayMs === 0 ? setImmediate(() => this.flush()) : setTimeout(() => this.flush(), delayMs);
  }

  private flush(): void {
    this.flushing = null;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    this.deps.store.finish(batch.map((b) => b.update)).then(
      () => batch.forEach((b) => b.done()),
      (err) => {
        if (this.abandonWrites) {
          // Shutting down: the deliveries keep their claim, which the next start releases.
          this.deps.log.error({ err: { message: (err as Error).message }, deliveries: batch.length }, 'could not record delivery outcomes; they will be sent again after restart');
          batch.forEach((b) => b.done());
          return;
        }
        this.deps.log.error({ err: { message: (err as Error).message }, deliveries: batch.length }, 'could not record delivery outcomes; trying again in 1s');
        this.pending.unshift(...batch);
        this.scheduleFlush(1_000);
      },
    );
  }

  /** Stops claiming; in-flight sends get `drainMs` to finish, then are cut short (they stay pending). */
  async stop(drainMs = this.opts.drainMs): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const deadline = (ms: number) => {
      let t: NodeJS.Timeout | undefined;
      return { done: new Promise<'timeout'>((r) => (t = setTimeout(() => r('timeout'), ms))), clear: () => clearTimeout(t) };
    };
    const all = () => Promise.allSettled([...this.inFlight]);
    const d1 = deadline(drainMs);
    const timedOut = (await Promise.race([all(), d1.done])) === 'timeout';
    d1.clear();
    if (timedOut) {
      this.deps.log.warn({ inFlight: this.inFlight.size }, 'shutdown: cutting in-flight sends short; they stay pending');
      this.abort.abort();
      this.abandonWrites = true;
      if (this.flushing !== null) this.flush();
      const d2 = deadline(1_000);
      await Promise.race([all(), d2.done]);
      d2.clear();
    }
  }

}

