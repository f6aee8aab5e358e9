// Standard Webhooks secrets (contract §11): `whsec_` followed by the base64 of the key bytes, as
// senders show them. Read by the inbound check (ingest/signature.ts), the outbound signer
// (delivery/channels/signing.ts) and `check`, so all three accept exactly the same values.

import type { SignatureScheme } from '../event/config.js';

export const WHSEC_PREFIX = 'whsec_';
/** Shortest key accepted, in bytes: the spec asks for 24 to 64; below 16 is too weak to trust. */
export const WHSEC_MIN_BYTES = 16;

/** The key bytes of a `whsec_<base64>` secret, or null when the value is not one. */
export function standardWebhooksKey(secret: string): Buffer | null {
  if (!secret.startsWith(WHSEC_PREFIX)) return null;
  const b64 = secret.slice(WHSEC_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.replace(/=+$/, '').length % 4 === 1) return null;
  const key = Buffer.from(b64, 'base64');
  return key.length >= WHSEC_MIN_BYTES ? key : null;
}

/** What to write instead, for a message (never shows the value). */
export const WHSEC_HINT = `whsec_ followed by the base64 key (at least ${WHSEC_MIN_BYTES} bytes), as the sender or receiver shows it`;

/** The variables the secrets come from, in the order options.ts lists them. */
const SECRET_VARIABLES = ['B3OS_WEBHOOK_SECRET', 'B3OS_WEBHOOK_SECRET_PREVIOUS'];

/**
 * Why these secrets (current, then previous) cannot serve this scheme, in a sentence that names the
 * variable and never shows a secret; or null. `serve` refuses to start on it, and a reload too.
 */
export function secretsProblem(settings: { scheme: SignatureScheme }, secrets: readonly string[]): string | null {
  if (settings.scheme !== 'standard-webhooks') return null;
  const bad = secrets.findIndex((s) => standardWebhooksKey(s) === null);
  if (bad < 0) return null;
  return `server.signature.scheme is standard-webhooks, but ${SECRET_VARIABLES[bad] ?? 'a secret'} is not a Standard Webhooks secret: write it as ${WHSEC_HINT}`;
}
