// The threads of one process that write the same SQLite file (the main thread, the writer thread,
// the delivery thread) take turns through this lock before each write transaction
// (store/sqlite.ts, SqliteStore.exclusive). SQLite would keep them apart anyway, but a connection that finds the file
// locked sleeps and retries (1, 2, 5, 10 ms, ...): the writer thread's ingest commit holds the
// lock through its fsync, so a claim or an outcome that met it slept a millisecond or more, and an
// ingest that met them slept too (measured: half of the ingest transactions took 2-10 ms, most
// of it asleep). Here the next one is woken when the lock is let go.
//
// It only ever orders what SQLite orders anyway: a wait that times out goes on without it, to
// SQLite's own waiting, and other processes (the CLI's commands) never see it. A thread that dies
// holding it is let go by its supervisor (thread/supervisor.ts, releaseHeldBy). It is not fair (a thread
// that lets go may take it again before a woken waiter runs): the writers here come back only
// after a turn of their event loop (the writer thread for its next batch, the worker for its next
// flush), and at worst a waiter times out into SQLite's waiting, as it would without the lock.
import { threadId } from 'node:worker_threads';

const FREE = 0;

/** Atomics.waitAsync (Node 16 on; not in this TypeScript target's lib). */
type WaitAsync = (
  cell: Int32Array,
  index: number,
  value: number,
  timeoutMs: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync.bind(Atomics);

export class WriteLock {
  private readonly cell: Int32Array;
  /** This thread's mark in the cell (thread ids start at 0, the main thread). */
  private readonly me = threadId + 1;

  /** `shared`: the same 4 bytes in every thread of the process. */
  constructor(shared: SharedArrayBuffer) {
    this.cell = new Int32Array(shared, 0, 1);
  }

  /**
   * Resolves true once this thread holds the lock, or false after `timeoutMs` without it (the
   * caller goes on all the same). Waiting does not block this thread's event loop.
   */
  async acquire(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const holder = Atomics.compareExchange(this.cell, 0, FREE, this.me);
      if (holder === FREE) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const w = waitAsync(this.cell, 0, holder, left);
      if (!w.async) continue;
      // A pending waitAsync does not keep a thread's event loop alive, nor is its timeout sure to
      // come before a timer's: this timer keeps the thread waiting and ends the wait itself.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([w.value, new Promise((r) => (timer = setTimeout(r, left)))]);
      clearTimeout(timer);
    }
  }

  release(): void {
    free(this.cell, this.me);
  }

  /** Held by this thread? (For tests.) */
  get held(): boolean {
    return Atomics.load(this.cell, 0) === this.me;
  }

  /** Runs `body` (synchronous: no turn of the event loop while the lock is held) holding the lock,
   * or after `timeoutMs` without it. */
  async run<T>(timeoutMs: number, body: () => T): Promise<T> {
    const got = await this.acquire(timeoutMs);
    try {
      return body();
    } finally {
      if (got) this.release();
    }
  }
}

/** Lets go of the lock if `mark` holds it, and wakes the waiters. */
function free(cell: Int32Array, mark: number): void {
  if (Atomics.compareExchange(cell, 0, mark, FREE) === mark) Atomics.notify(cell, 0);
}

/** The thread `id` (worker.threadId) died, perhaps holding the lock in `shared`: let it go. */
export function releaseHeldBy(shared: SharedArrayBuffer, id: number): void {
  free(new Int32Array(shared, 0, 1), id + 1);
}
