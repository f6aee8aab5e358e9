// Inbound signature verification (and the same schemes for outbound webhooks, so receivers can
// reuse their verification code). Scheme `b3os` (contract §2): HMAC-SHA256 over the raw body bytes,
// or over "<timestamp>.<body>" when a timestamp header is configured. Scheme `standard-webhooks`
// (contract §11, https://www.standardwebhooks.com): HMAC-SHA256 over "<id>.<timestamp>.<body>"
// under the key a `whsec_<base64>` secret holds, in the webhook-id/-timestamp/-signature headers.
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { SignatureSettings } from '../config/types.js';
import { standardWebhooksKey } from '../config/whsec.js';

export type VerifyFailure =
  | 'signature_missing'
  | 'signature_malformed'
  | 'signature_mismatch'
  | 'timestamp_missing'
  | 'timestamp_malformed'
  | 'timestamp_out_of_tolerance';

/** `webhookId`: the Standard Webhooks message id (the event id when the body has none). */
export type VerifyResult = { ok: true; webhookId?: string } | { ok: false; reason: VerifyFailure };

type HeaderValue = string | string[] | undefined;

const HEX = /^[0-9a-fA-F]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]{43}=?$/;

/** Decodes the header into the 32 signature bytes, or null when it cannot be a signature. */
function decode(value: string, settings: SignatureSettings): Buffer | null {
  let v = value.trim();
  const prefix = settings.prefix;
  if (prefix && v.length >= prefix.length && v.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase()) {
    v = v.slice(prefix.length);
  }
  if (settings.encoding === 'hex') return HEX.test(v) ? Buffer.from(v, 'hex') : null;
  if (!BASE64.test(v)) return null;
  const buf = Buffer.from(v, 'base64');
  return buf.length === 32 ? buf : null;
}

function mac(secret: string | KeyObject, timestamp: string | null, body: Buffer): Buffer {
  const h = createHmac('sha256', secret);
  if (timestamp !== null) h.update(`${timestamp}.`);
  h.update(body);
  return h.digest();
}

/** The secrets as keys, made once: each `b3os` secret's bytes, each `whsec_` secret decoded (null: not one). */
interface Keys {
  secrets: readonly string[];
  hmac: KeyObject[];
  standard: (Buffer | null)[];
}
const keysOf = new WeakMap<readonly string[], Keys>();

function keys(secrets: readonly string[]): Keys {
  const known = keysOf.get(secrets);
  // (Checked again in case the list was changed in place since.)
  if (known && known.secrets.length === secrets.length && known.secrets.every((s, i) => s === secrets[i])) return known;
  const made: Keys = {
    secrets: [...secrets],
    hmac: secrets.map((s) => createSecretKey(Buffer.from(s, 'utf8'))),
    standard: secrets.map((s) => standardWebhooksKey(s)),
  };
  keysOf.set(secrets, made);
  return made;
}

export function verify(settings: SignatureSettings, secrets: readonly string[], headers: Record<string, HeaderValue>, body: Buffer, now: number): VerifyResult {
  if (settings.scheme === 'standard-webhooks') return verifyStandard(settings, secrets, headers, body, now);
  const raw = headers[settings.header];
  // Node joins repeated headers with ", " (or gives an array): either way not one signature.
  if (raw === undefined || raw === '') return { ok: false, reason: 'signature_missing' };
  if (Array.isArray(raw)) return { ok: false, reason: 'signature_malformed' };
  const given = decode(raw, settings);
  if (given === null) return { ok: false, reason: 'signature_malformed' };

  let timestamp: string | null = null;
  if (settings.timestampHeader !== null) {
    const ts = headers[settings.timestampHeader];
    if (ts === undefined || ts === '') return { ok: false, reason: 'timestamp_missing' };
    if (Array.isArray(ts) || !/^\d{1,12}$/.test(ts.trim())) return { ok: false, reason: 'timestamp_malformed' };
    timestamp = ts.trim();
    if (!withinTolerance(timestamp, now, settings.toleranceMs)) return { ok: false, reason: 'timestamp_out_of_tolerance' };
  }

  // Every secret is tried, and every comparison made, whatever the outcome, so that timing says
  // nothing about which secret (if any) was close.
  let ok = false;
  for (const key of keys(secrets).hmac) {
    if (timingSafeEqual(mac(key, timestamp, body), given)) ok = true;
  }
  return ok ? { ok: true } : { ok: false, reason: 'signature_mismatch' };
}

