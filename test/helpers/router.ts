// Starts the real router (`b3os-router serve`) as a child process on an ephemeral port, with its
// own rules file and SQLite file, and signs requests to it.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sign } from '../../src/ingest/signature.js';
import { BIN, ROOT, cleanEnv, waitFor } from './cli.js';

export const SECRET = 'test-secret-1';

export interface RouterProcess {
  child: ChildProcess;
  port: number;
  url: string;
  dbPath: string;
  rulesPath: string;
  /** Every log line so far (JSON objects parsed where possible). */
  logs: Record<string, unknown>[];
  stderr: () => string;
  /** Sends a signal and resolves with the exit code (bounded). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  dir: string;
  /** Rules YAML text; written to dir/rules.yaml. */
  rules?: string;
  rulesPath?: string;
  dbPath?: string;
  env?: Record<string, string | undefined>;
  args?: string[];
  timeoutMs?: number;
}

export const MINIMAL_RULES = `version: 1
destinations: {}
rules: []
`;

export async function startRouter(o: StartOptions): Promise<RouterProcess> {
  const rulesPath = o.rulesPath ?? join(o.dir, 'rules.yaml');
  if (o.rules !== undefined || o.rulesPath === undefined) writeFileSync(rulesPath, o.rules ?? MINIMAL_RULES);
  const dbPath = o.dbPath ?? join(o.dir, 'router.db');
  const child = spawn(process.execPath, [BIN, 'serve', '--rules', rulesPath, '--db', dbPath, '--port', '0', '--host', '127.0.0.1', ...(o.args ?? [])], {
    cwd: o.dir,
    env: cleanEnv({ B3OS_WEBHOOK_SECRET: SECRET, LOG_LEVEL: 'info', ...o.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));

  const listening = await waitFor(
    () => {
      if (done) throw new Error(`router exited before listening:\n${stderr}\n${JSON.stringify(logs)}`);
      return logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('b3os-router listening')) as { port: number } | undefined;
    },
    { timeoutMs: o.timeoutMs ?? 20_000, what: 'the router to listen' },
  );
  const port = listening.port;
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    dbPath,
    rulesPath,
    logs,
    stderr: () => stderr,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 20_000) {
      if (!done) child.kill(signal);
      let t: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => (t = setTimeout(() => r('timeout'), timeoutMs)))]);
      clearTimeout(t);
      if (code === 'timeout') {
        child.kill('SIGKILL');
        throw new Error(`router did not exit within ${timeoutMs} ms after ${signal}`);
      }
      return code;
    },
  };
}

/** POSTs a body to the hook path, signed with `secret` unless headers say otherwise. */
export async function postEvent(
  url: string,
  body: unknown,
  opts: { secret?: string | null; headers?: Record<string, string>; path?: string; contentType?: string } = {},
): Promise<{ status: number; text: string }> {
  const raw = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json' };
  if (opts.secret !== null) Object.assign(headers, sign(opts.secret ?? SECRET, raw));
  Object.assign(headers, opts.headers ?? {});
  const res = await fetch(url + (opts.path ?? '/b3os/hooks'), { method: 'POST', headers, body: typeof raw === 'string' ? raw : new Uint8Array(raw) });
  return { status: res.status, text: await res.text() };
}

/** Reads the router's database from outside, as the operating commands do. */
export function readDb<T>(dbPath: string, fn: (db: Database.Database) => T): T {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

export { ROOT };
