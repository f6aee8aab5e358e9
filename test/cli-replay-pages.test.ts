// `replay --since` reads the events a page at a time, and past --limit says where the rest starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite.js';
import { runCli, tempDir } from './helpers/cli.js';
import { ingestItem } from './helpers/ingest.js';

test('replay --since over more events than a page, and past --limit', async (t) => {
  const tmp = tempDir('b3os-replay-');
  t.after(() => tmp.cleanup());
  const db = join(tmp.dir, 'router.db');
  const rules = join(tmp.dir, 'rules.yaml');
  writeFileSync(
    rules,
    'version: 1\ndestinations:\n  hook: { type: webhook, url: "http://127.0.0.1:9/x" }\nrules:\n  - name: failures\n    match: { type: run.failed }\n    send_to: [hook]\n',
  );
  const store = new SqliteStore(db);
  const now = Date.now();
  // Stored with no deliveries: each replay would create one.
  await store.ingest(
    Array.from({ length: 450 }, (_, i) =>
      ingestItem(`e${i}`, now - 60_000 + i, { payload: JSON.stringify({ id: `e${i}`, type: 'run.failed' }), plan: () => [] }),
    ),
  );
  await store.close();

  const dry = await runCli(['replay', '--since', '1h', '--limit', '420', '--dry-run', '--json', '--db', db, '--rules', rules]);
  assert.equal(dry.code, 0, dry.stderr);
  const doc = JSON.parse(dry.stdout) as { events: number; created: number; lines: { event: string }[]; more: string | null };
  assert.deepEqual([doc.events, doc.created, doc.lines.length], [420, 420, 420]);
  assert.deepEqual([doc.lines[0]!.event, doc.lines.at(-1)!.event], ['e0', 'e419'], 'oldest first, across pages of 200');
  assert.match(doc.more ?? '', /^more events after the limit of 420: replay them with --since \d+m$/);

  const all = await runCli(['replay', '--since', '1h', '--db', db, '--rules', rules]);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /450 event\(s\) replayed: 450 deliveries\s+created/);
  assert.doesNotMatch(all.stdout, /more events after the limit/);
});