const TIMESTAMP = /^\d{1,12}$/;

/** Symmetric: a timestamp too far in the future is refused like a stale one. */
function withinTolerance(seconds: string, now: number, toleranceMs: number): boolean {
  return Math.abs(now - Number(seconds) * 1000) <= toleranceMs;
}

export const STANDARD_HEADERS = { id: 'webhook-id', timestamp: 'webhook-timestamp', signature: 'webhook-signature' } as const;
/** A message id as a visible-ASCII token; it becomes an idempotency key, so it is bounded. */
const MESSAGE_ID = /^[\x21-\x7e]{1,256}$/;

/** HMAC-SHA256 of "<id>.<timestamp>.<body>" under the key (the spec's signed content). */
export function standardWebhooksMac(key: Buffer, id: string, timestamp: string, body: Buffer): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
}

function verifyStandard(
  settings: SignatureSettings,
  secrets: readonly string[],
  headers: Record<string, HeaderValue>,
  body: Buffer,
  now: number,
): VerifyResult {
  const id = headers[STANDARD_HEADERS.id];
  const ts = headers[STANDARD_HEADERS.timestamp];
  const sig = headers[STANDARD_HEADERS.signature];
  if (sig === undefined || sig === '' || id === undefined || id === '') return { ok: false, reason: 'signature_missing' };
  if (ts === undefined || ts === '') return { ok: false, reason: 'timestamp_missing' };
  if (Array.isArray(sig) || Array.isArray(id) || !MESSAGE_ID.test(id)) return { ok: false, reason: 'signature_malformed' };
  if (Array.isArray(ts) || !TIMESTAMP.test(ts)) return { ok: false, reason: 'timestamp_malformed' };
  // "v1,<base64>" entries separated by spaces; other versions (v1a, ...) are not ours to check.
  const given: Buffer[] = [];
  for (const entry of sig.split(' ')) {
    if (!entry.startsWith('v1,')) continue;
    const b64 = entry.slice(3);
    if (BASE64.test(b64)) given.push(Buffer.from(b64, 'base64'));
  }
  if (given.length === 0) return { ok: false, reason: 'signature_malformed' };
  if (!withinTolerance(ts, now, settings.toleranceMs)) return { ok: false, reason: 'timestamp_out_of_tolerance' };

  // As above: every comparison is made, whatever matched.
  let ok = false;
  for (const key of keys(secrets).standard) {
    if (key === null) continue;
    const expected = standardWebhooksMac(key, id, ts, body);
    for (const g of given) if (timingSafeEqual(expected, g)) ok = true;
  }
  return ok ? { ok: true, webhookId: id } : { ok: false, reason: 'signature_mismatch' };
}

/**
 * Signs an outbound body the same way: returns the headers to send. Used by webhook destinations
 * (`x-b3os-router-signature`) and by tests and the README's example.
 */
export function sign(
  secret: string,
  body: string | Buffer,
  opts: { header?: string; encoding?: 'hex' | 'base64'; prefix?: string; timestampHeader?: string | null; now?: number } = {},
): Record<string, string> {
  const header = opts.header ?? 'x-b3os-signature';
  const timestamp = opts.timestampHeader ? String(Math.floor((opts.now ?? Date.now()) / 1000)) : null;
  const digest = mac(secret, timestamp, Buffer.isBuffer(body) ? body : Buffer.from(body));
  const out: Record<string, string> = {
    [header]: (opts.prefix ?? 'sha256=') + digest.toString(opts.encoding ?? 'hex'),
  };
  if (opts.timestampHeader && timestamp !== null) out[opts.timestampHeader] = timestamp;
  return out;
}
