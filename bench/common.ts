// Shared pieces of the benchmark: child processes (the router as users run it, the baselines, the
// webhook sink), peak-memory sampling, signed events and autocannon runs.
import { execFileSync, spawn, fork, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, createWriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import type { IngestItem, Store } from '../src/store/store.js';
import { freePort } from '../test/helpers/cli.js';

/** Repository root (this file runs from dist/bench/). */
export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
export const BIN = join(ROOT, 'bin', 'b3os-router.js');
export const BENCH_DIST = fileURLToPath(new URL('.', import.meta.url));
export const SECRET = 'bench-secret-0123456789';
export const HOOK_PATH = '/b3os/hooks';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls cond until truthy or the time is up (then throws, naming `what`). */
export async function until<T>(cond: () => T | Promise<T>, timeoutMs: number, what: string, intervalMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// The disk: every durable design here pays an fsync per commit, so its latency frames the results.

/** Writes 4 KiB and fsyncs, repeatedly for `ms`, in `dir`; returns latency percentiles (ms). */
export function fsyncProbe(dir: string, ms = 2000): { count: number; p50: number; p99: number; max: number } {
  const file = join(dir, 'fsync-probe.bin');
  const fd = openSync(file, 'w');
  const buf = Buffer.alloc(4096, 1);
  const times: number[] = [];
  const end = Date.now() + ms;
  try {
    while (Date.now() < end) {
      writeSync(fd, buf);
      const t = performance.now();
      fsyncSync(fd);
      times.push(performance.now() - t);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => +times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(2);
  return { count: times.length, p50: q(0.5), p99: q(0.99), max: +times[times.length - 1]!.toFixed(2) };
}

// ---------------------------------------------------------------------------------------------
// Memory

/** Reads VmRSS and VmHWM (peak resident set) of a process, in bytes. */
export function memoryOf(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

/** Samples a process's RSS every `everyMs` and remembers the highest (also VmHWM, the kernel's own peak). */
export class RssSampler {
  peak = 0;
  private timer: NodeJS.Timeout;
  constructor(
    private readonly pid: number,
    everyMs = 100,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }
  sample(): void {
    const m = memoryOf(this.pid);
    if (m) this.peak = Math.max(this.peak, m.rss, m.hwm);
  }
  stop(): number {
    this.sample();
    clearInterval(this.timer);
    return this.peak;
  }
}

// ---------------------------------------------------------------------------------------------
// CPU

let clockTicks = 0;
/**
 * CPU seconds (user + system) a process has used so far, all its threads included, live or exited
 * (/proc/<pid>/stat utime + stime, in clock ticks: 10 ms steps, so measure over seconds); with
 * `tid`, that one thread's (/proc/<pid>/task/<tid>/stat).
 */
export function cpuSecondsOf(pid: number, tid?: number): number {
  if (!clockTicks) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clockTicks;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes

export interface Target {
  name: string;
  url: string;
  port: number;
  child: ChildProcess;
  pid: number;
  rss: RssSampler;
  /** Sends SIGTERM and waits (bounded) for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** The last lines the child wrote (stdout and stderr). */
  tail(): string;
}

function keepTail(child: ChildProcess, logFile: string | null): () => string {
  const lines: string[] = [];
  const out = logFile ? createWriteStream(logFile) : null;
  const add = (d: Buffer) => {
    out?.write(d);
    for (const l of d.toString().split('\n')) if (l) lines.push(l);
    if (lines.length > 50) lines.splice(0, lines.length - 50);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  child.on('exit', () => out?.end());
  return () => lines.join('\n');
}

async function waitHealthy(url: string, child: ChildProcess, tail: () => string, timeoutMs = 20_000): Promise<void> {
  let exited = false;
  child.once('exit', () => (exited = true));
  await until(
    async () => {
      if (exited) throw new Error(`${url}: process exited before it was healthy:\n${tail()}`);
      try {
        const res = await fetch(url + '/healthz');
        return res.status === 200;
      } catch {
        return false;
      }
    },
    timeoutMs,
    `${url}/healthz`,
    50,
  );
}

function stopper(child: ChildProcess, timeoutMs = 20_000): () => Promise<number | null> {
  const exited = new Promise<number | null>((r) => {
    if (child.exitCode !== null) r(child.exitCode);
    else child.once('exit', (code) => r(code));
  });
  return async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    let t: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => (t = setTimeout(() => r('timeout'), timeoutMs)))]);
    clearTimeout(t);
    if (code === 'timeout') {
      child.kill('SIGKILL');
      return null;
    }
    return code;
  };
}

export interface RouterStart {
  dir: string;
  /** The rules file's text (written into dir), or */
  rules?: string;
  /** an existing rules file used where it is (its examples are looked up next to it). */
  rulesFile?: string;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
  logFile?: string | null;
  env?: Record<string, string>;
  /** The database (--db): a PostgreSQL URL; default a SQLite file in dir. */
  db?: string;
  /** The CLI to run (another checkout's, to compare versions); default this one's. */
  bin?: string;
}

/**
 * What `npm start` puts before the CLI script (package.json scripts.start, e.g.
 * `MALLOC_ARENA_MAX=2 node --max-old-space-size=96 bin/b3os-router.js serve`): its environment
 * assignments and its node flags, so that the bench runs what users run.
 */
export function startScript(): { env: Record<string, string>; nodeFlags: string[] } {
  const none = { env: {}, nodeFlags: [] };
  try {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    const words = (pkg.scripts?.start ?? '').trim().split(/\s+/);
    const env: Record<string, string> = {};
    let at = 0;
    for (; at < words.length; at++) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(words[at]!);
      if (!m) break;
      env[m[1]!] = m[2]!;
    }
    if (words[at] !== 'node') return none;
    const script = words.findIndex((w) => w.endsWith('b3os-router.js'));
    return { env, nodeFlags: script > at + 1 ? words.slice(at + 1, script).filter((w) => w.startsWith('--')) : [] };
  } catch {
    return none;
  }
}

/** The router as users run it: the built CLI, production mode, warn-level logs, its own DB and rules. */
export async function startRouter(o: RouterStart): Promise<Target & { dbPath: string }> {
  mkdirSync(o.dir, { recursive: true });
  const rulesPath = o.rulesFile ?? join(o.dir, 'rules.yaml');
  const dbPath = o.db ?? join(o.dir, 'router.db');
  if (!o.rulesFile) writeFileSync(rulesPath, o.rules ?? '');
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['B3OS_WEBHOOK_SECRET_PREVIOUS', 'SLACK_BOT_TOKEN', 'SLACK_API_URL', 'SMTP_URL', 'ADMIN_TOKEN', 'NODE_OPTIONS']) delete env[k];
  const start = startScript();
  Object.assign(env, { ...start.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', B3OS_WEBHOOK_SECRET: SECRET, ...o.env });
  const child = spawn(
    process.execPath,
    [...start.nodeFlags, ...(o.nodeArgs ?? []), o.bin ?? BIN, 'serve', '--rules', rulesPath, '--db', dbPath, '--port', String(port), '--host', '127.0.0.1'],
    {
      cwd: o.dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const tail = keepTail(child, o.logFile ?? null);
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, child, tail);
  return { name: 'router', url, port, child, pid: child.pid!, rss: new RssSampler(child.pid!), stop: stopper(child), tail, dbPath };
}

export type BaselineMode = 'verify' | 'sqlite' | 'sqlite-normal';
const BASELINE_NAMES: Record<BaselineMode, string> = { verify: 'fastify-verify', sqlite: 'fastify-sqlite', 'sqlite-normal': 'fastify-sqlite-normal' };

/** A baseline receiver (bench/baselines.ts) as its own process, so its RSS is its own. */
export async function startBaseline(mode: BaselineMode, dir: string): Promise<Target & { dbPath: string }> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const dbPath = join(dir, `baseline-${mode}.db`);
  const child = spawn(process.execPath, [join(BENCH_DIST, 'baselines.js'), mode], {
    cwd: dir,
    env: { ...process.env, NODE_ENV: 'production', PORT: String(port), DB_PATH: dbPath, B3OS_WEBHOOK_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail = keepTail(child, null);
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, child, tail);
  const name = BASELINE_NAMES[mode];
  return { name, url, port, child, pid: child.pid!, rss: new RssSampler(child.pid!), stop: stopper(child), tail, dbPath };
}

// ---------------------------------------------------------------------------------------------
// The webhook sink: a separate process (node:http) that answers 200 at once and counts what came.

export interface SinkStats {
  total: number;
  unique: number;
  firstAt: number | null;
  lastAt: number | null;
}

export interface Sink {
  url: string;
  pid: number;
  stats(): Promise<SinkStats>;
  /** The event ids received (unique), for verification. */
  ids(): Promise<string[]>;
  reset(): Promise<void>;
  /** Distinct events first received at or before `t` (Date.now() ms). */
  receivedBy(t: number): Promise<number>;
  close(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  const child = fork(join(BENCH_DIST, 'sink.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let seq = 0;
  const waiting = new Map<number, (v: unknown) => void>();
  let onPort: (p: number) => void = () => undefined;
  const portP = new Promise<number>((r) => (onPort = r));
  child.on('message', (m: { port?: number; reply?: number; value?: unknown }) => {
    if (m.port !== undefined) onPort(m.port);
    if (m.reply !== undefined) {
      waiting.get(m.reply)?.(m.value);
      waiting.delete(m.reply);
    }
  });
  const ask = <T>(cmd: string, arg?: number): Promise<T> =>
    new Promise<T>((r, rej) => {
      const id = ++seq;
      const t = setTimeout(() => rej(new Error(`sink did not answer ${cmd}`)), 30_000);
      waiting.set(id, (v) => {
        clearTimeout(t);
        r(v as T);
      });
      child.send({ cmd, id, arg });
    });
  const port = await Promise.race([portP, sleep(10_000).then(() => Promise.reject(new Error('sink did not start')))]);
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    stats: () => ask<SinkStats>('stats'),
    ids: () => ask<string[]>('ids'),
    reset: () => ask<void>('reset'),
    receivedBy: (t) => ask<number>('receivedBy', t),
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Events

/** The in-process harnesses' event: `id` with `payload` (eventBody(id) unless given), one pending
 * delivery of the bench rule to the bench destination. */
export function benchItem(id: string, receivedAt: number, payload = eventBody(id)): IngestItem {
  return {
    event: { key: `id:${id}`, keyKind: 'event_id', eventId: id, runId: `run_${id}`, executionId: null, type: 'run.failed', receivedAt, payload, routing: '{}' },
    plan: () => [{ rule: 'bench-failures', destination: 'bench-hook', privileged: false, status: 'pending', reason: null }],
  };
}

/** `n` bench events (evt_<offset + i>) into `store`, 100 per batch, received at `receivedAt`. */
export async function fillBench(store: Store, n: number, offset: number, receivedAt: number): Promise<void> {
  for (let start = 0; start < n; start += 100) {
    const batch: IngestItem[] = [];
    for (let i = start; i < Math.min(n, start + 100); i++) batch.push(benchItem(`evt_${offset + i}`, receivedAt));
    await store.ingest(batch);
  }
}

/** A module of a checkout's build (`root`/dist/src/`path`): base and branch measured alternately. */
export const loadFrom = <T>(root: string, path: string): Promise<T> => import(pathToFileURL(join(root, 'dist', 'src', path)).href) as Promise<T>;

/** This process's CPU so far (all its threads), µs. */
export const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** A realistic B3OS run.failed event, about 600 bytes. */
export function eventBody(id: string, workflowId = 'wf_bench'): string {
  const now = new Date();
  return JSON.stringify({
    id,
    type: 'run.failed',
    createdAt: now.toISOString(),
    data: {
      workflowId,
      workflowName: 'Nightly ledger reconciliation',
      runId: `run_${id}`,
      executionId: `exe_${id}`,
      status: 'failed',
      trigger: 'schedule',
      startedAt: new Date(now.getTime() - 42_000).toISOString(),
      finishedAt: now.toISOString(),
      amount: 1250.5,
      currency: 'USD',
      error: { message: 'step "post-ledger" timed out after 30s', code: 'STEP_TIMEOUT', step: 'post-ledger' },
      url: `https://app.b3os.example/workflows/${workflowId}/runs/run_${id}`,
      tags: ['finance', 'nightly'],
    },
  });
}

export function signature(body: string, secret = SECRET): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Load

export interface LoadRun {
  target: string;
  round: number;
  seconds: number;
  requests: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

export interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds; or `amount` requests. */
  duration?: number;
  amount?: number;
  /** Offered load in requests/s across all connections (default: as fast as answers come). */
  rate?: number;
  /** Ids are `${idPrefix}-${n}`; each request gets a new one and its own signature. */
  idPrefix: string;
  workflowId?: string;
  /** Called with the id of every request answered 2xx. */
  onOk?: (id: string) => void;
}

/** Drives a target with autocannon: a unique, correctly signed event per request. */
export function load(o: LoadOptions): Promise<Result> {
  let n = 0;
  return new Promise((res, rej) => {
    autocannon(
      {
        url: o.url,
        connections: o.connections,
        pipelining: 1,
        timeout: 20,
        ...(o.amount !== undefined ? { amount: o.amount } : { duration: o.duration ?? 5 }),
        ...(o.rate !== undefined ? { overallRate: o.rate } : {}),
        requests: [
          {
            method: 'POST',
            path: HOOK_PATH,
            setupRequest: (req, ctx) => {
              const id = `${o.idPrefix}-${n++}`;
              ctx.id = id;
              const body = eventBody(id, o.workflowId);
              return { ...req, method: 'POST', path: HOOK_PATH, body, headers: { 'content-type': 'application/json', 'x-b3os-signature': signature(body) } };
            },
            onResponse: (status, _body, ctx) => {
              if (status >= 200 && status < 300 && o.onOk) o.onOk(ctx.id as string);
            },
          },
        ],
      },
      (err, result) => (err ? rej(err) : res(result)),
    );
  });
}

export function summarize(target: string, round: number, r: Result): LoadRun {
  return {
    target,
    round,
    seconds: r.duration,
    requests: r.requests.total,
    rps: r.requests.total / r.duration,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    max: r.latency.max,
    ok2xx: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats).map(([k, v]) => [k, v.count])),
  };
}

// ---------------------------------------------------------------------------------------------
// Reporting

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export const mb = (bytes: number) => bytes / (1024 * 1024);
export const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

export function ensureDir(p: string): string {
  mkdirSync(p, { recursive: true });
  return p;
}

export { dirname };
