// A worker thread the server keeps running: started, restarted with a growing delay whenever it
// dies on its own, told apart from a stop, and the file's write lock let go if it died holding it.
// The delivery thread and the SQLite writer thread each hold one (delivery/thread-client.ts,
// store/sqlite-writer.ts); what their other messages mean, what was in flight on a thread that
// died, and what a stop that ran out of time does next stay with them.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { releaseHeldBy } from './write-lock.js';

/** What every supervised thread says of itself: `ready` once it works, `failed` when it cannot
 * start (nothing of it runs any more, so it may be terminated). */
export type Lifecycle = { type: 'ready' } | { type: 'failed'; message: string };

export interface SupervisorOptions<From> {
  /** In log lines and errors: "delivery thread". */
  name: string;
  script: URL;
  /** Copied at every start: a restarted thread gets what it holds then (the delivery thread's rules). */
  workerData: unknown;
  /** The lock it takes turns by (thread/write-lock.ts): let go when it dies holding it. */
  writeLock?: SharedArrayBuffer;
  /** Its isolate's young generation (node's --max-semi-space-size, when given, overrides it). */
  youngGenerationMb: number;
  restartFirstMs: number;
  restartMaxMs: number;
  /** How the restart line goes on after the reason, from the delay: what runs until then. */
  restartLine: (delayMs: number) => string;
  log: Logger;
  /** Once it is ready (each start). */
  onReady?: () => void;
  /** Its messages other than ready and failed. */
  onMessage: (m: Exclude<From, Lifecycle>) => void;
  /** It exited, whatever the reason: settle what was in flight on it. */
  onExit: (code: number) => void;
}

/** `From`: everything the thread posts, its Lifecycle messages included. */
export class Supervisor<From extends { type: string }, To> {
  worker: Worker | null = null;
  /** From its `ready` until it exits. */
  up = false;
  /** Set by the owner's stop: an exit is then not a crash, and nothing restarts. */
  stopping = false;
  private restartDelay: number;

  constructor(private readonly o: SupervisorOptions<From>) {
    this.restartDelay = o.restartFirstMs;
  }

  /** Resolves once the thread is ready; rejects when it failed, crashed or exited before that. */
  start(): Promise<void> {
    const o = this.o;
    return new Promise((resolve, reject) => {
      const w = new Worker(o.script, { workerData: o.workerData, resourceLimits: { maxYoungGenerationSizeMb: o.youngGenerationMb } });
      this.worker = w;
      const id = w.threadId;
      let started = false;
      w.on('message', (m: From) => {
        if (m.type === 'ready') {
          started = true;
          this.up = true;
          this.restartDelay = o.restartFirstMs;
          o.onReady?.();
          resolve();
        } else if (m.type === 'failed') {
          reject(new Error((m as unknown as Lifecycle & { type: 'failed' }).message));
          void w.terminate();
        } else o.onMessage(m as Exclude<From, Lifecycle>);
      });
      w.on('error', (err) => {
        o.log.error({ err: { message: err.message } }, `${o.name} crashed`);
        reject(err);
      });
      w.on('exit', (code) => {
        if (this.worker === w) this.worker = null;
        this.up = false;
        if (o.writeLock) releaseHeldBy(o.writeLock, id);
        o.onExit(code);
        if (!started) {
          // A start that failed: its caller decides (serve gives up, or schedules a restart).
          reject(new Error(`${o.name} exited (${code}) before it was ready`));
          return;
        }
        if (!this.stopping) this.scheduleRestart(`${o.name} stopped unexpectedly (exit ${code})`);
      });
    });
  }

  /** Starts it again after the current delay, which doubles (up to its bound) until a start works. */
  scheduleRestart(why: string): void {
    const delay = this.restartDelay;
    this.restartDelay = Math.min(this.restartDelay * 2, this.o.restartMaxMs);
    this.o.log.error(`${why}; ${this.o.restartLine(delay)}`);
    setTimeout(() => {
      if (this.stopping || this.worker) return;
      this.start().catch((err: Error) => this.scheduleRestart(`${this.o.name} did not start: ${err.message}`));
    }, delay).unref();
  }

  /** To the running thread, if there is one. */
  post(m: To): void {
    this.worker?.postMessage(m);
  }

  /**
   * The owner's stop: no restart from now on, `message` posted, and at most `waitMs` for the
   * thread to exit, or for `said` (its own word that it has stopped). Resolves with the thread and
   * whether it stopped in time (null when none runs); what then is the owner's.
   */
  async stop(message: To, waitMs: number, said?: Promise<void>): Promise<{ worker: Worker; inTime: boolean } | null> {
    this.stopping = true;
    const w = this.worker;
    if (!w) return null;
    let timer: NodeJS.Timeout | undefined;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    this.post(message);
    const inTime = await Promise.race([
      Promise.race([exited, ...(said ? [said] : [])]).then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), waitMs))),
    ]);
    clearTimeout(timer);
    return { worker: w, inTime };
  }
}
