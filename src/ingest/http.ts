// POST <server.path>: verify → parse → dedupe + route + store (one transaction) → answer.
// The raw body is verified before anything parses it; nothing unverified reaches the rules.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouterConfig } from '../config/types.js';
import { idempotencyKey, type IdempotencyKey } from '../event/key.js';
import type { EventObject } from '../event/model.js';
import type { Metrics } from '../ops/metrics.js';
import { decisionText, routeEvent } from '../route/route.js';
import { knownEventSize } from '../rules/logic.js';
import type { GroupCommit } from '../store/group-commit.js';
import { StoreUnavailableError, type IngestItem, type IngestOutcome } from '../store/store.js';
import { verify } from './signature.js';
import type { RejectLog } from './log-sampler.js';
import type { SilenceCache } from '../silence/cache.js';
import { silencedReason } from '../silence/model.js';

export interface IngestDeps {
  /** The rules in force now (swapped on reload). */
  rules(): RouterConfig;
  secrets: readonly string[];
  /** Hook bodies held at once before their signature is checked (bytes); more get 503. */
  bufferBytes: number;
  commit: GroupCommit<IngestItem, IngestOutcome>;
  metrics: Metrics;
  /** Called after a commit that created deliveries, so the worker need not wait for its poll. */
  onDeliveries(): void;
  /** Where rejections are logged (sampled; the metrics count every one). */
  rejectLog: RejectLog;
  /** Noise control: the silences in force (silence/cache.ts); a delivery one holds is recorded silenced. */
  silences?: SilenceCache | null;
}

/** JSON nested deeper than this is refused (400): nothing legitimate needs it, and it costs stack. */
export const MAX_JSON_DEPTH = 64;

const utf8 = new TextDecoder('utf-8', { fatal: true });

type Rejection = { status: number; reason: string; message: string };

/** Parses the verified body: a JSON object, valid UTF-8, not absurdly deep. */
function parseEvent(body: Buffer): { event: EventObject; text: string } | Rejection {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return { status: 400, reason: 'invalid_utf8', message: 'body is not valid UTF-8' };
  }
  if (exceedsDepth(text, MAX_JSON_DEPTH)) {
    return { status: 400, reason: 'too_deep', message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { status: 400, reason: 'invalid_json', message: 'body is not valid JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { status: 400, reason: 'not_object', message: 'body is not a JSON object' };
  }
  return { event: value as EventObject, text };
}

/**
 * Bracket depth outside strings; a linear scan, cheaper than a failed deep parse. A string is
 * skipped with indexOf to its closing quote (the first not escaped by an odd run of backslashes):
 * most of an event's bytes are in strings, and indexOf is far faster than a loop over them.
 */
export function exceedsDepth(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      let end = i;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end < 0) return false; // an unclosed string: no bracket after it counts
        let k = end - 1;
        while (text.charCodeAt(k) === 92 /* \ */) k--;
        if ((end - k) % 2 === 1) break;
      }
      i = end;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

/** What the handler does before the commit: a rejection, an ignored type, or the item to store. */
export type Prepared =
  | { kind: 'rejected'; rejection: Rejection }
  | { kind: 'ignored'; type: string | null }
  | { kind: 'event'; type: string | null; key: IdempotencyKey; item: IngestItem };

/**
 * Verify → parse → route → idempotency key: everything ingest does for an event before its
 * transaction, synchronously (bench/ingest-steps.ts times exactly this).
 */
export function prepareEvent(
  config: RouterConfig,
  secrets: readonly string[],
  silences: SilenceCache | null,
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
  now: number,
): Prepared {
  const v = verify(config.server.signature, secrets, headers, body, now);
  if (!v.ok) return { kind: 'rejected', rejection: { status: 401, reason: v.reason, message: v.reason.replace(/_/g, ' ') } };

  const parsed = parseEvent(body);
  if (!('event' in parsed)) return { kind: 'rejected', rejection: parsed };
  const event = parsed.event;
  knownEventSize(event, parsed.text.length);
  const routing = routeEvent(config, event, {
    now,
    replay: false,
    skipIgnored: true,
    matchedOnly: true,
    silenced: silences
      ? (p) => {
          const s = silences.find(event, p.rule, p.destination, now);
          return s ? silencedReason(s) : null;
        }
      : undefined,
  });
  const { type } = routing;
  if (!routing.accepted) return { kind: 'ignored', type };

  const key = idempotencyKey(event, type, body, config.server.fields, v.webhookId ?? null);
  const item: IngestItem = {
    event: {
      key: key.key,
      keyKind: key.kind,
      eventId: key.eventId,
      runId: key.runId,
      executionId: key.executionId,
      type,
      receivedAt: now,
      payload: parsed.text,
      routing: decisionText(routing.decision),
    },
    // The privileged pairs: their max_per_hour counts are locked and read before plan runs.
    counted: routing.pairs.filter((p) => config.destinations.get(p.destination)?.privileged),
    plan: (counts) => routing.plan(counts),
  };
  return { kind: 'event', type, key, item };
}

