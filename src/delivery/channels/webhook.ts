// Outbound webhooks: one HTTP request per attempt, JSON body, Idempotency-Key = delivery id, and an
// optional HMAC signature made exactly like the inbound one (ingest/signature.ts) so receivers can
// reuse their verification code. Redirects are never followed.
import type { WebhookDestination } from '../../config/types.js';
import { sign } from '../../ingest/signature.js';
import { digestWebhookBody } from '../../dispatch/digest.js';
import type { Channel, Notification, SendResult } from './channel.js';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { classifyStatus, deadline, drainWithin, networkFailure, oneLine } from './http.js';

// node:http with keep-alive rather than fetch: on Node 20, fetch (undici through WHATWG streams)
// costs about 4x the CPU per request and allocates far more (measured in docs/performance.md).
const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
const SNIPPET_BYTES = 2048;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The start of the body for a non-2xx answer (for the error sentence); '' otherwise. */
  snippet: string;
}

function send1(url: URL, method: string, headers: Record<string, string>, body: Buffer | null, signal: AbortSignal): Promise<Answer> {
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

export const USER_AGENT = 'b3os-router';
export const SIGNATURE_HEADER = 'x-b3os-router-signature';
export const DELIVERY_HEADER = 'x-b3os-router-delivery';
export const ATTEMPT_HEADER = 'x-b3os-router-attempt';
export const TEST_HEADER = 'x-b3os-router-test';

/**
 * The contract's default body: `{"rule": ..., "destination": ..., "event": <the original event>}`,
 * spliced from the raw text so the event reaches the receiver byte for byte as B3OS sent it.
 */
export function defaultWebhookBody(rule: string, destination: string, rawEvent: string, event: unknown): string {
  const raw = rawEvent.trim() === '' ? JSON.stringify(event) : rawEvent;
  return `{"rule": ${JSON.stringify(rule)}, "destination": ${JSON.stringify(destination)}, "event": ${raw}}`;
}

/** The body a webhook destination sends for this notification. */
export function webhookBody(n: Notification, dest: WebhookDestination): string {
  // Noise control: a digest's default body is {rule, destination, group, count, events} (dispatch/digest.ts).
  return n.render(dest.body, 'json', () => (n.digest ? digestWebhookBody(n.rule, dest.name, n.digest) : defaultWebhookBody(n.rule, dest.name, n.rawEvent, n.event)));
}

/** Every header of the request (names lower-case); the fixed ones cannot be overridden by config. */
export function webhookHeaders(n: Notification, dest: WebhookDestination, body: Buffer): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
  };
  for (const [k, v] of Object.entries(dest.headers)) headers[k.toLowerCase()] = v;
  headers['idempotency-key'] = n.deliveryId;
  headers[DELIVERY_HEADER] = n.deliveryId;
  headers[ATTEMPT_HEADER] = String(n.attempt);
  if (n.test) headers[TEST_HEADER] = '1';
  if (dest.secret) Object.assign(headers, sign(dest.secret, body, { header: SIGNATURE_HEADER }));
  return headers;
}

export class WebhookChannel implements Channel {
  async send(n: Notification, signal: AbortSignal): Promise<SendResult> {
    const dest = n.destination;
    if (dest.type !== 'webhook') {
      return { outcome: 'permanent', code: null, error: `destination ${dest.name} is not a webhook (type ${dest.type})` };
    }
    let url: URL;
    try {
      url = new URL(dest.url);
    } catch {
      return { outcome: 'permanent', code: null, error: `destination ${dest.name} has an invalid URL` };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { outcome: 'permanent', code: null, error: `destination ${dest.name}: only http and https URLs are supported` };
    }

    const bodyText = webhookBody(n, dest);
    const body = Buffer.from(bodyText, 'utf8');
    const headers = webhookHeaders(n, dest, body);
    for (const [k, v] of Object.entries(headers)) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) || /[^\t\x20-\x7e\x80-\xff]/.test(v)) {
        return { outcome: 'permanent', code: null, error: `destination ${dest.name} has an invalid header: ${k}` };
      }
    }
    const method = (dest.method || 'POST').toUpperCase();
    const what = `webhook ${dest.name}`;
    const timeoutMs = dest.delivery.timeoutMs;
    const d = deadline(signal, timeoutMs);
    try {
      const res = await send1(url, method, headers, method === 'GET' || method === 'HEAD' ? null : body, d.signal);
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
    agents.http.destroy();
    agents.https.destroy();
  }
}
