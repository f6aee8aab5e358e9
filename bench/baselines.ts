// The two baselines the router is measured against, written for the benchmark. Run as a child
// process (so its memory is its own):
//
//   node dist/bench/baselines.js verify   bare Fastify: verify the HMAC signature (constant time), answer 204
//   node dist/bench/baselines.js sqlite   the same, then commit each event to SQLite in its own
//                                         transaction (better-sqlite3, WAL, synchronous=FULL, as
//                                         the router) before answering 204
//   node dist/bench/baselines.js sqlite-normal   the same at synchronous=NORMAL (in WAL mode a commit
//                                         does not fsync; a power cut may lose the last commits)
//
// Environment: PORT, DB_PATH (sqlite), B3OS_WEBHOOK_SECRET. Serves GET /healthz.
import Fastify from 'fastify';
import Database from 'better-sqlite3';
import { createHmac, timingSafeEqual } from 'node:crypto';

const mode = process.argv[2];
if (mode !== 'verify' && mode !== 'sqlite' && mode !== 'sqlite-normal') {
  process.stderr.write('usage: baselines.js verify|sqlite|sqlite-normal\n');
  process.exit(2);
}
const secret = process.env.B3OS_WEBHOOK_SECRET ?? '';
const port = Number(process.env.PORT ?? 0);
const HEX = /^[0-9a-fA-F]{64}$/;

function verified(header: string | string[] | undefined, body: Buffer): boolean {
  if (typeof header !== 'string') return false;
  let v = header.trim();
  if (v.toLowerCase().startsWith('sha256=')) v = v.slice(7);
  if (!HEX.test(v)) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(v, 'hex'));
}

let insert: ((id: string, type: string | null, payload: string, at: number) => void) | null = null;
let db: Database.Database | null = null;
if (mode === 'sqlite' || mode === 'sqlite-normal') {
  db = new Database(process.env.DB_PATH ?? 'baseline.db');
  db.pragma('journal_mode = WAL');
  db.pragma(mode === 'sqlite' ? 'synchronous = FULL' : 'synchronous = NORMAL');
  db.exec(`CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    type TEXT,
    received_at INTEGER NOT NULL,
    payload TEXT NOT NULL
  )`);
  const stmt = db.prepare('INSERT OR IGNORE INTO events (id, type, received_at, payload) VALUES (?, ?, ?, ?)');
  // One transaction (one commit, one fsync) per event.
  const tx = db.transaction((id: string, type: string | null, payload: string, at: number) => {
    stmt.run(id, type, at, payload);
  });
  insert = (id, type, payload, at) => tx.immediate(id, type, payload, at);
}

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

app.post('/b3os/hooks', async (req, reply) => {
  const body = req.body as Buffer;
  if (!verified(req.headers['x-b3os-signature'], body)) return reply.code(401).send({ error: 'signature' });
  if (insert) {
    let event: { id?: unknown; type?: unknown };
    try {
      event = JSON.parse(body.toString('utf8')) as typeof event;
    } catch {
      return reply.code(400).send({ error: 'json' });
    }
    if (typeof event !== 'object' || event === null) return reply.code(400).send({ error: 'json' });
    try {
      insert(String(event.id), typeof event.type === 'string' ? event.type : null, body.toString('utf8'), Date.now());
    } catch {
      return reply.code(503).send({ error: 'store' });
    }
  }
  return reply.code(204).send();
});
app.get('/healthz', async () => ({ status: 'ok' }));

await app.listen({ port, host: '127.0.0.1' });
const stop = async () => {
  await app.close();
  db?.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
