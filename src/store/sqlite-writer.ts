// The main thread's handle on the SQLite writer thread (store/sqlite-writer-thread.ts), and the
// commit function group commit runs: a batch goes to the writer thread when every event in it can
// be planned before its transaction, else it runs here on the main thread's connection as before.
//
// Only one batch is ever in flight (GroupCommit commits one at a time), whichever connection takes
// it, so the two connections never write ingest batches at once: the order of commits, dedupe and
// every guarantee of one transaction per batch are those of a single connection.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { type IngestItem, type IngestOutcome, type PlanCounts, type Store, StoreUnavailableError } from './store.js';
import type { FromWriter, PlannedItem, ToWriter, WriterData, WriterError, WriterOutcome } from './sqlite-writer-thread.js';

const RESTART_FIRST_MS = 500;
const RESTART_MAX_MS = 30_000;
/** The thread allocates little (a batch's events, cloned in): a small young generation. Node's
 * --max-semi-space-size, when given (npm start, the container), overrides it, as for the delivery
 * thread: the isolate then holds about 16 MB, 8 of them its young generation. */
const YOUNG_GENERATION_MB = 3;
/** How long a stop waits for the thread to close its connection and exit. */
const STOP_WAIT_MS = 5_000;

/** Plans of events without counted pairs read no count (IngestItem.plan's contract). */
const NO_COUNTS: PlanCounts = {
  allowedSince: () => {
    throw new Error('a plan without counted pairs read a count');
  },
};

function storeError(e: WriterError): StoreUnavailableError {
  return new StoreUnavailableError(e.message, e.code === null ? undefined : { code: e.code, message: e.message });
}

export class SqliteWriter {
  private worker: Worker | null = null;
  private stopping = false;
  private nextId = 1;
  private restartDelay = RESTART_FIRST_MS;
  private readonly inflight = new Map<number, { resolve: (o: IngestOutcome[]) => void; reject: (e: unknown) => void }>();
  /** True while a thread takes batches; otherwise they run on the main thread's connection. */
  up = false;
  /** Batches the thread has answered (for tests: that they went there at all). */
  batches = 0;

  constructor(
    private readonly data: WriterData,
    private readonly log: Logger,
  ) {}

  /** Resolves once the thread has opened the database. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const w = new Worker(new URL('./sqlite-writer-thread.js', import.meta.url), {
        workerData: this.data,
        resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      });
      this.worker = w;
      let started = false;
      w.on('message', (m: FromWriter) => {
        switch (m.type) {
          case 'ready':
            started = true;
            this.up = true;
            this.restartDelay = RESTART_FIRST_MS;
            this.log.info('ingest transactions run on the database writer thread');
            resolve();
            break;
          case 'failed':
            // It could not open the database: no SQLite call runs in it now, so it may be terminated.
            reject(new Error(m.message));
            void w.terminate();
            break;
          case 'done':
            this.batches++;
            this.inflight
              .get(m.id)
              ?.resolve(m.outcomes.map((o: WriterOutcome) => (o.status === 'failed' ? { status: 'failed', error: storeError(o.error) } : o)));
            this.inflight.delete(m.id);
            break;
          case 'error':
            this.inflight.get(m.id)?.reject(storeError(m.error));
            this.inflight.delete(m.id);
            break;
        }
      });
      w.on('error', (err) => {
        this.log.error({ err: { message: err.message } }, 'database writer thread crashed');
        reject(err);
      });
      w.on('exit', (code) => {
        if (this.worker === w) this.worker = null;
        this.up = false;
        // Its batch may or may not have committed: answered 503 either way, never 2xx. B3OS
        // retries, and an event that did commit is then a duplicate (200).
        for (const p of this.inflight.values()) p.reject(new StoreUnavailableError(`database writer stopped (exit ${code}); not known to be stored`));
        this.inflight.clear();
        if (!started) {
          reject(new Error(`database writer thread exited (${code}) before it was ready`));
          return;
        }
        if (this.stopping) return;
        this.scheduleRestart(`database writer thread stopped unexpectedly (exit ${code})`);
      });
    });
  }

  /**
   * Restarted, with a growing delay; meanwhile (up = false) batches run on the main thread's
   * connection, so ingest goes on: only the batch in flight when it died is answered 503.
   */
  scheduleRestart(why: string): void {
    const delay = this.restartDelay;
    this.restartDelay = Math.min(this.restartDelay * 2, RESTART_MAX_MS);
    this.log.error(`${why}; ingest runs on the main thread until it is restarted in ${delay} ms`);
    setTimeout(() => {
      if (this.stopping || this.worker) return;
      this.start().catch((err: Error) => this.scheduleRestart(`database writer thread did not start: ${err.message}`));
    }, delay).unref();
  }

  ingest(items: PlannedItem[]): Promise<IngestOutcome[]> {
    const w = this.worker;
    if (!w) return Promise.reject(new StoreUnavailableError('database writer not running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.inflight.set(id, { resolve, reject });
      w.postMessage({ type: 'ingest', id, items } satisfies ToWriter);
    });
  }

  /**
   * The seam for a crash: the thread dies at its next batch, before its transaction or after it
   * has committed (not terminated from here: terminating a thread inside a SQLite call aborts the
   * whole process, WiseLibs/better-sqlite3#842).
   */
  crashForTest(at: 'before' | 'after'): void {
    this.worker?.postMessage({ type: 'crash', at } satisfies ToWriter);
  }

  /**
   * After group commit has drained: the thread closes its connection and exits. Never terminated
   * (see crashForTest): a thread still inside a SQLite call (bounded by busy_timeout) is left to
   * finish, unref'd so that it does not hold the process.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.up = false;
    const w = this.worker;
    if (!w) return;
    let timer: NodeJS.Timeout | undefined;
    const exited = new Promise<boolean>((resolve) => w.once('exit', () => resolve(true)));
    w.postMessage({ type: 'stop' } satisfies ToWriter);
    const done = await Promise.race([exited, new Promise<boolean>((r) => (timer = setTimeout(() => r(false), STOP_WAIT_MS)))]);
    clearTimeout(timer);
    if (!done) {
      this.log.warn('database writer thread did not stop in time; leaving it to finish');
      w.unref();
    }
  }
}

/**
 * Group commit's commit function. A batch in which every event can be planned before its
 * transaction (no counted pairs) goes to the writer thread, planned here; one with a privileged
 * pair (its max_per_hour count read under the write lock) runs on the main thread's connection.
 */
export function ingestCommit(store: Store, writer: SqliteWriter | null): (items: IngestItem[]) => Promise<IngestOutcome[]> {
  return (items) => {
    if (!writer?.up || items.some((i) => (i.counted?.length ?? 0) > 0)) return store.ingest(items);
    let planned: PlannedItem[];
    try {
      planned = items.map((i) => ({ event: i.event, planned: i.plan(NO_COUNTS) }));
    } catch {
      // A plan that throws fails its own event inside the transaction, as it always has.
      return store.ingest(items);
    }
    return writer.ingest(planned);
  };
}
