// diff (the CLI and the console's check page) reads the newest events a page at a time and within
// a byte budget: what it holds stays bounded however large the events are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { recentEventsWithin } from '../src/ops/diff.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { tempDir } from './helpers/cli.js';
import { ingestItem } from './helpers/ingest.js';

test('recentEventsWithin: the newest N oldest first, or as many of the newest as fit in the bytes (at least one)', async (t) => {
  const tmp = tempDir();
  const store = new SqliteStore(join(tmp.dir, 'd.db'));
  t.after(async () => {
    await store.close();
    tmp.cleanup();
  });
  const now = Date.now();
  const items = Array.from({ length: 250 }, (_, i) => ingestItem(`e${i}`, now + i, { payload: JSON.stringify({ id: `e${i}`, pad: 'x'.repeat(10 * 1024) }) }));
  await store.ingest(items);
  const ids = (r: { events: { eventId: string | null }[] }) => r.events.map((e) => e.eventId);
  const all = await recentEventsWithin(store, 220, 1 << 30);
  assert.equal(all.cut, false);
  assert.deepEqual(
    ids(all),
    Array.from({ length: 220 }, (_, i) => `e${i + 30}`),
    'the newest 220, across pages, oldest first',
  );
  const within = await recentEventsWithin(store, 220, 100 * 1024);
  assert.equal(within.cut, true);
  assert.deepEqual(
    ids(within),
    Array.from({ length: 9 }, (_, i) => `e${i + 241}`),
    'the newest that fit in 100 KiB',
  );
  const one = await recentEventsWithin(store, 220, 10);
  assert.deepEqual(ids(one), ['e249'], 'at least one');
  assert.equal(ids(await recentEventsWithin(store, 1000, 1 << 30)).length, 250, 'fewer stored than asked');
});
