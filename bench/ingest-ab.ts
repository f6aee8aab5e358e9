// Two checkouts' routers side by side, closed loop: the ingest scenario's router alone (example
// rules, audit webhook to the bench sink, 50 connections, unique signed events), alternating
// between the checkouts for several pairs so that a busy machine's load falls on both alike.
// Per run: req/s, p99, main-thread and whole-process CPU per request during the load, peak RSS
// (VmHWM, deliveries drained) and the load average when it started.
//
//   node dist/bench/ingest-ab.js --roots DIR_A,DIR_B [--pairs 4] [--seconds 5] [--warmup 2] [--connections 50]
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuSecondsOf, load, median, memoryOf, startRouter, startSink } from './common.js';
import { drainer } from './ingest.js';

const { values } = parseArgs({
  options: {
    roots: { type: 'string' },
    pairs: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
  },
});
if (!values.roots) throw new Error('--roots DIR_A,DIR_B');
const roots = values.roots.split(',').map((r) => resolve(r));
/** The main thread's CPU seconds (its task's stat). */
const mainCpu = (pid: number) => cpuSecondsOf(pid, pid);

interface Run {
  root: string;
  load: number;
  rps: number;
  p99: number;
  mainUs: number;
  processUs: number;
  hwmMb: number;
}
const runs: Run[] = [];
const sink = await startSink();
try {
  for (let pair = 0; pair < Number(values.pairs); pair++) {
    const order = pair % 2 === 0 ? roots : [...roots].reverse();
    for (const root of order) {
      const dir = mkdtempSync(join(tmpdir(), 'ingest-ab-'));
      const router = await startRouter({
        dir,
        rulesFile: join(root, 'rules.example.yaml'),
        bin: join(root, 'bin', 'b3os-router.js'),
        env: { AUDIT_WEBHOOK_URL: `${sink.url}/audit` },
      });
      let accepted = 0;
      const onOk = () => accepted++;
      const drain = drainer(router, sink, () => accepted);
      try {
        const la = loadavg()[0]!;
        await load({ url: router.url, connections: Number(values.connections), duration: Number(values.warmup), idPrefix: `w${pair}`, onOk });
        await drain.wait();
        const m0 = mainCpu(router.pid);
        const p0 = cpuSecondsOf(router.pid);
        const res = await load({ url: router.url, connections: Number(values.connections), duration: Number(values.seconds), idPrefix: `r${pair}`, onOk });
        const m1 = mainCpu(router.pid);
        const p1 = cpuSecondsOf(router.pid);
        await drain.wait();
        const n = res.requests.total;
        const run: Run = {
          root,
          load: +la.toFixed(2),
          rps: Math.round(res.requests.average),
          p99: res.latency.p99,
          mainUs: Math.round(((m1 - m0) * 1e6) / n),
          processUs: Math.round(((p1 - p0) * 1e6) / n),
          hwmMb: +((memoryOf(router.pid)?.hwm ?? 0) / (1024 * 1024)).toFixed(1),
        };
        runs.push(run);
        console.log(JSON.stringify(run));
      } finally {
        drain.close();
        router.rss.stop();
        await router.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
} finally {
  await sink.close();
}
for (const root of roots) {
  const rs = runs.filter((r) => r.root === root);
  const range = (k: keyof Run) => {
    const xs = rs.map((r) => r[k] as number);
    return `${Math.min(...xs)}–${Math.max(...xs)} (median ${median(xs)})`;
  };
  console.log(
    `${root}: req/s ${range('rps')}; p99 ms ${range('p99')}; main µs/req ${range('mainUs')}; process µs/req ${range('processUs')}; VmHWM MB ${range('hwmMb')}; load ${range('load')}`,
  );
}
