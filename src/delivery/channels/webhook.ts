// Outbound webhooks: one HTTP request per attempt, carrying the request compose() made (body,
// Idempotency-Key = delivery id, signature). Redirects are never followed. Each channel (one per
// destination) owns its keep-alive agents, so closing one never cuts another's connections.
import type { WebhookDestination } from '../../config/types.js';
import type { Composed } from '../compose.js';
import type { Channel, SendResult } from './channel.js';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { classifyStatus, deadline, drainWithin, networkFailure, oneLine } from './http.js';

type Agents = { http: HttpAgent; https: HttpsAgent };
const SNIPPET_BYTES = 2048;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The start of the body for a non-2xx answer (for the error sentence); '' otherwise. */
  snippet: string;
}

function send1(agents: Agents, url: URL, method: string, headers: Record<string, string>, body: Buffer | null, signal: AbortSignal): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const https = url.protocol === 'https:';
    const h = body ? { ...headers, 'content-length': String(body.length) } : headers;
    // Once a status has arrived it is the answer: an abort while its body drains is not a failure.
    let answered = false;
    const req = (https ? httpsRequest : httpRequest)(url, { method, headers: h, agent: https ? agents.https : agents.http, signal }, (res) => {
      answered = true;
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 400) {
        // The answer is the status. A short body with a length is drained (within the deadline, so
        // a body that never comes cannot hold the socket) so the connection goes back to the pool;
        // anything else (chunked, large) is cut off.
        res.on('error', () => undefined);
        const answer = { status, headers: res.headers, snippet: '' };
        const length = Number(res.headers['content-length']);
        if (Number.isFinite(length) && length <= SNIPPET_BYTES * 32) return void drainWithin(res, signal).then(() => resolve(answer));
        res.destroy();
        resolve(answer);
        return;
      }
      // An error status: keep the start of the body for the error sentence, but never wait past
      // the deadline for a body that does not finish.
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve({ status, headers: res.headers, snippet: oneLine(Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8'), 300) });
        res.destroy();
      };
      signal.addEventListener('abort', done, { once: true });
      res.on('data', (c: Buffer) => {
        if (size < SNIPPET_BYTES) chunks.push(c);
        size += c.length;
        if (size >= SNIPPET_BYTES) done();
      });
      res.on('end', done);
      res.on('error', done);
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    req.end(body ?? undefined);
  });
}

const first = (v: string | string[] | undefined): string | null => (Array.isArray(v) ? (v[0] ?? null) : (v ?? null));

export class WebhookChannel implements Channel {
  // node:http with keep-alive rather than fetch: on Node 20, fetch (undici through WHATWG streams)
  // costs about 4x the CPU per request and allocates far more (measured in docs/performance.md).
  private readonly agents: Agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

  constructor(private readonly dest: WebhookDestination) {}

  async send(payload: Composed, signal: AbortSignal): Promise<SendResult> {
    const dest = this.dest;
    if (payload.kind !== 'webhook') {
      return { outcome: 'permanent', code: null, error: `destination ${dest.name} is a webhook, not ${payload.kind}` };
    }
    let url: URL;
    try {
      url = new URL(payload.url);
    } catch {
      return { outcome: 'permanent', code: null, error: `destination ${dest.name} has an invalid URL` };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { outcome: 'permanent', code: null, error: `destination ${dest.name}: only http and https URLs are supported` };
    }

    const body = Buffer.from(payload.body, 'utf8');
    const headers = payload.headers;
    for (const [k, v] of Object.entries(headers)) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) || /[^\t\x20-\x7e\x80-\xff]/.test(v)) {
        return { outcome: 'permanent', code: null, error: `destination ${dest.name} has an invalid header: ${k}` };
      }
    }
    const method = payload.method;
    const what = `webhook ${dest.name}`;
    const timeoutMs = dest.delivery.timeoutMs;
    const d = deadline(signal, timeoutMs);
    try {
      const res = await send1(this.agents, url, method, headers, method === 'GET' || method === 'HEAD' ? null : body, d.signal);
      if (res.status >= 200 && res.status < 300) return { outcome: 'delivered', code: String(res.status) };
      return classifyStatus(res.status, {
        what,
        retryAfter: first(res.headers['retry-after']),
        detail: res.snippet,
        location: first(res.headers.location),
        url: url.href,
      });
    } catch (err) {
      return networkFailure(err, what, d, timeoutMs);
    } finally {
      d.dispose();
    }
  }

  async close(): Promise<void> {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
