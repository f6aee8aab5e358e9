// Inbound signature verification (and the same scheme for outbound webhooks, so receivers can
// reuse their verification code). HMAC-SHA256 over the raw body bytes, or over
// "<timestamp>.<body>" when a timestamp header is configured.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SignatureSettings } from '../config/types.js';

export type VerifyFailure =
  | 'signature_missing'
  | 'signature_malformed'
  | 'signature_mismatch'
  | 'timestamp_missing'
  | 'timestamp_malformed'
  | 'timestamp_out_of_tolerance';

export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

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

function mac(secret: string, timestamp: string | null, body: Buffer): Buffer {
  const h = createHmac('sha256', secret);
  if (timestamp !== null) h.update(`${timestamp}.`);
  h.update(body);
  return h.digest();
}

export function verify(
  settings: SignatureSettings,
  secrets: readonly string[],
  headers: Record<string, HeaderValue>,
  body: Buffer,
  now: number,
): VerifyResult {
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
    if (Math.abs(now - Number(timestamp) * 1000) > settings.toleranceMs) {
      return { ok: false, reason: 'timestamp_out_of_tolerance' };
    }
  }

  // Every secret is tried, and every comparison made, whatever the outcome, so that timing says
  // nothing about which secret (if any) was close.
  let ok = false;
  for (const secret of secrets) {
    if (timingSafeEqual(mac(secret, timestamp, body), given)) ok = true;
  }
  return ok ? { ok: true } : { ok: false, reason: 'signature_mismatch' };
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
