// The main thread's handle on the SQLite writer thread (store/sqlite-writer-thread.ts), and the
// commit function group commit runs: a batch goes to the writer thread when every event in it can
// be planned before its transaction, else it runs here on the main thread's connection as before.
//
// Only one batch is ever in flight (GroupCommit commits one at a time), whichever connection takes
// it, so the two connections never write ingest batches at once: the order of commits, dedupe and
// every guarantee of one transaction per batch are those of a single connection.
import type { Logger } from 'pino';
import { Supervisor } from '../thread/supervisor.js';
import { type IngestItem, type IngestOutcome, type Store, StoreUnavailableError, UNCOUNTED } from './store.js';
import type { FromWriter, PlannedItem, ToWriter, WriterData, WriterError, WriterOutcome } from './sqlite-writer-thread.js';

const RESTART_FIRST_MS = 500;
const RESTART_MAX_MS = 30_000;
/** The thread allocates little (a batch's events, cloned in): a small young generation. Node's
 * --max-semi-space-size, when given (npm start, the container), overrides it, as for the delivery
 * thread: the isolate then holds about 16 MB, 8 of them its young generation. */
const YOUNG_GENERATION_MB = 3;
/** How long a stop waits for the thread to close its connection and exit. */
const STOP_WAIT_MS = 5_000;

function storeError(e: WriterError): StoreUnavailableError {
  return new StoreUnavailableError(e.message, e.code === null ? undefined : { code: e.code, message: e.message });
}

function outcome(o: WriterOutcome, item: PlannedItem): IngestOutcome {
  if (o.status === 'failed') return { status: 'failed', error: storeError(o.error) };
  return o.status === 'accepted' ? { status: 'accepted', seq: o.seq, planned: item.planned } : { status: 'duplicate', seq: o.seq };
}

export class SqliteWriter {
  private readonly thread: Supervisor<FromWriter, ToWriter>;
  private nextId = 1;
  private readonly inflight = new Map<number, { items: PlannedItem[]; resolve: (o: IngestOutcome[]) => void; reject: (e: unknown) => void }>();
  /** Batches the thread has answered (for tests: that they went there at all). */
  batches = 0;

  constructor(
    data: WriterData,
    private readonly log: Logger,
  ) {
    this.thread = new Supervisor<FromWriter, ToWriter>({
      name: 'database writer thread',
      script: new URL('./sqlite-writer-thread.js', import.meta.url),
      workerData: data,
      writeLock: data.writeLock,
      youngGenerationMb: YOUNG_GENERATION_MB,
      restartFirstMs: RESTART_FIRST_MS,
      restartMaxMs: RESTART_MAX_MS,
      // Meanwhile (up = false) batches run on the main thread's connection, so ingest goes on:
      // only the batch in flight when it died is answered 503.
      restartLine: (ms) => `ingest runs on the main thread until it is restarted in ${ms} ms`,
      log,
      onReady: () => log.info('ingest transactions run on the database writer thread'),
      onMessage: (m) => {
        if (m.type === 'done') {
          this.batches++;
          const batch = this.inflight.get(m.id);
          batch?.resolve(m.outcomes.map((o, i) => outcome(o, batch.items[i]!)));
          this.inflight.delete(m.id);
        } else if (m.type === 'error') {
          this.inflight.get(m.id)?.reject(storeError(m.error));
          this.inflight.delete(m.id);
        }
      },
      onExit: (code) => {
        // Its batch may or may not have committed: answered 503 either way, never 2xx. B3OS
        // retries, and an event that did commit is then a duplicate (200).
        for (const p of this.inflight.values()) p.reject(new StoreUnavailableError(`database writer stopped (exit ${code}); not known to be stored`));
        this.inflight.clear();
      },
    });
  }

  /** True while a thread takes batches; otherwise they run on the main thread's connection. */
  get up(): boolean {
    return this.thread.up && !this.thread.stopping;
  }

  /** Resolves once the thread has opened the database. */
  start(): Promise<void> {
    return this.thread.start();
  }

  /** After a start that failed: tried again later, with ingest on the main thread's connection meanwhile. */
  scheduleRestart(why: string): void {
    this.thread.scheduleRestart(why);
  }

  ingest(items: PlannedItem[]): Promise<IngestOutcome[]> {
    // ingestCommit sends batches here only while it is up; a batch posted to no thread would never settle.
    if (!this.thread.worker) return Promise.reject(new StoreUnavailableError('database writer not running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.inflight.set(id, { items, resolve, reject });
      this.thread.post({ type: 'ingest', id, items });
    });
  }

  /**
   * The seam for a crash: the thread dies at its next batch, before its transaction or after it
   * has committed (not terminated from here: terminating a thread inside a SQLite call aborts the
   * whole process, WiseLibs/better-sqlite3#842).
   */
  crashForTest(at: 'before' | 'after'): void {
    this.thread.post({ type: 'crash', at });
  }

  /**
   * After group commit has drained: the thread closes its connection and exits. Never terminated
   * (see crashForTest): a thread still inside a SQLite call (bounded by busy_timeout) is left to
   * finish, unref'd so that it does not hold the process.
   */
  async stop(): Promise<void> {
    const r = await this.thread.stop({ type: 'stop' }, STOP_WAIT_MS);
    if (r && !r.inTime) {
      this.log.warn('database writer thread did not stop in time; leaving it to finish');
      r.worker.unref();
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
      planned = items.map((i) => ({ event: i.event, planned: i.plan(UNCOUNTED) }));
    } catch {
      // A plan that throws fails its own event inside the transaction, as it always has.
      return store.ingest(items);
    }
    return writer.ingest(planned);
  };
}
