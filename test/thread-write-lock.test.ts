// The lock the threads of one process take before their hot SQLite write transactions
// (thread/write-lock.ts), between real worker threads: it excludes, a waiter takes it when it is
// let go (not at its timeout), a wait that times out goes on without it, a dead holder is let go
// by releaseHeldBy, and a store whose lock a dead thread holds still commits.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { SqliteStore } from '../src/store/sqlite.js';
import { releaseHeldBy, WriteLock } from '../src/thread/write-lock.js';
import { tempDir } from './helpers/cli.js';
import { ingestItem } from './helpers/ingest.js';

const LOCK_MODULE = new URL('../src/thread/write-lock.js', import.meta.url).href;

/** A thread that runs `body` (an async function's text, given `WriteLock`, `shared` and `post`). */
function thread(shared: SharedArrayBuffer, body: string): Worker {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const post = (m) => parentPort.postMessage(m);
    import(workerData.lockModule).then(async ({ WriteLock }) => {
      const shared = workerData.shared;
      ${body}
    });`;
  return new Worker(code, { eval: true, workerData: { shared, lockModule: LOCK_MODULE } });
}

const message = <T>(w: Worker): Promise<T> =>
  new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
const exited = (w: Worker): Promise<number> => new Promise((resolve) => w.once('exit', resolve));

test('two threads add to a shared count under the lock, read-modify-write with a gap: no update lost', { timeout: 60_000 }, async () => {
  const shared = new SharedArrayBuffer(8);
  const count = new Int32Array(shared, 4, 1);
  const N = 3000;
  // Both start together (ready, then go), and every section must have held the lock: a wait
  // that timed out would go on without it.
  const body = `
    const lock = new WriteLock(shared);
    const count = new Int32Array(shared, 4, 1);
    post('ready');
    await new Promise((r) => parentPort.once('message', r));
    let without = 0;
    for (let i = 0; i < ${N}; i++) {
      const got = await lock.acquire(20000);
      if (!got) without++;
      const v = Atomics.load(count, 0);
      const until = performance.now() + 0.01;
      while (performance.now() < until);
      Atomics.store(count, 0, v + 1);
      if (got) lock.release();
    }
    post({ without });`;
  const a = thread(shared, body);
  const b = thread(shared, body);
  assert.deepEqual(await Promise.all([message(a), message(b)]), ['ready', 'ready']);
  const done = Promise.all([message<{ without: number }>(a), message<{ without: number }>(b)]);
  a.postMessage('go');
  b.postMessage('go');
  assert.deepEqual(await done, [{ without: 0 }, { without: 0 }], 'every section held the lock');
  await Promise.all([a.terminate(), b.terminate()]);
  assert.equal(Atomics.load(count, 0), 2 * N);
});

test('a waiter takes the lock when its holder lets go, long before its own timeout; while held it waits', { timeout: 30_000 }, async () => {
  const shared = new SharedArrayBuffer(4);
  const holder = thread(
    shared,
    `const lock = new WriteLock(shared);
     await lock.acquire(1000);
     post('held');
     parentPort.once('message', () => { lock.release(); post('released'); });`,
  );
  assert.equal(await message(holder), 'held');
  const lock = new WriteLock(shared);
  let got: boolean | null = null;
  const started = performance.now();
  const waiting = lock.acquire(20_000).then((g) => (got = g));
  // Many turns of this thread's loop while the other holds it: still waiting, not taken.
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  assert.equal(got, null);
  assert.equal(lock.held, false);
  holder.postMessage('go');
  assert.equal(await waiting, true);
  assert.equal(lock.held, true);
  assert.ok(performance.now() - started < 10_000, 'taken when let go, not at the 20 s timeout');
  lock.release();
  assert.equal(lock.held, false);
  await holder.terminate();
});

test('a thread that died holding the lock: a wait times out and goes on without it; releaseHeldBy lets it go', { timeout: 30_000 }, async () => {
  const shared = new SharedArrayBuffer(4);
  const dying = thread(shared, `const lock = new WriteLock(shared); await lock.acquire(1000); post('held'); process.exit(0);`);
  const id = dying.threadId;
  // Both listened for before the thread can send or exit: it exits right after 'held'.
  const [held] = await Promise.all([message(dying), exited(dying)]);
  assert.equal(held, 'held');
  const lock = new WriteLock(shared);
  const t0 = performance.now();
  assert.equal(await lock.acquire(300), false, 'not taken: its holder is gone');
  assert.ok(performance.now() - t0 >= 290, 'waited its timeout');
  // run() goes on without it, and does not let go of a lock it does not hold.
  assert.equal(await lock.run(50, () => 'ran'), 'ran');
  assert.equal(new Int32Array(shared)[0], id + 1, 'still marked as the dead thread’s');
  releaseHeldBy(shared, id);
  assert.equal(await lock.acquire(5000), true);
  lock.release();
});

test('a store whose lock a dead thread holds still commits (after the wait), and at once once it is let go', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const shared = new SharedArrayBuffer(4);
  const store = new SqliteStore(join(dir, 'r.db'), { busyTimeoutMs: 400, writeLock: shared });
  try {
    const dying = thread(shared, `const lock = new WriteLock(shared); await lock.acquire(1000); post('held'); process.exit(0);`);
    const id = dying.threadId;
    await Promise.all([message(dying), exited(dying)]);
    const t0 = performance.now();
    const [first] = await store.ingest([ingestItem('evt_locked', Date.now())]);
    assert.equal(first!.status, 'accepted');
    assert.ok(performance.now() - t0 >= 390, 'it waited for the lock first');
    releaseHeldBy(shared, id);
    const [second] = await store.ingest([ingestItem('evt_free', Date.now())]);
    assert.equal(second!.status, 'accepted');
    assert.equal(new Int32Array(shared)[0], 0, 'let go after its transaction');
    assert.ok((await store.findEvent('evt_locked')) !== null && (await store.findEvent('evt_free')) !== null);
  } finally {
    await store.close();
    cleanup();
  }
});
