// An open-loop load driver: request i is due at start + i / rate whatever happened to the earlier
// ones, and its latency is measured from that scheduled time (not from when it was actually sent),
// so a stall in the target shows in full instead of being hidden by the driver waiting for it
// (coordinated omission). A keep-alive pool opens as many connections as the backlog needs.
import { Agent, request } from 'node:http';
import { HOOK_PATH, eventBody, signature } from './common.js';

export interface OpenLoopResult {
  rate: number;
  seconds: number;
  sent: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  /** Answers per second over the schedule's span plus the tail of the last answers. */
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Connections the pool opened. */
  sockets: number;
}

export async function openLoop(o: {
  url: string;
  rate: number;
  seconds: number;
  idPrefix: string;
  workflowId?: string;
  onOk?: (id: string) => void;
}): Promise<OpenLoopResult> {
  const u = new URL(o.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  let sockets = 0;
  const total = Math.round(o.rate * o.seconds);
  const interval = 1000 / o.rate;
  const latencies: number[] = [];
  let ok2xx = 0;
  let non2xx = 0;
  let errors = 0;
  let done = 0;
  let lastAnswer = 0;
  const start = performance.now() + 5;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));
  const settle = (scheduled: number) => {
    const now = performance.now();
    latencies.push(now - scheduled);
    lastAnswer = now;
    if (++done === total) finish();
  };
  const send = (i: number, scheduled: number) => {
    const id = `${o.idPrefix}-${i}`;
    const body = eventBody(id, o.workflowId);
    const req = request(
      {
        agent,
        host: u.hostname,
        port: u.port,
        method: 'POST',
        path: HOOK_PATH,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-b3os-signature': signature(body) },
        timeout: 20_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            ok2xx++;
            o.onOk?.(id);
          } else non2xx++;
          settle(scheduled);
        });
      },
    );
    req.on('socket', (s) => {
      if (!(s as { benchCounted?: boolean }).benchCounted) {
        (s as { benchCounted?: boolean }).benchCounted = true;
        sockets++;
      }
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => {
      errors++;
      settle(scheduled);
    });
    req.end(body);
  };
  let i = 0;
  const tick = () => {
    const now = performance.now();
    while (i < total && start + i * interval <= now) {
      send(i, start + i * interval);
      i++;
    }
    if (i < total) setTimeout(tick, Math.max(0, start + i * interval - performance.now()));
  };
  setTimeout(tick, 5);
  if (total > 0) await finished;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]! : NaN);
  return {
    rate: o.rate,
    seconds: o.seconds,
    sent: total,
    ok2xx,
    non2xx,
    errors,
    rps: done / ((lastAnswer - start) / 1000),
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    max: latencies.length ? latencies[latencies.length - 1]! : NaN,
    sockets,
  };
}
