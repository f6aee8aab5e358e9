// GroupCommit in-process: items submitted in one turn of the event loop share one commit; a
// failing commit fails only its own batch; drain() waits for everything submitted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupCommit } from '../src/store/group-commit.js';

test('items submitted in one turn share one commit, each answered with its own result, in order', async () => {
  const batches: number[][] = [];
  const gc = new GroupCommit<number, string>(async (items) => {
    batches.push(items);
    return items.map((i) => `r${i}`);
  });
  const results = await Promise.all([1, 2, 3].map((i) => gc.submit(i)));
  assert.deepEqual(results, ['r1', 'r2', 'r3']);
  assert.deepEqual(batches, [[1, 2, 3]]);
  // The next turn is the next transaction.
  assert.equal(await gc.submit(4), 'r4');
  assert.deepEqual(batches, [[1, 2, 3], [4]]);
});

test('a turn with more than maxBatch items is split into batches committed in order', async () => {
  const batches: number[][] = [];
  const gc = new GroupCommit<number, number>(async (items) => {
    batches.push(items);
    await new Promise((r) => setImmediate(r));
    return items;
  }, 2);
  const results = await Promise.all([1, 2, 3, 4, 5].map((i) => gc.submit(i)));
  assert.deepEqual(results, [1, 2, 3, 4, 5]);
  assert.deepEqual(batches, [[1, 2], [3, 4], [5]]);
});

test('a failing commit rejects its own batch only; the next batch commits', async () => {
  const gc = new GroupCommit<string, string>(async (items) => {
    if (items.includes('bad')) throw new Error('disk full');
    return items;
  }, 2);
  const settled = await Promise.allSettled(['a', 'bad', 'c'].map((i) => gc.submit(i)));
  assert.deepEqual(
    settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)),
    ['disk full', 'disk full', 'c'],
  );
  assert.equal(await gc.submit('d'), 'd');
});

test('drain() resolves once everything submitted so far is committed', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const done: number[] = [];
  const gc = new GroupCommit<number, number>(async (items) => {
    await gate;
    done.push(...items);
    return items;
  });
  void gc.submit(1);
  void gc.submit(2);
  let drained = false;
  const d = gc.drain().then(() => (drained = true));
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  assert.equal(drained, false, 'drain waits for the commit in progress');
  release();
  await d;
  assert.deepEqual(done, [1, 2]);
  // Nothing queued: drain resolves at once.
  await gc.drain();
});

test('what arrives while a commit is in flight goes into the next commit together, not one commit per turn', async () => {
  // An async engine: each commit waits on the server for a while.
  const batches: number[][] = [];
  const gc = new GroupCommit<number, number>(async (items) => {
    batches.push(items);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    return items;
  });
  const first = gc.submit(0);
  await new Promise((r) => setImmediate(r));
  // Five requests in five later turns of the event loop, all while the first commit is waiting.
  const later: Promise<number>[] = [];
  for (let i = 1; i <= 5; i++) {
    later.push(gc.submit(i));
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(await Promise.all([first, ...later]), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(batches, [[0], [1, 2, 3, 4, 5]]);
  await gc.drain();
});
