// Runs the console's evaluations (thread.ts) off the main thread: one at a time (another asked
// for meanwhile is refused as busy, not queued), each within a time budget, past which the thread
// is terminated and a fresh one started for the next. Nothing real from the environment is in
// that thread: it is started with an empty environment and gets what each job needs.
import { Worker } from 'node:worker_threads';
import type { Answer, Job } from './thread.js';

export type Outcome<T> = { ok: true; value: T } | { ok: false; reason: 'busy' | 'timeout' | 'failed' };

export class Evaluator {
  private worker: Worker | null = null;
  private busy = false;
  private nextId = 1;

  constructor(
    private readonly budgetMs: number,
    private readonly memoryMb: number,
    /** Told once a job has the slot (logged at debug: when a check or a try started). */
    private readonly onStart: () => void = () => undefined,
  ) {}

  /**
   * `job` is built only once the slot is taken (it may read the store), so two requests
   * cannot both start.
   */
  async run<T>(job: () => Promise<Job> | Job): Promise<Outcome<T>> {
    if (this.busy) return { ok: false, reason: 'busy' };
    this.busy = true;
    try {
      this.onStart();
      return await this.send<T>(await job());
    } finally {
      this.busy = false;
    }
  }

  private spawn(): Worker {
    const w = new Worker(new URL('./thread.js', import.meta.url), { env: {}, resourceLimits: { maxOldGenerationSizeMb: this.memoryMb } });
    w.unref();
    w.on('error', () => {
      if (this.worker === w) this.worker = null;
    });
    w.on('exit', () => {
      if (this.worker === w) this.worker = null;
    });
    return w;
  }

  private send<T>(job: Job): Promise<Outcome<T>> {
    const w = this.worker ?? this.spawn();
    this.worker = w;
    const id = this.nextId++;
    return new Promise((resolve) => {
      const finish = (o: Outcome<T>) => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('exit', onExit);
        resolve(o);
      };
      const onMessage = (m: Answer) => {
        if (m.id !== id) return;
        finish(m.ok ? { ok: true, value: m.value as T } : { ok: false, reason: 'failed' });
      };
      const onExit = () => finish({ ok: false, reason: 'failed' });
      const timer = setTimeout(() => {
        finish({ ok: false, reason: 'timeout' });
        if (this.worker === w) this.worker = null;
        void w.terminate();
      }, this.budgetMs);
      w.on('message', onMessage);
      w.on('exit', onExit);
      try {
        w.postMessage({ id, job });
      } catch {
        // Not cloneable (too deep, say): this job failed; the thread is fine for the next one.
        finish({ ok: false, reason: 'failed' });
      }
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }
}
