// Read-only admin endpoints. Off (404) unless ADMIN_TOKEN is set; then a bearer token, compared
// in constant time, is required (401 when missing or wrong).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RouterConfig } from '../config/types.js';
import { DELIVERY_STATUSES, type DeliveryStatus, type Store } from '../store/store.js';

export interface AdminDeps {
  store: Store;
  rules(): RouterConfig;
  token: string | null;
}

// Hashing both sides first gives equal lengths, so timingSafeEqual never leaks the token's length.
const digest = (s: string) => createHash('sha256').update(s).digest();

function authorized(req: FastifyRequest, token: string): boolean {
  const header = req.headers.authorization;
  if (typeof header !== 'string' || !header.toLowerCase().startsWith('bearer ')) return false;
  return timingSafeEqual(digest(header.slice(7).trim()), digest(token));
}

function limitOf(q: Record<string, string | undefined>): number {
  const n = Number(q.limit ?? 100);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1000) : 100;
}

export function registerAdmin(app: FastifyInstance, deps: AdminDeps): void {
  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    if (deps.token === null) return reply.code(404).send({ error: 'not_found', message: 'admin endpoints are off (set ADMIN_TOKEN)' });
    if (!authorized(req, deps.token)) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'missing or wrong bearer token' });
  };

  app.register(async (admin) => {
    admin.addHook('onRequest', guard);
    admin.get('/admin/events', async (req) => {
      const q = req.query as Record<string, string | undefined>;
      const since = q.since !== undefined && /^\d+$/.test(q.since) ? Number(q.since) : undefined;
      const events = await deps.store.listEvents({ type: q.type, since, limit: limitOf(q) });
      return { events: events.map(({ payload, routing, ...rest }) => ({ ...rest, event: JSON.parse(payload) as unknown })) };
    });
    admin.get('/admin/deliveries', async (req, reply) => {
      const q = req.query as Record<string, string | undefined>;
      if (q.status !== undefined && !DELIVERY_STATUSES.includes(q.status as DeliveryStatus)) {
        return reply.code(400).send({ error: 'bad_status', message: `status is one of ${DELIVERY_STATUSES.join(', ')}` });
      }
      return { deliveries: await deps.store.listDeliveries({ status: q.status as DeliveryStatus | undefined, destination: q.destination, limit: limitOf(q) }) };
    });
    admin.get('/admin/events/:id/explain', async (req, reply) => {
      const { id } = req.params as { id: string };
      const { explainEvent } = await import('./explain.js');
      const report = await explainEvent(deps.store, deps.rules(), id);
      if (report === null) return reply.code(404).send({ error: 'not_found', message: `no stored event with id or key "${id}"` });
      return report;
    });
  });
}
