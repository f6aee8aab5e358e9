// max_per_hour in a SQLite database that counted by created_at: its counts carry over the
// migration to allowed_at. The counting itself (Store.admit, retry, ingest) runs on both engines
// in store-contract.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { allowedInWindow } from '../src/policy/policy.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { tempDir } from './helpers/cli.js';

const HOUR = 3_600_000;

test('a database that counted by created_at keeps its counts after the migration', async () => {
  const tmp = tempDir();
  const path = join(tmp.dir, 'old.db');
  const now = Date.now();
  const db = new Database(path);
  // The schema before allowed_at (migrations 1 to 4), with what the old code wrote.
  for (const m of MIGRATIONS.slice(0, 4)) db.exec(m);
  db.pragma('user_version = 4');
  db.prepare(`INSERT INTO events (key, key_kind, received_at, last_seen_at, payload) VALUES ('k', 'event_id', ?, ?, '{}')`).run(now, now);
  const ins = db.prepare(
    `INSERT INTO deliveries (id, event_seq, rule, destination, status, privileged, created_at, updated_at) VALUES (?, 1, 'pay', 'payout', ?, ?, ?, ?)`,
  );
  ins.run('a', 'delivered', 1, now - 60_000, now);
  ins.run('b', 'dead', 1, now - 30_000, now);
  ins.run('c', 'blocked', 1, now - 30_000, now);
  ins.run('d', 'delivered', 0, now - 30_000, now);
  ins.run('e', 'delivered', 1, now - 2 * HOUR, now);
  db.close();
  const store = new SqliteStore(path);
  try {
    assert.equal(await allowedInWindow(store, 'pay', 'payout', now), 2, 'the privileged, not blocked, within the hour');
  } finally {
    await store.close();
    tmp.cleanup();
  }
});
