// Main-thread CPU per ingested event at a fixed rate (issue 15). The router (a built CLI: this
// checkout's, or another one's with --root DIR, so base and branch can alternate) runs the example
// rules with its audit webhook pointed at the bench sink, and takes unique signed events from
// autocannon at a fixed offered rate over 50 connections. A fixed rate keeps group-commit batches
// the same size whatever the version, so the CPU per event compares like with like. Read from
// /proc/PID/task/PID/stat (the main thread alone) around the measured requests, and the whole
// process until its deliveries reached the sink.
//
//   node dist/bench/ingest-cpu.js [--root DIR] [--rate 1000] [--requests 15000] [--warmup 5000] [--prof DIR] [--log FILE] [--perf FILE]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, cpuSecondsOf, load, sleep, startRouter, startSink } from './common.js';
import { drainer } from './ingest.js';

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: ROOT },
    rate: { type: 'string', default: '1000' },
    requests: { type: 'string', default: '15000' },
    warmup: { type: 'string', default: '5000' },
    connections: { type: 'string', default: '50' },
    prof: { type: 'string' },
    log: { type: 'string' },
    perf: { type: 'string' },
    label: { type: 'string', default: '' },
  },
});
const root = resolve(values.root);
const rate = Number(values.rate);
const requests = Number(values.requests);
const warmup = Number(values.warmup);
const connections = Number(values.connections);

const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
/** CPU seconds of one thread (its task stat: utime, stime). */
function threadCpu(pid: number, tid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / ticks, sys: Number(f[12]) / ticks };
}

const dir = mkdtempSync(join(tmpdir(), 'ingest-cpu-'));
const sink = await startSink();
const router = await startRouter({
  dir,
  rulesFile: join(root, 'rules.example.yaml'),
  bin: join(root, 'bin', 'b3os-router.js'),
  env: { AUDIT_WEBHOOK_URL: `${sink.url}/audit` },
  logFile: values.log ? resolve(values.log) : null,
  nodeArgs: [...(values.prof ? ['--cpu-prof', `--cpu-prof-dir=${resolve(values.prof)}`] : []), ...(values.perf ? ['--perf-basic-prof'] : [])],
});
let accepted = 0;
const drain = drainer(router, sink, () => accepted);
try {
  const onOk = () => accepted++;
  await load({ url: router.url, connections, amount: warmup, rate, idPrefix: 'warm', onOk });
  await drain.wait();
  // perf samples CPU time (not wall time, as --cpu-prof does), of the main thread, measured requests only.
  const perf = values.perf
    ? spawn('perf', ['record', '-e', 'cpu-clock', '-F', '4000', ...(process.env.PERF_G ? ['-g'] : []), '-t', String(router.pid), '-o', resolve(values.perf)], {
        stdio: 'ignore',
      })
    : null;
  if (perf) await sleep(500);
  const main0 = threadCpu(router.pid, router.pid);
  const all0 = cpuSecondsOf(router.pid);
  const res = await load({ url: router.url, connections, amount: requests, rate, idPrefix: 'run', onOk });
  const main1 = threadCpu(router.pid, router.pid);
  if (perf) {
    perf.kill('SIGINT');
    await new Promise((r) => perf.once('exit', r));
  }
  await drain.wait();
  const all1 = cpuSecondsOf(router.pid);
  const n = res.requests.total;
  const out = {
    label: values.label,
    root,
    requests: n,
    non2xx: res.non2xx,
    statusCodes: Object.fromEntries(Object.entries(res.statusCodeStats).map(([k, v]) => [k, v.count])),
    errors: res.errors,
    p99: res.latency.p99,
    mainUsPerReq: +(((main1.user + main1.sys - main0.user - main0.sys) * 1e6) / n).toFixed(1),
    mainUserUsPerReq: +(((main1.user - main0.user) * 1e6) / n).toFixed(1),
    mainSysUsPerReq: +(((main1.sys - main0.sys) * 1e6) / n).toFixed(1),
    processUsPerReqWithDrain: +(((all1 - all0) * 1e6) / n).toFixed(1),
  };
  console.log(JSON.stringify(out));
} finally {
  drain.close();
  router.rss.stop();
  await router.stop();
  await sink.close();
  rmSync(dir, { recursive: true, force: true });
}
