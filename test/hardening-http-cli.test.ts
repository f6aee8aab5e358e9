// Start-up and flag messages that say what is wrong: a corrupt database is a database problem (not
// "cannot listen"), and a --limit past what SQLite takes is refused as a usage error.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SqliteStore } from '../src/store/sqlite.js';
import { runCli, tempDir } from './helpers/cli.js';
import { MINIMAL_RULES } from './helpers/router.js';

const tmp = tempDir();
const rules = join(tmp.dir, 'rules.yaml');
const good = join(tmp.dir, 'good.db');

before(async () => {
  writeFileSync(rules, MINIMAL_RULES);
  const store = new SqliteStore(good);
  await store.close();
});
after(() => tmp.cleanup());

test('serve with a corrupt database file says the file is not a valid database, with its path', async () => {
  const bad = join(tmp.dir, 'corrupt.db');
  const store = new SqliteStore(bad);
  await store.close();
  // Keep the header page, scramble every page after it.
  const size = statSync(bad).size;
  const fd = openSync(bad, 'r+');
  writeSync(fd, randomBytes(size - 4096), 0, size - 4096, 4096);
  closeSync(fd);
  const r = await runCli(['serve', '--rules', rules, '--db', bad, '--port', '0', '--host', '127.0.0.1'], { env: { B3OS_WEBHOOK_SECRET: 's' } });
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stderr.includes(`the database file ${bad} is not a valid database`), r.stderr);
  assert.doesNotMatch(r.stderr, /cannot listen/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('serve with a file that is not SQLite at all says the same', async () => {
  const junk = join(tmp.dir, 'junk.db');
  writeFileSync(junk, randomBytes(8192));
  const r = await runCli(['serve', '--rules', rules, '--db', junk, '--port', '0', '--host', '127.0.0.1'], { env: { B3OS_WEBHOOK_SECRET: 's' } });
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stderr.includes(`the database file ${junk} is not a valid database`), r.stderr);
});

test('--limit beyond what a listing can take is a usage error with a clear message', async () => {
  for (const [cmd, flag] of [
    ['events', '--limit'],
    ['deliveries', '--limit'],
  ] as const) {
    const r = await runCli([cmd, '--db', good, flag, '99999999999999999999']);
    assert.equal(r.code, 2, r.stderr + r.stdout);
    assert.match(r.stderr, /--limit is at most 1,000,000,000, not 99999999999999999999/);
    assert.doesNotMatch(r.stderr, /datatype mismatch/);
  }
  const ok = await runCli(['events', '--db', good, '--limit', '1000000000']);
  assert.equal(ok.code, 0, ok.stderr);
});
