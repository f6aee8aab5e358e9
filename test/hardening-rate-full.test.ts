// DB_MAX_MB reached: /readyz says so (ready means an event would be stored), the write-ahead log
// counts in the cap, and a larger cap brings the server back. The real server on a real file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { tempDir } from './helpers/cli.js';
import { postEvent, startRouter } from './helpers/router.js';

const MB = 1024 * 1024;

const onDisk = (db: string) => statSync(db).size + (existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0);

test('DB_MAX_MB reached: hooks get 503 and /readyz is 503 too; the file and its WAL stay within the cap; a larger cap recovers', async () => {
  const tmp = tempDir();
  let r = await startRouter({ dir: tmp.dir, env: { DB_MAX_MB: '1' } });
  try {
    assert.equal((await fetch(r.url + '/readyz')).status, 200, 'ready while there is room');
    let full = false;
    let accepted = 0;
    for (let i = 0; i < 3000 && !full; i++) {
      const res = await postEvent(r.url, { id: `evt_full_${i}`, type: 'run.failed', pad: 'z'.repeat(900) });
      if (res.status === 204) accepted++;
      else {
        assert.equal(res.status, 503, res.text);
        full = true;
      }
    }
    assert.ok(full, 'the cap was reached');
    assert.ok(accepted > 100, `${accepted} accepted before the cap`);
    const ready = await fetch(r.url + '/readyz');
    assert.equal(ready.status, 503, 'not ready: an event would not be stored');
    assert.match(await ready.text(), /"database":"not writable"/);
    assert.equal((await postEvent(r.url, { id: 'evt_again', type: 'run.failed', pad: 'z'.repeat(900) })).status, 503, 'still full');
    assert.equal((await fetch(r.url + '/readyz')).status, 503, 'and still not ready');
    assert.ok(onDisk(r.dbPath) <= 1 * MB, `database and WAL: ${onDisk(r.dbPath)} bytes for a cap of ${MB}`);
    assert.equal((await fetch(r.url + '/healthz')).status, 200, 'alive');

    // A larger cap (a restart with more room): ready again, and events are stored.
    await r.stop();
    r = await startRouter({ dir: tmp.dir, dbPath: r.dbPath, env: { DB_MAX_MB: '2' } });
    assert.equal((await fetch(r.url + '/readyz')).status, 200);
    assert.equal((await postEvent(r.url, { id: 'evt_after', type: 'run.failed', pad: 'z'.repeat(900) })).status, 204);
  } finally {
    await r.stop();
    tmp.cleanup();
  }
});
