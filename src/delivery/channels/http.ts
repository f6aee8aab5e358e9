// Small HTTP helpers shared by the webhook and Slack channels: Retry-After parsing, bounded reading
// of error bodies, and the contract's classification of HTTP answers (section 4). The sends'
// deadline (the delivery timeout with the worker's AbortSignal) is in ./deadline.ts.
import type { SendResult } from './channel.js';
import type { Deadline } from './deadline.js';

const SECONDS = /^\s*(\d+(?:\.\d+)?)\s*$/;

/**
 * Retry-After (RFC 9110 §10.2.3): a number of seconds or an HTTP-date. Returns the delay in
 * milliseconds from `now`, or undefined when the header is absent or unreadable; a date in the past
 * gives 0. Not capped here: the worker decides how far a receiver may push a retry.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  const s = SECONDS.exec(v);
  if (s) {
    const ms = Math.round(Number(s[1]) * 1000);
    return Number.isFinite(ms) ? ms : undefined;
  }
  // Only something shaped like a date (a day or month name and a 4-digit year), so that a stray
  // word is not read by Date.parse's lenient heuristics.
  if (!/[A-Za-z]{3}/.test(v) || !/\d{4}/.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** A number of seconds (Slack's rate-limit errors) as milliseconds; undefined when unusable. */
export function secondsToMs(seconds: number | null | undefined): number | undefined {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return undefined;
  return Math.round(seconds * 1000);
}

/** Resolves when `signal` aborts (never rejects); for racing work that cannot itself be cancelled. */
export function whenAborted(signal: AbortSignal): { promise: Promise<void>; dispose(): void } {
  let onAbort: (() => void) | null = null;
  const promise = new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return {
    promise,
    dispose: () => {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    },
  };
}

export const MAX_ERROR_BODY_BYTES = 2048;

/**
 * Reads at most `maxBytes` of a response body (for an error message) and releases the rest.
 * Never throws; a body that cannot be read gives ''.
 */
export async function readSnippet(res: Response, maxBytes = MAX_ERROR_BODY_BYTES): Promise<string> {
  const body = res.body;
  if (!body) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.byteLength;
    }
  } catch {
    // aborted or reset: keep what arrived
  } finally {
    reader.cancel().catch(() => {});
  }
  const text = Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
  return oneLine(text, 300);
}

/** Collapses whitespace and truncates, for error sentences. */
export function oneLine(text: string, max = 300): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** A redirect target described without its query or credentials (they may hold secrets). */
export function describeLocation(location: string | null, base: string): string {
  if (!location) return 'no Location header';
  try {
    const u = new URL(location, base);
    return `to ${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'to an unreadable Location';
  }
}

/**
 * The contract's classification of an HTTP answer: 2xx delivered; 408, 429 and 5xx retried (with
 * Retry-After honoured); a 3xx is permanent (redirects are not followed); any other 4xx permanent.
 */
export function classifyStatus(
  status: number,
  opts: {
    what: string;
    retryAfter?: string | null;
    detail?: string;
    /** undefined: do not describe the redirect target (it may hold a secret). */
    location?: string | null;
    url?: string;
  },
): SendResult {
  const code = String(status);
  const detail = opts.detail ? `: ${opts.detail}` : '';
  if (status >= 200 && status < 300) return { outcome: 'delivered', code };
  if (status >= 300 && status < 400) {
    const where = opts.location === undefined ? '' : ` (${describeLocation(opts.location, opts.url ?? 'http://invalid/')})`;
    return {
      outcome: 'permanent',
      code,
      error: `${opts.what} answered ${status}, a redirect${where}; redirects are not followed, so fix the destination URL`,
    };
  }
  if (status === 408 || status === 429 || status >= 500 || status < 200) {
    const retryAfterMs = parseRetryAfter(opts.retryAfter ?? null);
    const result: SendResult = { outcome: 'retry', code, error: `${opts.what} answered ${status}${detail}` };
    if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
    return result;
  }
  return { outcome: 'permanent', code, error: `${opts.what} answered ${status}${detail}` };
}

/**
 * undici's own error codes (the webhook channel's Pool, and fetch under the Slack channel) as the
 * codes node:http gave for the same failure, so stored codes and alerts keep meaning the same.
 */
const UNDICI_CODES: Readonly<Record<string, string>> = {
  // The other side closed the connection before the answer was complete (node:http: "socket hang up").
  UND_ERR_SOCKET: 'ECONNRESET',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  // The channel's connections were closed under the send (a reload or the stop).
  UND_ERR_ABORTED: 'aborted',
  UND_ERR_DESTROYED: 'aborted',
  UND_ERR_CLOSED: 'aborted',
};

/** A network-level failure (no HTTP answer) as a retry result. Never includes the URL. */
export function networkFailure(err: unknown, what: string, d: Deadline, timeoutMs: number): SendResult {
  if (d.timedOut()) {
    return { outcome: 'retry', code: 'timeout', error: `${what} did not answer within ${timeoutMs} ms` };
  }
  if (d.callerAborted()) {
    return { outcome: 'retry', code: 'aborted', error: `the send to ${what} was aborted (shutting down?)` };
  }
  const cause = (err as { cause?: unknown } | null)?.cause ?? err;
  const errno = (cause as { code?: unknown } | null)?.code;
  const raw = typeof errno === 'string' ? errno : null;
  const message = cause instanceof Error ? cause.message : String(cause);
  // A TypeError is fetch refusing to build the request; its message quotes the URL, which may
  // hold secrets. undici's refusals (a header it will not send) name only the header. Neither
  // changes on retry.
  if (raw === null && cause instanceof TypeError && cause.message !== 'fetch failed') {
    return { outcome: 'permanent', code: null, error: `could not build the request to ${what} (check its url and headers)` };
  }
  if (raw === 'UND_ERR_INVALID_ARG' || raw === 'UND_ERR_NOT_SUPPORTED') {
    return { outcome: 'permanent', code: null, error: `could not build the request to ${what}: ${oneLine(message, 100)} (check its url and headers)` };
  }
  const code = raw === null ? null : (UNDICI_CODES[raw] ?? raw);
  if (code === 'timeout') return { outcome: 'retry', code, error: `${what} did not answer in time (${oneLine(message, 100)})` };
  return { outcome: 'retry', code, error: `could not reach ${what}: ${oneLine(message, 200)}` };
}
