// The SQLite writer thread: ingest transactions (the events with their deliveries, the FULL
// commit and its fsync) run here, on their own connection to the same file, so that the main
// thread verifies, parses and routes the next requests while a batch commits. It runs the very
// code of the main thread's store (SqliteStore.ingest); what crosses is data: events with their
// deliveries already planned (store/sqlite-writer.ts says which batches may come here), and
// outcomes back.
import { parentPort, workerData } from 'node:worker_threads';
import type { PlannedDelivery } from '../event/model.js';
import type { Lifecycle } from '../thread/supervisor.js';
import { SqliteStore } from './sqlite.js';
import type { NewEvent } from './store.js';

export interface WriterData {
  path: string;
  busyTimeoutMs: number;
  maxBytes: number | null;
  /** The process's lock on the file (thread/write-lock.ts). */
  writeLock?: SharedArrayBuffer;
}

/** An event whose deliveries were planned before the transaction (it reads no count). */
export interface PlannedItem {
  event: NewEvent;
  planned: PlannedDelivery[];
}

/** A StoreUnavailableError as data: its message and its cause's SQLite code. */
export interface WriterError {
  message: string;
  code: string | null;
}

/** An accepted event's deliveries are the ones the main thread planned and sent: not sent back. */
export type WriterOutcome = { status: 'accepted' | 'duplicate'; seq: number } | { status: 'failed'; error: WriterError };

/** `crash`: the seam for tests, the thread dies at its next batch, before its transaction or once
 * it has committed (before answering), as an uncaught error would make it. */
export type ToWriter = { type: 'ingest'; id: number; items: PlannedItem[] } | { type: 'stop' } | { type: 'crash'; at: 'before' | 'after' };

export type FromWriter = Lifecycle | { type: 'done'; id: number; outcomes: WriterOutcome[] } | { type: 'error'; id: number; error: WriterError };

function errorData(err: unknown): WriterError {
  const e = err as { message?: string; cause?: { code?: unknown } };
  const code = e.cause && typeof e.cause.code === 'string' ? e.cause.code : null;
  return { message: e.message ?? String(err), code };
}

function main(port: NonNullable<typeof parentPort>, data: WriterData): void {
  const send = (m: FromWriter) => port.postMessage(m);
  // The same cap as the main thread's connection: DB_MAX_MB applies to ingest wherever it runs.
  const store = new SqliteStore(data.path, { busyTimeoutMs: data.busyTimeoutMs, maxBytes: data.maxBytes, ingestOnly: true, writeLock: data.writeLock });
  let crash: 'before' | 'after' | null = null;
  port.on('message', (m: ToWriter) => {
    if (m.type === 'crash') {
      crash = m.at;
      return;
    }
    if (m.type === 'stop') {
      // Closed, the port no longer holds the thread: it exits.
      void store.close().then(() => port.close());
      return;
    }
    if (crash === 'before') throw new Error('the writer thread crashed (test) before its transaction');
    const items = m.items.map(({ event, planned }) => ({ event, plan: () => planned }));
    store.ingest(items).then(
      (outcomes) => {
        if (crash === 'after') throw new Error('the writer thread crashed (test) after its commit');
        send({
          type: 'done',
          id: m.id,
          outcomes: outcomes.map(
            (o): WriterOutcome => (o.status === 'failed' ? { status: 'failed', error: errorData(o.error) } : { status: o.status, seq: o.seq }),
          ),
        });
      },
      (err: unknown) => send({ type: 'error', id: m.id, error: errorData(err) }),
    );
  });
  send({ type: 'ready' });
}

if (parentPort) {
  const port = parentPort;
  try {
    main(port, workerData as WriterData);
  } catch (err) {
    port.postMessage({ type: 'failed', message: (err as Error).message } satisfies FromWriter);
  }
}
