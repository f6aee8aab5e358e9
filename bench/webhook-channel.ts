// In-process harness for the delivery thread's HTTP cost (informational, not a scenario of
// `npm run bench`). Three modes, channel and worker against the bench sink (a child process),
// compose without it; CPU of this process only (process.cpuUsage, all its threads), so the sink's
// own work is not counted:
//
//   channel: N composed webhook deliveries (compose() + WebhookChannel.send, signed with the
//            default `b3os` scheme) with 16 in flight, after a warm-up: CPU µs per delivery.
//   compose: compose() alone (the body, headers and signature of the bench's webhook), N calls per
//            round, 5 rounds after a warm-up: CPU µs per call, least disturbed round and median.
//   worker:  N pending deliveries in a fresh SQLite database, drained by one DeliveryWorker
//            (claims, compose, send, outcomes): CPU µs per delivery from start to the last one.
//
// --root DIR runs another checkout's built code (its dist/src) with this harness, so that a base
// and a branch can be measured alternately:
//   node dist/bench/webhook-channel.js --mode channel --n 20000 [--root /tmp/base] [--no-secret]
//   node dist/bench/webhook-channel.js --mode compose --n 100000 [--root /tmp/base]
// --profile FILE writes a CPU profile of the measured part alone (node dist/bench/profile.js FILE).
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { RouterConfig, WebhookDestination } from '../src/config/types.js';
import type { Channel } from '../src/delivery/channels/channel.js';
import type { Lease } from '../src/delivery/channels/index.js';
import type { ComposeInput, ComposeResult } from '../src/delivery/compose.js';
import type { DeliveryWorker, WorkerDeps } from '../src/delivery/worker.js';
import type { LoadResult } from '../src/config/load.js';
import type { Store } from '../src/store/store.js';
import { cpuUs, eventBody, fillBench, loadFrom, ROOT, startSink, until } from './common.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'channel' },
    n: { type: 'string', default: '20000' },
    warmup: { type: 'string', default: '3000' },
    'in-flight': { type: 'string', default: '16' },
    root: { type: 'string', default: ROOT },
    'no-secret': { type: 'boolean', default: false },
    profile: { type: 'string' },
    /** worker mode: the CPU spent inside the store's claim and outcome calls, and their batch sizes. */
    'store-stats': { type: 'boolean', default: false },
  },
});
const a = {
  mode: values.mode === 'worker' || values.mode === 'compose' ? values.mode : ('channel' as const),
  n: Number(values.n),
  warmup: Number(values.warmup),
  inFlight: Number(values['in-flight']),
  root: resolve(values.root!),
  secret: !values['no-secret'],
  profile: values.profile === undefined ? null : resolve(values.profile),
  storeStats: values['store-stats']!,
};
type Args = typeof a;

function rulesText(sinkUrl: string, secret: boolean, concurrency: number): string {
  return `version: 1
destinations:
  bench-hook:
    type: webhook
    url: ${sinkUrl}/bench
    ${secret ? 'secret: bench-outbound-secret-0123456789' : ''}
    concurrency: ${concurrency}
rules:
  - name: bench-failures
    match: { type: run.failed }
    send_to: [bench-hook]
`;
}

/** The bench webhook's payload for send `i` (compose() of one of 1,000 events), as the worker composes it. */
async function composer(a: Args, config: RouterConfig): Promise<(i: number) => ComposeResult['payload']> {
  const { compose } = await loadFrom<{ compose(i: ComposeInput): ComposeResult }>(a.root, 'delivery/compose.js');
  const dest = config.destinations.get('bench-hook') as WebhookDestination;
  const rule = config.rules[0] ?? null;
  const raws = Array.from({ length: 1000 }, (_, i) => eventBody(`evt_${i}`));
  const events = raws.map((r) => JSON.parse(r) as ComposeInput['event']);
  return (i) =>
    compose({
      destination: dest,
      rule,
      ruleName: 'bench-failures',
      event: events[i % events.length]!,
      raw: raws[i % raws.length]!,
      type: 'run.failed',
      deliveryId: `dlv_${i}`,
      attempt: 1,
      fields: config.server.fields,
      now: Date.now(),
    }).payload;
}

