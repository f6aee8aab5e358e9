// Admin endpoints (read-only, but for the silences). Off (404) unless ADMIN_TOKEN is set; then a bearer token, compared
// in constant time, is required (401 when missing or wrong).
//
// Listings carry no payloads and are capped in bytes: a thousand large events once made a 312 MB
// answer that held the main thread for seconds. One event's payload is at /admin/events/:id.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sameSecret } from './secret.js';
import { ADMIN_DEFAULTS } from '../config/defaults.js';
import type { RouterConfig } from '../config/types.js';
import { DELIVERY_STATUSES, type DeliveryStatus, type Store, type StoredEvent } from '../store/store.js';
import { registerSilenceAdmin } from '../silence/admin.js';

export interface AdminDeps {
  store: Store;
  rules(): RouterConfig;
  token: string | null;
  /** Cap on a listing's answer in bytes (default ADMIN_DEFAULTS.maxListingBytes). */
  maxListingBytes?: number;
}

function authorized(req: FastifyRequest, token: string): boolean {
  const header = req.headers.authorization;
  if (typeof header !== 'string' || !header.toLowerCase().startsWith('bearer ')) return false;
  return sameSecret(header.slice(7).trim(), token);
}

type Query = Record<string, string | undefined>;

function limitOf(q: Query): number {
  const n = Number(q.limit ?? ADMIN_DEFAULTS.listLimit);
  return Number.isInteger(n) && n > 0 ? Math.min(n, ADMIN_DEFAULTS.maxListLimit) : ADMIN_DEFAULTS.listLimit;
}

/** The first query parameter given more than once, if any (each filter takes one value). */
function repeated(query: unknown): string | null {
  if (query === null || typeof query !== 'object') return null;
  for (const [k, v] of Object.entries(query)) if (Array.isArray(v)) return k;
  return null;
}

/** An event without its payload or routing, and how big the payload is. */
function summary({ payload, routing: _routing, ...meta }: StoredEvent) {
  return { ...meta, bytes: Buffer.byteLength(payload) };
}

/**
 * Items as JSON, stopping before the answer would pass `maxBytes` (at least one item is kept, and
 * one item is bounded by the body limit). Built as text so nothing is serialised twice.
 */
function cappedList(name: string, items: readonly unknown[], maxBytes: number): string {
  const parts: string[] = [];
  let size = 0;
  let truncated = false;
  for (const item of items) {
    const json = JSON.stringify(item);
    if (parts.length > 0 && size + json.length + 1 > maxBytes) {
      truncated = true;
      break;
    }
    parts.push(json);
    size += json.length + 1;
  }
  return `{"${name}":[${parts.join(',')}],"truncated":${truncated}}`;
}

export function registerAdmin(app: FastifyInstance, deps: AdminDeps): void {
  const maxBytes = deps.maxListingBytes ?? ADMIN_DEFAULTS.maxListingBytes;
  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    if (deps.token === null) return reply.code(404).send({ error: 'not_found', message: 'admin endpoints are off (set ADMIN_TOKEN)' });
    if (!authorized(req, deps.token))
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'missing or wrong bearer token' });
    const name = repeated(req.query);
    if (name !== null) return reply.code(400).send({ error: 'repeated_parameter', message: `give "${name}" once; each filter takes one value` });
  };
  const json = (reply: FastifyReply, text: string) => reply.header('content-type', 'application/json; charset=utf-8').send(text);

  app.register(async (admin) => {
    admin.addHook('onRequest', guard);
    admin.get('/admin/events', async (req, reply) => {
      const q = req.query as Query;
      const since = q.since !== undefined && /^\d+$/.test(q.since) ? Number(q.since) : undefined;
      const events = await deps.store.listEvents({ type: q.type, since, limit: limitOf(q) });
      return json(reply, cappedList('events', events.map(summary), maxBytes));
    });
    admin.get('/admin/events/:id', async (req, reply) => {
      const { id } = req.params as { id: string };
      const ev = await deps.store.findEvent(id);
      if (ev === null) return reply.code(404).send({ error: 'not_found', message: `no stored event with id or key "${id}"` });
      // The payload was verified as a JSON object at ingest; spliced, not parsed and re-serialised.
      const meta = JSON.stringify(summary(ev));
      return json(reply, `${meta.slice(0, -1)},"event":${ev.payload}}`);
    });
    admin.get('/admin/deliveries', async (req, reply) => {
      const q = req.query as Query;
      if (q.status !== undefined && !DELIVERY_STATUSES.includes(q.status as DeliveryStatus)) {
        return reply.code(400).send({ error: 'bad_status', message: `status is one of ${DELIVERY_STATUSES.join(', ')}` });
      }
      const list = await deps.store.listDeliveries({ status: q.status as DeliveryStatus | undefined, destination: q.destination, limit: limitOf(q) });
      return json(reply, cappedList('deliveries', list, maxBytes));
    });
    admin.get('/admin/events/:id/explain', async (req, reply) => {
      const { id } = req.params as { id: string };
      const { explainEvent } = await import('./explain.js');
      const report = await explainEvent(deps.store, deps.rules(), id);
      if (report === null) return reply.code(404).send({ error: 'not_found', message: `no stored event with id or key "${id}"` });
      return report;
    });
    // Noise control: GET/POST /admin/silences, DELETE /admin/silences/:id (silence/admin.ts).
    registerSilenceAdmin(admin, deps);
  });
}
