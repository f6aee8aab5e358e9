// Outbound webhooks: one HTTP request per attempt, carrying the request compose() made (body,
// Idempotency-Key = delivery id, signature). Redirects are never followed. Each channel (one per
// destination) owns its connection pools (undici, one per origin, as many connections as the
// destination's `concurrency`), so closing one never cuts another's connections.
import type { WebhookDestination } from '../../config/types.js';
import { HEADER_NAME } from '../../config/compile.js';
import type { Composed } from '../compose.js';
import type { Channel, SendResult } from './channel.js';
import { createRequire } from 'node:module';
import type { Pool as UndiciPool } from 'undici';
import { deadline, type Deadline } from './deadline.js';
import { classifyStatus, networkFailure, oneLine } from './http.js';

// undici's Pool, not its index: loading the index installs undici 7's Agent as the global
// dispatcher, which Node's own fetch (the Slack channel's, in this thread) then uses.
const load = createRequire(import.meta.url);
const Pool = load('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
type Pool = UndiciPool;

const SNIPPET_BYTES = 2048;
/** A success body announced at most this long is read to its end, so the connection is reused. */
const DRAIN_BYTES = SNIPPET_BYTES * 32;
const HEADER_VALUE_BAD = /[^\t\x20-\x7e\x80-\xff]/;

const text = (b: Buffer | string | undefined): string => (b === undefined ? '' : typeof b === 'string' ? b : b.toString('latin1'));

/** The answer, as far as the classification reads it. */
interface Answer {
  status: number;
  retryAfter: string | null;
  location: string | null;
  /** The start of an error body, one line. */
  detail: string;
}

// What is done with the answer's body: nothing (before the final status, or once settled); a short
// success body read to its end (at most DRAIN_BYTES) so the connection is reused; an error body's
// first SNIPPET_BYTES kept for the message.
const NONE = 0;
const DRAIN = 1;
const SNIPPET = 2;

/**
 * One request on undici's dispatcher, through the handler interface its own request() uses, rather
 * than request() itself: no Readable stream, async resource or promise wrapper per send, and of the
 * answer's headers only the three the classification reads. It answers as request() with the body
 * handling send() did over it: a success body drained when short and announced, else cut; an error
 * body read up to SNIPPET_BYTES; the deadline's abort cuts the connection, and an answer whose
 * status had arrived is classified with what of its body came (an error before it: rejected).
 * The interface is undici 7's (package.json pins the version; tests cover each path above).
 */
class Exchange implements Answer {
  status = 0;
  retryAfter: string | null = null;
  location: string | null = null;
  detail = '';
  private abortFn: ((err?: Error) => void) | null = null;
  private body = NONE;
  private chunks: Buffer[] = [];
  private size = 0;
  private settled = false;
  private resolve!: (a: Answer) => void;
  private reject!: (err: unknown) => void;
  readonly done = new Promise<Answer>((resolve, reject) => {
    this.resolve = resolve;
    this.reject = reject;
  });

  constructor(
    private readonly d: Deadline,
    private readonly method: string,
  ) {
    d.addEventListener('abort', () => this.abortFn?.(d.reason as Error));
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.d.aborted) abort(this.d.reason as Error);
    else this.abortFn = abort;
  }

  onHeaders(statusCode: number, raw: (Buffer | string)[]): boolean {
    if (statusCode < 200) return true; // informational: the answer is still to come
    this.status = statusCode;
    let length = Number.NaN;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i]!;
      // Only names of the three lengths are looked at (as latin1, like undici's parseHeaders).
      if (n.length !== 14 && n.length !== 11 && n.length !== 8) continue;
      const name = text(n).toLowerCase();
      if (name === 'content-length') length = Number(text(raw[i + 1]));
      else if (name === 'retry-after') this.retryAfter ??= text(raw[i + 1]);
      else if (name === 'location') this.location ??= text(raw[i + 1]);
    }
    if (statusCode >= 400) this.body = SNIPPET;
    else if (statusCode === 204 || statusCode === 304 || this.method === 'HEAD' || (Number.isFinite(length) && length <= DRAIN_BYTES)) {
      this.body = DRAIN;
    } else this.cut();
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.body === SNIPPET) {
      this.chunks.push(chunk);
      this.size += chunk.length;
      if (this.size >= SNIPPET_BYTES) this.cut();
    } else if (this.body === DRAIN) {
      this.size += chunk.length;
      if (this.size > DRAIN_BYTES) this.cut();
    }
    return true;
  }

  onComplete(): void {
    this.settle();
  }

  onError(err: unknown): void {
    if (this.status === 0) {
      if (!this.settled) {
        this.settled = true;
        this.reject(err);
      }
    } else this.settle(); // aborted or reset after the status: keep what arrived
  }

  /** Settles with the answer so far and closes the connection (after undici's callback returns). */
  private cut(): void {
    this.settle();
    const abort = this.abortFn;
    if (abort !== null) queueMicrotask(() => abort());
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.body === SNIPPET && this.size > 0) {
      this.detail = oneLine(Buffer.concat(this.chunks).subarray(0, SNIPPET_BYTES).toString('utf8'), 300);
    }
    this.body = NONE;
    this.chunks = [];
    this.resolve(this);
  }
}

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
  // undici's Pool rather than node:http or fetch: on Node 20 its request() costs about half the CPU
  // per request of node:http with keep-alive agents, and fetch (undici through WHATWG streams)
  // about twice node:http's (measured in docs/performance.md); its dispatcher directly (Exchange)
  // less again. HTTP/1.1, no pipelining.
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
      const x = new Exchange(d, method);
      this.pool(t.origin).dispatch({ path: t.path, method, headers, body: method === 'GET' || method === 'HEAD' ? null : payload.body }, x);
      const a = await x.done;
      const status = a.status;
      if (status >= 200 && status < 300) return { outcome: 'delivered', code: String(status) };
      if (status >= 300 && status < 400) return classifyStatus(status, { what, retryAfter: a.retryAfter, location: a.location, url: t.href });
      return classifyStatus(status, { what, retryAfter: a.retryAfter, detail: a.detail });
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