/** CPU µs of `work` (and wall ms), profiled into `profile` when set. */
async function measured(profile: string | null, work: () => Promise<void>): Promise<{ cpu: number; wallMs: number }> {
  const session = profile === null ? null : new Session();
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const t0 = performance.now();
  const c0 = cpuUs();
  await work();
  const cpu = cpuUs() - c0;
  const wallMs = performance.now() - t0;
  if (session && profile) {
    const { profile: p } = await session.post('Profiler.stop');
    writeFileSync(profile, JSON.stringify(p));
    session.disconnect();
  }
  return { cpu, wallMs };
}

async function channelMode(a: Args, config: RouterConfig, sinkTotal: () => Promise<number>): Promise<{ cpuUsPerDelivery: number; wallMs: number }> {
  const { WebhookChannel } = await loadFrom<{ WebhookChannel: new (d: WebhookDestination) => Channel }>(a.root, 'delivery/channels/webhook.js');
  const channel = new WebhookChannel(config.destinations.get('bench-hook') as WebhookDestination);
  const payloadOf = await composer(a, config);
  const never = new AbortController().signal;
  // Every send in flight listens on it, as on the worker's shutdown signal.
  setMaxListeners(0, never);
  let failed = 0;
  const run = async (count: number): Promise<void> => {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        const r = await channel.send(payloadOf(i), never);
        if (r.outcome !== 'delivered') failed++;
      }
    };
    await Promise.all(Array.from({ length: a.inFlight }, lane));
  };
  await run(a.warmup);
  const before = await sinkTotal();
  const { cpu, wallMs } = await measured(a.profile, () => run(a.n));
  await channel.close();
  if (failed > 0) throw new Error(`${failed} sends were not delivered`);
  const got = (await sinkTotal()) - before;
  if (got !== a.n) throw new Error(`the sink received ${got} of ${a.n}`);
  return { cpuUsPerDelivery: cpu / a.n, wallMs };
}

/** compose() alone, no sink: CPU µs per call, the least disturbed of 5 rounds and their median. */
async function composeMode(a: Args, config: RouterConfig): Promise<{ min: number; median: number }> {
  const payloadOf = await composer(a, config);
  let bytes = 0;
  const run = (count: number): void => {
    for (let i = 0; i < count; i++) {
      const payload = payloadOf(i);
      if (payload.kind === 'webhook') bytes += payload.body.length;
    }
  };
  run(a.warmup);
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const c0 = cpuUs();
    run(a.n);
    rounds.push((cpuUs() - c0) / a.n);
  }
  if (bytes === 0) throw new Error('nothing composed');
  rounds.sort((x, y) => x - y);
  return { min: rounds[0]!, median: rounds[2]! };
}

/** Wraps the store's claim and outcome calls (synchronous in SQLite: the returned promise is
 * made after the transaction) to count their CPU, calls and batch sizes. */
function storeStats(store: Store): { report(n: number): string } {
  const calls = new Map<string, { calls: number; cpu: number; updates: number; claimed: number }>();
  const s = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of ['claimDue', 'finish', 'finishAndClaim']) {
    const orig = s[name]!.bind(store);
    const c = { calls: 0, cpu: 0, updates: 0, claimed: 0 };
    calls.set(name, c);
    s[name] = (...args: unknown[]) => {
      const c0 = cpuUs();
      const p = orig(...args);
      c.cpu += cpuUs() - c0;
      c.calls++;
      if (name !== 'claimDue') c.updates += (args[0] as unknown[]).length;
      void p.then(
        (r) => {
          if (Array.isArray(r)) c.claimed += r.length;
        },
        () => {},
      );
      return p;
    };
  }
  return {
    report: (n) =>
      [...calls]
        .map(
          ([name, c]) =>
            `${name}: ${c.calls} calls, ${(c.updates / Math.max(1, c.calls)).toFixed(1)} outcomes and ${(c.claimed / Math.max(1, c.calls)).toFixed(1)} claimed per call, ${(c.cpu / n).toFixed(1)} µs CPU per delivery`,
        )
        .join('\n'),
  };
}

