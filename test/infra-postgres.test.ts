// The PostgreSQL test helper itself: a real server from npm's binaries, two databases, the server
// taken away and brought back on the same port and data, and no process left behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { processesNaming as processesOf } from './helpers/processes.js';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { queryDb as query } from './helpers/replicas.js';

describe('test helper: startPostgres', () => {
  let pgs: PostgresServer;
  before(async () => {
    pgs = await startPostgres();
  });
  after(async () => {
    await pgs?.stop();
  });

  test('URLs carry the random password; the server listens on loopback only', async (t) => {
    t.diagnostic(`postgres initdb ${pgs.timings.initdbMs} ms, first start ${pgs.timings.startMs} ms`);
    const u = new URL(pgs.url());
    assert.equal(u.hostname, '127.0.0.1');
    assert.equal(u.port, String(pgs.port));
    assert.ok(pgs.password.length >= 20 && decodeURIComponent(u.password) === pgs.password);
    const wrong = new URL(pgs.url());
    wrong.password = 'not-the-password';
    await assert.rejects(query(wrong.href, 'SELECT 1'), /password authentication failed/);
    const [row] = await query<{ listen: string; sockets: string }>(
      pgs.url(),
      "SELECT current_setting('listen_addresses') AS listen, current_setting('unix_socket_directories') AS sockets",
    );
    assert.deepEqual(row, { listen: '127.0.0.1', sockets: '' });
  });

  test('two fresh databases are separate, and survive a stop and start on the same port', async () => {
    const a = await pgs.createDatabase();
    const b = await pgs.createDatabase();
    assert.notEqual(a, b);
    await query(a, 'CREATE TABLE t (v text)');
    await query(a, 'INSERT INTO t VALUES ($1)', ['in a']);
    await query(b, 'CREATE TABLE t (v text)');
    await query(b, 'INSERT INTO t VALUES ($1)', ['in b']);
    assert.deepEqual(await query(a, 'SELECT v FROM t'), [{ v: 'in a' }]);
    assert.deepEqual(await query(b, 'SELECT v FROM t'), [{ v: 'in b' }]);

    const port = pgs.port;
    await pgs.stopServer();
    assert.deepEqual(processesOf(pgs.dataDir), [], 'no postgres process after stopServer()');
    await assert.rejects(query(a, 'SELECT 1'), /ECONNREFUSED/);

    await pgs.startServer();
    assert.equal(pgs.port, port);
    assert.deepEqual(await query(a, 'SELECT v FROM t'), [{ v: 'in a' }]);
    assert.deepEqual(await query(b, 'SELECT v FROM t'), [{ v: 'in b' }]);

    await pgs.restart();
    assert.deepEqual(await query(b, 'SELECT v FROM t'), [{ v: 'in b' }]);
  });

  test('a client connected while the server stops gets an error, not a crash', async () => {
    const c = new pg.Client({ connectionString: await pgs.createDatabase() });
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    await pgs.stopServer();
    await assert.rejects(c.query('SELECT 1'));
    await c.end().catch(() => {});
    await pgs.startServer();
  });

  test('stop() removes the server and its directory; a second stop() is harmless', async () => {
    const other = await startPostgres();
    const dir = other.dataDir;
    assert.equal(processesOf(dir).length > 0, true);
    await other.stop();
    await other.stop();
    assert.deepEqual(processesOf(dir), []);
    assert.equal(existsSync(dir), false);
  });
});
