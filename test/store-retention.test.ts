// What only the SQLite engine has: the size cap (DB_MAX_MB) and a batch that does not fit under it.
// Retention, claims and leases run on both engines in store-contract.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite.js';
import { tempDir } from './helpers/cli.js';
import { ingestItem } from './helpers/ingest.js';

const event = (i: number, receivedAt: number) => ingestItem(`r${i}`, receivedAt);

test('group commit: an event that does not fit fails alone; the rest of its batch is stored', async () => {
  const tmp = tempDir();
  const store = new SqliteStore(join(tmp.dir, 'f.db'), { maxBytes: 256 * 1024 });
  try {
    const now = Date.now();
    const huge = event(2, now);
    huge.event.payload = JSON.stringify({ id: 'r2', pad: 'x'.repeat(400 * 1024) });
    const outcomes = await store.ingest([event(1, now), huge, event(3, now)]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['accepted', 'failed', 'accepted'],
    );
    assert.ok(await store.findEvent('r1'));
    assert.equal(await store.findEvent('r2'), null);
    assert.ok(await store.findEvent('r3'));
  } finally {
    await store.close();
    tmp.cleanup();
  }
});
