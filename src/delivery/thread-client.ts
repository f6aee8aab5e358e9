// The main thread's handle on the delivery thread (delivery/thread.ts): starts it, wakes it after
// commits, hands it reloaded rules (and waits for its word), applies its metric updates, restarts
// it whenever it dies, and stops it.
import type { Logger } from 'pino';
import type { DeliveryMetrics } from '../ops/metrics.js';
import { Supervisor } from '../thread/supervisor.js';
import type { FromThread, MetricOp, ThreadData, ToThread } from './thread.js';

const RESTART_FIRST_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** How long a reload waits for the delivery thread to have compiled the new rules. */
const RELOAD_WAIT_MS = 10_000;
/** Over the drain, before a thread that has not stopped is terminated (inside Docker's 10 s). */
const STOP_MARGIN_MS = 1_500;
const YOUNG_GENERATION_MB = 12;

export class DeliveryThread {
  private readonly thread: Supervisor<FromThread, ToThread>;
  private wakeQueued = false;
  private nextId = 1;
  private readonly reloads = new Map<number, (error: string | null) => void>();
  private stopped: (() => void) | null = null;

  constructor(
    private readonly data: ThreadData,
    private readonly metrics: DeliveryMetrics,
    private readonly log: Logger,
  ) {
    this.thread = new Supervisor<FromThread, ToThread>({
      name: 'delivery thread',
      script: new URL('./thread.js', import.meta.url),
      workerData: this.data,
      writeLock: this.data.writeLock,
      // A smaller young generation: more frequent, cheaper scavenges, a smaller footprint. Node's
      // --max-semi-space-size and --max-old-space-size, when given (npm start, the container),
      // override resourceLimits for this isolate too.
      youngGenerationMb: YOUNG_GENERATION_MB,
      restartFirstMs: RESTART_FIRST_MS,
      restartMaxMs: RESTART_MAX_MS,
      // Nothing is lost: what it had claimed is taken back by the next thread when it starts.
      restartLine: (ms) => `restarting it in ${ms} ms`,
      log,
      onMessage: (m) => {
        if (m.type === 'reloaded') {
          this.reloads.get(m.id)?.(m.error);
          this.reloads.delete(m.id);
        } else if (m.type === 'metrics') this.apply(m.ops);
        else if (m.type === 'stopped') this.stopped?.();
      },
      onExit: () => {
        for (const done of this.reloads.values()) done('the delivery thread stopped');
        this.reloads.clear();
      },
    });
  }

  /** True while a thread is delivering (for /readyz). */
  get up(): boolean {
    return this.thread.up;
  }

  /** Resolves once the thread has taken back earlier claims and is delivering. */
  start(): Promise<void> {
    return this.thread.start();
  }

  private apply(ops: MetricOp[]): void {
    for (const op of ops) {
      if (op.m === 'deliveries') this.metrics.deliveries.inc({ destination: op.destination, status: op.status });
      else if (op.m === 'policyBlocked') this.metrics.policyBlocked.inc({ rule: op.rule, destination: op.destination });
      else this.metrics.attempts.observe({ channel: op.channel, outcome: op.outcome }, op.seconds);
    }
  }

  /** Deliveries were committed: look for them now. Wake-ups in one turn of the loop are one message. */
  wake(): void {
    if (this.wakeQueued) return;
    this.wakeQueued = true;
    setImmediate(() => {
      this.wakeQueued = false;
      this.thread.post({ type: 'wake' });
    });
  }

  /**
   * New rules (already validated): resolves once the thread delivers by them, so that no
   * delivery the main thread creates under the new rules meets a thread with the old ones.
   * A thread that is down picks them up when it starts.
   */
  reload(source: string): Promise<void> {
    this.data.rulesSource = source;
    if (!this.thread.up) return Promise.resolve();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reloads.delete(id);
        reject(new Error(`the delivery thread did not take the new rules within ${RELOAD_WAIT_MS} ms`));
      }, RELOAD_WAIT_MS);
      this.reloads.set(id, (error) => {
        clearTimeout(timer);
        if (error === null) resolve();
        else reject(new Error(error));
      });
      this.thread.post({ type: 'reload', id, source });
    });
  }

  /**
   * The seam for the restart after a crash: terminates the thread as a crash would (no stop
   * message, nothing drained or closed), so a test can watch /readyz and the restart. Resolves
   * once it has exited.
   */
  async crashForTest(): Promise<void> {
    const w = this.thread.worker;
    if (!w) return;
    await w.terminate();
  }

  /** In-flight sends get `drainMs`; then the thread is terminated whether or not it has stopped. */
  async stop(drainMs: number): Promise<void> {
    const said = new Promise<void>((resolve) => (this.stopped = resolve));
    const r = await this.thread.stop({ type: 'stop', drainMs }, drainMs + STOP_MARGIN_MS, said);
    if (r === null) return;
    if (!r.inTime) this.log.warn('delivery thread did not stop in time; terminating it (its claims are taken back at the next start)');
    // Stopped or not, the thread must not keep the process alive (a socket left open, a timer).
    await r.worker.terminate();
  }
}