export function registerIngest(app: FastifyInstance, deps: IngestDeps, path: string): void {
  const { metrics } = deps;
  // Label sets resolved once, not hashed on every event.
  const acceptedCount = metrics.eventsReceived.labels('accepted', '');
  const created = new Map<string, { inc(): void }>();
  const createdFor = (destination: string) => {
    let c = created.get(destination);
    if (!c) {
      c = metrics.deliveriesCreated.labels(destination, 'ingest');
      created.set(destination, c);
    }
    return c;
  };

  const reject = (req: FastifyRequest, reply: FastifyReply, r: Rejection) => {
    metrics.eventsReceived.inc({ outcome: 'rejected', reason: r.reason });
    deps.rejectLog.warn(req.log, { reason: r.reason, status: r.status }, `hook rejected: ${r.message}`);
    return reply.code(r.status).send({ error: r.reason, message: r.message });
  };

  // Bytes of hook bodies being received or verified right now. Each request reserves its declared
  // length (or the body limit when it declares none) before its body is read, and gives it back
  // when its answer is done: so unverified bytes held at once never pass the budget, however many
  // connections are open. A request that does not fit is answered 503 at once; B3OS retries it.
  let reserved = 0;
  const reserve = (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const limit = deps.rules().server.maxBodyBytes;
    const declared = Number(req.headers['content-length']);
    const want = Number.isFinite(declared) && declared >= 0 ? Math.min(declared, limit + 1) : limit + 1;
    if (reserved + want > deps.bufferBytes) {
      void reject(req, reply.header('retry-after', '1').header('connection', 'close'), {
        status: 503,
        reason: 'busy',
        message: 'too many hook bodies in flight; try again shortly',
      });
      return;
    }
    reserved += want;
    reply.raw.once('close', () => {
      reserved -= want;
    });
    done();
  };

  app.post(path, { onRequest: reserve }, async (req, reply) => {
    const now = Date.now();
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const p = prepareEvent(deps.rules(), deps.secrets, deps.silences ?? null, req.headers, body, now);
    if (p.kind === 'rejected') return reject(req, reply, p.rejection);
    if (p.kind === 'ignored') {
      metrics.eventsReceived.inc({ outcome: 'ignored', reason: '' });
      req.log.debug({ type: p.type }, 'event type not accepted; acknowledged and ignored');
      return reply.code(204).send();
    }
    const { key, type, item } = p;

    let outcome: IngestOutcome;
    try {
      outcome = await deps.commit.submit(item);
    } catch (err) {
      outcome = { status: 'failed', error: err instanceof StoreUnavailableError ? err : new StoreUnavailableError('database error', err) };
    }
    if (outcome.status === 'failed') {
      // Never a 2xx unless committed: B3OS keeps the event and retries.
      metrics.eventsReceived.inc({ outcome: 'rejected', reason: 'store_unavailable' });
      const cause = outcome.error.cause as { code?: string; message?: string } | undefined;
      req.log.error({ err: { message: outcome.error.message, code: cause?.code } }, 'event not stored');
      return reply.code(503).header('retry-after', '5').send({ error: 'store_unavailable', message: outcome.error.message });
    }

    if (outcome.status === 'duplicate') {
      metrics.eventsReceived.inc({ outcome: 'duplicate', reason: '' });
      req.log.debug({ key: key.key }, 'duplicate event; not routed again');
      return reply.code(200).send({ duplicate: true, key: key.key });
    }
    acceptedCount.inc();
    let pending = 0;
    for (const d of outcome.planned) {
      if (d.status === 'pending') {
        pending++;
        createdFor(d.destination).inc();
        continue;
      }
      // Noise control: held back by a silence, counted, never sent.
      if (d.status === 'silenced') {
        metrics.deliveries.inc({ destination: d.destination, status: 'silenced' });
        continue;
      }
      metrics.policyBlocked.inc({ rule: d.rule, destination: d.destination });
      metrics.deliveries.inc({ destination: d.destination, status: 'blocked' });
      req.log.warn({ key: key.key, rule: d.rule, destination: d.destination, reason: d.reason }, 'privileged delivery blocked by policy');
    }
    if (pending > 0) deps.onDeliveries();
    req.log.debug({ key: key.key, type, deliveries: pending }, 'event accepted');
    return reply.code(204).send();
  });

  // Anything but POST on the hook path: say which method works rather than 404.
  app.route({
    method: ['GET', 'PUT', 'DELETE', 'PATCH'],
    url: path,
    handler: (req, reply) =>
      reject(req, reply.header('allow', 'POST'), { status: 405, reason: 'method_not_allowed', message: `${req.method} is not allowed; B3OS posts hooks` }),
  });
}
