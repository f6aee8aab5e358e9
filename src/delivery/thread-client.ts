// The main thread's handle on the delivery thread (delivery/thread.ts): starts it, wakes it after
// commits, hands it reloaded rules, reads its metrics, restarts it if it dies, and stops it.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { MetricsJson } from '../ops/metrics.js';
import type { FromThread, ThreadData, ToThread } from './thread.js';

/** How long /metrics waits for the delivery thread's part before answering without it. */
const METRICS_WAIT_MS = 2_000;
const RESTART_AFTER_MS = 1_000;
const YOUNG_GENERATION_MB = 12;

export class DeliveryThread {
  private worker: Worker | null = null;
  private stopping = false;
  private wakeQueued = false;
  private nextId = 1;
  private readonly metricReplies = new Map<number, (data: MetricsJson) => void>();
  private stopped: (() => void) | null = null;

  constructor(
    private readonly data: ThreadData,
    private readonly log: Logger,
  ) {}

  /** Resolves once the thread has taken back earlier claims and is delivering. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const w = new Worker(new URL('./thread.js', import.meta.url), {
        workerData: this.data,
        // A smaller young generation: more frequent, cheaper scavenges, and a smaller footprint
        // for a sidecar (the main thread gets the same through --max-semi-space-size).
        resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      });
      this.worker = w;
      let started = false;
      w.on('message', (m: FromThread) => {
        switch (m.type) {
          case 'ready':
            started = true;
            resolve();
            break;
          case 'failed':
            if (!started) reject(new Error(m.message));
            else this.log.error({ error: m.message }, 'delivery thread failed');
            break;
          case 'metrics':
            this.metricReplies.get(m.id)?.(m.data as MetricsJson);
            this.metricReplies.delete(m.id);
            break;
          case 'stopped':
            this.stopped?.();
            break;
        }
      });
      w.on('error', (err) => {
        this.log.error({ err: { message: err.message } }, 'delivery thread crashed');
        if (!started) reject(err);
      });
      w.on('exit', (code) => {
        if (this.worker === w) this.worker = null;
        for (const reply of this.metricReplies.values()) reply([]);
        this.metricReplies.clear();
        if (this.stopping || !started) return;
        // Nothing is lost: what it had claimed is taken back by the next thread when it starts.
        this.log.error({ code }, `delivery thread stopped unexpectedly; restarting in ${RESTART_AFTER_MS} ms`);
        setTimeout(() => {
          if (!this.stopping) this.start().catch((err: Error) => this.log.error({ err: { message: err.message } }, 'delivery thread did not restart'));
        }, RESTART_AFTER_MS).unref();
      });
    });
  }

  private post(m: ToThread): void {
    this.worker?.postMessage(m);
  }

  /** Deliveries were committed: look for them now. Wake-ups in one turn of the loop are one message. */
  wake(): void {
    if (this.wakeQueued) return;
    this.wakeQueued = true;
    setImmediate(() => {
      this.wakeQueued = false;
      this.post({ type: 'wake' });
    });
  }

  /** New rules (already validated): the thread compiles the very same text. */
  reload(source: string): void {
    this.data.rulesSource = source;
    this.post({ type: 'reload', source });
  }

  metrics(): Promise<MetricsJson> {
    if (!this.worker) return Promise.resolve([]);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.metricReplies.delete(id);
        resolve([]);
      }, METRICS_WAIT_MS);
      this.metricReplies.set(id, (data) => {
        clearTimeout(timer);
        resolve(data);
      });
      this.post({ type: 'metrics', id });
    });
  }

  /** In-flight sends get `drainMs`; the thread is terminated if it has not stopped shortly after. */
  async stop(drainMs: number): Promise<void> {
    this.stopping = true;
    const w = this.worker;
    if (!w) return;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve) => {
      this.stopped = resolve;
      w.once('exit', () => resolve());
    });
    this.post({ type: 'stop', drainMs });
    const timedOut = await Promise.race([done.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), drainMs + 3_000)))]);
    clearTimeout(timer);
    if (timedOut) this.log.warn('delivery thread did not stop in time; terminating it (its claims are taken back at the next start)');
    // Stopped or not, the thread must not keep the process alive (a socket left open, a timer).
    await w.terminate();
  }
}
