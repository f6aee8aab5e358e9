// Admin endpoints for silences (contract §9), behind the admin token (ops/admin.ts registers them
// inside its guarded scope): GET /admin/silences[?all=true], POST /admin/silences with a JSON body
// {rule?, destination?, match?: {FIELD: VALUE | [VALUE…]} or ["FIELD=VALUE"], for? | until?,
// comment?, by?}, DELETE /admin/silences/:id (ends it now). Refusals are 400 with the same
// sentence `silence add` prints.
import type { FastifyInstance } from 'fastify';
import { NOISE_DEFAULTS } from '../config/defaults.js';
import type { RouterConfig } from '../config/types.js';
import type { Store } from '../store/store.js';
import { addSilence, silenceJson, type SilenceRequest } from './model.js';

const TEXT_FIELDS = ['rule', 'destination', 'for', 'until', 'comment', 'by'] as const;

export function registerSilenceAdmin(admin: FastifyInstance, deps: { store: Store; rules(): RouterConfig }): void {
  admin.get('/admin/silences', async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const now = Date.now();
    const list = await deps.store.listSilences({ now, all: q.all === 'true' || q.all === '1', limit: NOISE_DEFAULTS.silenceList });
    return { silences: list.map((s) => silenceJson(s, now)) };
  });

  admin.post('/admin/silences', async (req, reply) => {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : String(req.body ?? ''));
    } catch {
      return reply.code(400).send({ error: 'invalid_json', message: 'the body is not valid JSON; send {"rule": "...", "for": "2h", "comment": "..."}' });
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return reply.code(400).send({ error: 'not_object', message: 'the body must be a JSON object such as {"rule": "payroll-failed", "for": "2h"}' });
    }
    const b = body as Record<string, unknown>;
    const request: SilenceRequest = {};
    for (const k of TEXT_FIELDS) {
      if (b[k] === undefined || b[k] === null) continue;
      if (typeof b[k] !== 'string') return reply.code(400).send({ error: 'bad_silence', message: `"${k}" must be text` });
      request[k] = b[k];
    }
    if (b.match !== undefined) request.match = b.match as SilenceRequest['match'];
    const now = Date.now();
    const added = await addSilence(deps.store, deps.rules(), request, now);
    if (!added.ok) return reply.code(added.code === 'too_many_active' ? 409 : 400).send({ error: added.code, message: added.message });
    return reply.code(201).send({ silence: silenceJson(added.silence, now) });
  });

  admin.delete('/admin/silences/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const now = Date.now();
    const r = await deps.store.expireSilence(id, now);
    if (r === null) return reply.code(404).send({ error: 'not_found', message: `no silence with id "${id}"` });
    return { silence: silenceJson(r.silence, now), ended: r.ended };
  });
}