async function workerMode(a: Args, config: RouterConfig, sinkTotal: () => Promise<number>): Promise<{ cpuUsPerDelivery: number; wallMs: number }> {
  const { openStore } = await loadFrom<{ openStore(spec: string): Store }>(a.root, 'store/open.js');
  const { ChannelRegistry } = await loadFrom<{ ChannelRegistry: new (env: object) => { lease(d: unknown): Lease; close(): Promise<void> } }>(
    a.root,
    'delivery/channels/index.js',
  );
  const { DeliveryWorker: Worker } = await loadFrom<{ DeliveryWorker: new (d: WorkerDeps) => DeliveryWorker }>(a.root, 'delivery/worker.js');
  const { SilenceCache } = await loadFrom<{ SilenceCache: new (store: Store, fields: () => unknown, log: WorkerDeps['log']) => WorkerDeps['silences'] }>(
    a.root,
    'silence/cache.js',
  );
  const dir = mkdtempSync(join(tmpdir(), 'b3os-bench-worker-'));
  const store = openStore(join(dir, 'router.db'));
  try {
    const now = Date.now();
    await fillBench(store, a.n, 0, now);
    const stats = a.storeStats ? storeStats(store) : null;
    const silent = { info() {}, warn() {}, error() {}, debug() {}, child: () => silent } as unknown as WorkerDeps['log'];
    const channels = new ChannelRegistry({ slackBotToken: null, slackApiUrl: null, smtpUrl: null });
    const noop = { inc() {}, observe() {} };
    const worker = new Worker({
      store,
      rules: () => config,
      channels,
      metrics: { deliveries: noop, policyBlocked: noop, attempts: noop },
      log: silent,
      // As the delivery thread runs it: the silences checked before each send (none are set here).
      silences: new SilenceCache(store, () => config.server.fields, silent),
    });
    const before = await sinkTotal();
    const { cpu, wallMs } = await measured(a.profile, async () => {
      await worker.start();
      await until(async () => (await sinkTotal()) - before >= a.n, 300_000, 'all deliveries at the sink', 20);
    });
    await worker.stop(5_000);
    await channels.close();
    if (stats) console.log(stats.report(a.n));
    return { cpuUsPerDelivery: cpu / a.n, wallMs };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const sink = await startSink();
  try {
    const { loadRulesText } = await loadFrom<{ loadRulesText(t: string, f: string): LoadResult }>(a.root, 'config/load.js');
    const { config, problems } = loadRulesText(rulesText(sink.url, a.secret, a.inFlight), 'bench-rules.yaml');
    if (config === null) throw new Error(problems.map((p) => p.message).join('; '));
    const sinkTotal = async () => (await sink.stats()).total;
    if (a.mode === 'compose') {
      const c = await composeMode(a, config);
      console.log(
        `compose root=${a.root} n=${a.n}${a.secret ? ' signed' : ''}: ${c.min.toFixed(2)} µs CPU/call (least disturbed of 5 rounds), median ${c.median.toFixed(2)}`,
      );
      return;
    }
    const r = a.mode === 'channel' ? await channelMode(a, config, sinkTotal) : await workerMode(a, config, sinkTotal);
    console.log(
      `${a.mode} root=${a.root} n=${a.n} in-flight=${a.inFlight}${a.secret ? ' signed' : ''}: ${r.cpuUsPerDelivery.toFixed(1)} µs CPU/delivery, ${Math.round((a.n / r.wallMs) * 1000)} deliveries/s`,
    );
  } finally {
    await sink.close();
  }
}

await main();
