// Standard Webhooks secrets (contract §11): `whsec_` followed by the base64 of the key bytes, as
// senders show them. Read by the inbound check (ingest/signature.ts), the outbound signer
// (delivery/channels/signing.ts) and `check`, so all three accept exactly the same values.

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
