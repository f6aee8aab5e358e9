// Outbound webhooks: one HTTP request per attempt, carrying the request compose() made (body,
// Idempotency-Key = delivery id, signature). Redirects are never followed. Each channel (one per
// destination) owns its connection pools (undici, one per origin, as many connections as the
// destination's `concurrency`), so closing one never cuts another's connections.
import type { WebhookDestination } from '../../config/types.js';
import type { Composed } from '../compose.js';
import type { Channel, SendResult } from './channel.js';
import { createRequire } from 'node:module';
import type { Dispatcher, Pool as UndiciPool } from 'undici';
import { deadline } from './deadline.js';
import { classifyStatus, networkFailure, oneLine } from './http.js';

// undici's Pool and its request(), not its index: loading the index installs undici 7's Agent as
// the global dispatcher, which Node's own fetch (the Slack channel's, in this thread) then uses.
const load = createRequire(import.meta.url);
const Pool = load('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
type Pool = UndiciPool;
const request = load('undici/lib/api/api-request.js') as (this: Pool, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

const SNIPPET_BYTES = 2048;
/** A success body announced at most this long is read to its end, so the connection is reused. */
const DRAIN_BYTES = SNIPPET_BYTES * 32;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE_BAD = /[^\t\x20-\x7e\x80-\xff]/;

type Body = AsyncIterable<Buffer> & { on(event: 'error', f: () => void): Body; destroy(): void; dump(opts: { limit: number }): Promise<null> };
const ignore = (): void => undefined;

/** The start of an error body, one line; never waits past the send's deadline (its abort ends the body). */
async function snippet(body: Body): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of body) {
      chunks.push(c);
      size += c.length;
      if (size >= SNIPPET_BYTES) break;
    }
  } catch {
    // aborted or reset: keep what arrived
  }
  body.on('error', ignore).destroy();
  return oneLine(Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8'), 300);
}

const first = (v: string | string[] | undefined): string | null => (Array.isArray(v) ? (v[0] ?? null) : (v ?? null));

/** What a URL means for the request, worked out once per URL (a destination has one). */
interface Target {
  href: string;
  origin: string;
  path: string;
  /** From credentials in the URL, as node:http sent them: `Basic` of user:password; null if none. */
  authorization: string | null;
}

function target(raw: string): Target | 'invalid' | 'scheme' {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'invalid';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'scheme';
  let auth: string | null = null;
  try {
    if (url.username || url.password) auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  } catch {
    return 'invalid'; // a broken %-escape in the credentials will not mend on retry
  }
  return {
    href: url.href,
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
    authorization: auth === null ? null : `Basic ${Buffer.from(auth, 'utf8').toString('base64')}`,
  };
}

export class WebhookChannel implements Channel {
  // undici's Pool.request rather than node:http or fetch: on Node 20 it costs about half the CPU
  // per request of node:http with keep-alive agents, and fetch (undici through WHATWG streams)
  // about twice node:http's (measured in docs/performance.md). HTTP/1.1, no pipelining.
  private readonly pools = new Map<string, Pool>();
  private last: { raw: string; target: ReturnType<typeof target> } | null = null;

  constructor(private readonly dest: WebhookDestination) {}

  private pool(origin: string): Pool {
    let p = this.pools.get(origin);
    if (!p) {
      const timeoutMs = this.dest.delivery.timeoutMs;
      p = new Pool(origin, {
        connections: this.dest.delivery.concurrency,
        // The send's deadline covers connect, headers and body (./deadline.ts): undici's own timers
        // are off (headersTimeout and bodyTimeout each bound one phase, not the whole send), but
        // for connect, whose default (10 s) would cut a longer delivery timeout.
        connect: { timeout: timeoutMs },
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      this.pools.set(origin, p);
    }
    return p;
  }

  async send(payload: Composed, signal: AbortSignal): Promise<SendResult> {
    const dest = this.dest;
    if (payload.kind !== 'webhook') {
      return { outcome: 'permanent', code: null, error: `destination ${dest.name} is a webhook, not ${payload.kind}` };
    }
    if (this.last?.raw !== payload.url) this.last = { raw: payload.url, target: target(payload.url) };
    const t = this.last.target;
    if (t === 'invalid') return { outcome: 'permanent', code: null, error: `destination ${dest.name} has an invalid URL` };
    if (t === 'scheme') return { outcome: 'permanent', code: null, error: `destination ${dest.name}: only http and https URLs are supported` };

    let headers = payload.headers;
    for (const k in headers) {
      if (!HEADER_NAME.test(k) || HEADER_VALUE_BAD.test(headers[k]!)) {
        return { outcome: 'permanent', code: null, error: `destination ${dest.name} has an invalid header: ${k}` };
      }
    }
    // The length is the body's own (undici counts it); credentials in the URL become Basic auth
    // unless the destination sets its own Authorization, as node:http did.
    if ('content-length' in headers || (t.authorization !== null && !('authorization' in headers))) {
      const { 'content-length': _length, ...rest } = headers;
      headers = t.authorization !== null && !('authorization' in rest) ? { ...rest, authorization: t.authorization } : rest;
    }
    const method = payload.method;
    const what = `webhook ${dest.name}`;
    const timeoutMs = dest.delivery.timeoutMs;
    const d = deadline(signal, timeoutMs);
    try {
      const res = await request.call(this.pool(t.origin), {
        path: t.path,
        method,
        headers,
        body: method === 'GET' || method === 'HEAD' ? null : payload.body,
        // The deadline itself, not an AbortSignal made for it (undici takes any EventTarget).
        signal: d as unknown as AbortSignal,
      });
      const status = res.statusCode;
      const body = res.body as unknown as Body;
      if (status >= 200 && status < 400) {
        // The answer is the status. A short body with a length is drained (within the deadline,
        // whose abort ends it) so the connection goes back to the pool; anything else is cut off.
        const length = Number(res.headers['content-length']);
        if (status === 204 || status === 304 || method === 'HEAD' || (Number.isFinite(length) && length <= DRAIN_BYTES)) {
          await body.dump({ limit: DRAIN_BYTES });
        } else body.on('error', ignore).destroy();
        if (status < 300) return { outcome: 'delivered', code: String(status) };
        return classifyStatus(status, { what, retryAfter: first(res.headers['retry-after']), location: first(res.headers.location), url: t.href });
      }
      return classifyStatus(status, { what, retryAfter: first(res.headers['retry-after']), detail: await snippet(body) });
    } catch (err) {
      return networkFailure(err, what, d, timeoutMs);
    } finally {
      d.dispose();
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }
}
