// In-process CPU per event of what ingest does before its transaction (prepareEvent in
// src/ingest/http.ts: verify, parse, route, idempotency key, the stored decision) and of the
// plan it runs inside it, with the example rules and the bench's signed events. `--root DIR` times
// another checkout's build, so base and branch can alternate:
//
//   node dist/bench/ingest-steps.js [--root DIR] [--events 20000] [--rounds 7] [--scheme b3os|standard-webhooks]
import { createHmac } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, SECRET, eventBody, median, signature } from './common.js';

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: ROOT },
    events: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '7' },
    scheme: { type: 'string', default: 'b3os' },
  },
});
const root = resolve(values.root);
const n = Number(values.events);
const rounds = Number(values.rounds);
const standard = values.scheme === 'standard-webhooks';

process.env.AUDIT_WEBHOOK_URL = 'http://127.0.0.1:9/audit';
const dist = (p: string) => import(join(root, 'dist', 'src', p));
const { loadRulesText } = await dist('config/load.js');
const { prepareEvent } = await dist('ingest/http.js');
const { NO_COUNTS } = await dist('policy/policy.js');
const { readFileSync } = await import('node:fs');

let text = readFileSync(join(root, 'rules.example.yaml'), 'utf8');
const whsec = `whsec_${Buffer.from('bench-secret-0123456789abcdef').toString('base64')}`;
if (standard) text = text.replace(/ {2}signature:\n( {4}.*\n)+/, '  signature:\n    scheme: standard-webhooks\n');
const loaded = loadRulesText(text, join(root, 'rules.example.yaml'));
if (!loaded.config) throw new Error(`rules: ${JSON.stringify(loaded.problems)}`);
const config = loaded.config;
const secrets = [standard ? whsec : SECRET];

// Fresh events for every round (a parsed event is remembered by identity in places).
function requests(round: number): { headers: Record<string, string>; body: Buffer }[] {
  const out = [];
  for (let i = 0; i < n; i++) {
    const id = `r${round}-${i}`;
    const text = eventBody(id);
    const body = Buffer.from(text);
    if (standard) {
      const ts = String(Math.floor(Date.now() / 1000));
      const key = Buffer.from(whsec.slice(6), 'base64');
      const sig = createHmac('sha256', key).update(`${id}.${ts}.`).update(body).digest('base64');
      out.push({ headers: { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` }, body });
    } else out.push({ headers: { 'content-type': 'application/json', 'x-b3os-signature': signature(text) }, body });
  }
  return out;
}

const prepare: number[] = [];
const planned: number[] = [];
for (let r = 0; r <= rounds; r++) {
  const reqs = requests(r);
  const items = new Array(n);
  const now = Date.now();
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const p = prepareEvent(config, secrets, null, reqs[i]!.headers, reqs[i]!.body, now);
    if (p.kind !== 'event') throw new Error(`not accepted: ${JSON.stringify(p)}`);
    items[i] = p.item;
  }
  const t1 = process.cpuUsage(t0);
  const t2 = process.cpuUsage();
  for (let i = 0; i < n; i++) items[i].plan(NO_COUNTS);
  const t3 = process.cpuUsage(t2);
  if (r === 0) continue; // warm-up
  prepare.push((t1.user + t1.system) / n);
  planned.push((t3.user + t3.system) / n);
}
const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
console.log(
  JSON.stringify({
    root,
    scheme: values.scheme,
    events: n,
    rounds,
    prepareUs: +median(prepare).toFixed(2),
    prepareRange: range(prepare),
    planUs: +median(planned).toFixed(2),
    planRange: range(planned),
  }),
);
