// In-process CPU per event of what ingest does before its transaction (prepareEvent in
// src/ingest/http.ts: verify, parse, route, idempotency key, the stored decision) and of the
// plan it runs inside it, with the example rules and the bench's signed events. `--root DIR` times
// another checkout's build, so base and branch can alternate:
//
//   node dist/bench/ingest-steps.js [--root DIR] [--events 10000] [--rounds 15] [--scheme b3os|standard-webhooks] [--rules FILE]
// (routeEvent: the route and its plan, of events parsed beforehand. --rules: another rules file
// than the example, read from where it is.)
import { createHmac } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, SECRET, eventBody, median, signature } from './common.js';

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: ROOT },
    events: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '15' },
    scheme: { type: 'string', default: 'b3os' },
    rules: { type: 'string' },
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

const rulesFile = values.rules ? resolve(values.rules) : join(root, 'rules.example.yaml');
let text = readFileSync(rulesFile, 'utf8');
const whsec = `whsec_${Buffer.from('bench-secret-0123456789abcdef').toString('base64')}`;
if (standard) text = text.replace(/ {2}signature:\n( {4}.*\n)+/, '  signature:\n    scheme: standard-webhooks\n');
const loaded = loadRulesText(text, rulesFile);
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

const { verify } = await dist('ingest/signature.js');
const { routeEvent } = await dist('route/route.js');
const { knownEventSize } = await dist('rules/logic.js');

// Each step over the same fresh requests, in the order ingest runs them; CPU per event.
const steps: Record<string, number[]> = { prepareEvent: [], verify: [], routeEvent: [] };
const cpu = (f: () => void) => {
  const t = process.cpuUsage();
  f();
  const d = process.cpuUsage(t);
  return (d.user + d.system) / n;
};
for (let r = 0; r <= rounds; r++) {
  const reqs = requests(r);
  const now = Date.now();
  // A batch's worth of items held at a time, as group commit holds them (not all n: their
  // promotion to the old generation would be charged to prepareEvent).
  const items = new Array(64);
  const prepareUs = cpu(() => {
    for (let i = 0; i < n; i++) {
      const p = prepareEvent(config, secrets, null, reqs[i]!.headers, reqs[i]!.body, now);
      if (p.kind !== 'event') throw new Error(`not accepted: ${JSON.stringify(p)}`);
      items[i % 64] = p.item;
    }
  });
  const verifyUs = cpu(() => {
    for (let i = 0; i < n; i++) if (!verify(config.server.signature, secrets, reqs[i]!.headers, reqs[i]!.body, now).ok) throw new Error('unverified');
  });
  const events = reqs.map((q) => JSON.parse(q.body.toString()));
  const routeUs = cpu(() => {
    for (let i = 0; i < n; i++) {
      knownEventSize(events[i], reqs[i]!.body.length);
      routeEvent(config, events[i], { now, replay: false, skipIgnored: true, matchedOnly: true }).plan(NO_COUNTS);
    }
  });
  events.length = 0;
  if (r === 0) continue; // warm-up
  steps.prepareEvent!.push(prepareUs);
  steps.verify!.push(verifyUs);
  steps.routeEvent!.push(routeUs);
}
const out: Record<string, unknown> = { root, scheme: values.scheme, events: n, rounds };
// The least disturbed round (min) is the steadiest figure on a shared machine; the median beside it.
for (const [k, xs] of Object.entries(steps)) out[k] = { min: +Math.min(...xs).toFixed(2), median: +median(xs).toFixed(2) };
console.log(JSON.stringify(out));
