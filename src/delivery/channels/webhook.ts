// Outbound webhooks: one HTTP request per attempt, JSON body, Idempotency-Key = delivery id, and an
// optional HMAC signature made exactly like the inbound one (ingest/signature.ts) so receivers can
// reuse their verification code. Redirects are never followed.
import type { WebhookDestination } from '../../config/types.js';
import { sign } from '../../ingest/signature.js';
import type { Channel, Notification, SendResult } from './channel.js';
import { classifyStatus, deadline, discardBody, networkFailure, readSnippet } from './http.js';

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
  return n.render(dest.body, 'json', () => defaultWebhookBody(n.rule, dest.name, n.rawEvent, n.event));
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
    let headers: Headers;
    try {
      headers = new Headers(webhookHeaders(n, dest, body));
    } catch (err) {
      return { outcome: 'permanent', code: null, error: `destination ${dest.name} has an invalid header: ${(err as Error).message}` };
    }
    const method = (dest.method || 'POST').toUpperCase();
    const what = `webhook ${dest.name}`;
    const timeoutMs = dest.delivery.timeoutMs;
    const d = deadline(signal, timeoutMs);
    try {
      const res = await fetch(url, {
        method,
        headers,
        body: method === 'GET' || method === 'HEAD' ? undefined : body,
        redirect: 'manual',
        signal: d.signal,
      });
      if (res.status >= 200 && res.status < 300) {
        discardBody(res);
        return { outcome: 'delivered', code: String(res.status) };
      }
      const detail = res.status >= 300 && res.status < 400 ? '' : await readSnippet(res);
      if (res.status >= 300 && res.status < 400) discardBody(res);
      return classifyStatus(res.status, {
        what,
        retryAfter: res.headers.get('retry-after'),
        detail,
        location: res.headers.get('location'),
        url: url.href,
      });
    } catch (err) {
      return networkFailure(err, what, d, timeoutMs);
    } finally {
      d.dispose();
    }
  }

  async close(): Promise<void> {
    // fetch keeps no per-channel state
  }
}
