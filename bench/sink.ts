// The benchmark's webhook receiver, a child process (node:http) started with fork(): answers 200
// at once and counts what it received by the event id inside the router's default webhook body
// ({"rule": ..., "destination": ..., "event": {...}}). Talks to its parent over IPC:
//   → {port}                            once listening
//   ← {cmd: 'stats'|'ids'|'reset', id}  → {reply: id, value}
//   ← {cmd: 'receivedBy', id, arg: t}    → {reply: id, value: distinct events first received at or before t (ms)}
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

let total = 0;
let firstAt: number | null = null;
let lastAt: number | null = null;
const ids = new Set<string>();
// When each distinct event was first received (ms, this machine's clock as the parent's Date.now()).
let firstTimes: number[] = [];

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    total++;
    firstAt ??= now;
    lastAt = now;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event?: { id?: unknown } };
      if (body.event && typeof body.event.id === 'string' && !ids.has(body.event.id)) {
        ids.add(body.event.id);
        firstTimes.push(now);
      }
    } catch {
      // counted in total, not in unique
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  });
});
server.keepAliveTimeout = 60_000;

server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});

process.on('message', (m: { cmd: string; id: number; arg?: number }) => {
  let value: unknown = null;
  if (m.cmd === 'stats') value = { total, unique: ids.size, firstAt, lastAt };
  else if (m.cmd === 'ids') value = [...ids];
  else if (m.cmd === 'receivedBy') value = firstTimes.filter((t) => t <= (m.arg ?? Infinity)).length;
  else if (m.cmd === 'reset') {
    total = 0;
    firstAt = null;
    lastAt = null;
    ids.clear();
    firstTimes = [];
  }
  process.send?.({ reply: m.id, value });
});
process.on('disconnect', () => process.exit(0));
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
