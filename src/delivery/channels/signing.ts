// How an outbound webhook body is signed, in one pure function. `b3os`: x-b3os-router-signature,
// `sha256=<hex HMAC-SHA256 of the body>`, made like the inbound check (ingest/signature.ts) so
// receivers can reuse that code. `standard-webhooks` (contract §11): webhook-id (the delivery id,
// the same on every attempt), webhook-timestamp and webhook-signature `v1,<base64>` over
// "<id>.<timestamp>.<body>", so any Standard Webhooks library verifies it.
import type { SignatureScheme } from '../../config/types.js';
import { standardWebhooksKey } from '../../config/whsec.js';
import { createHmac } from 'node:crypto';
import { STANDARD_HEADERS, standardWebhooksMac } from '../../ingest/signature.js';

export const SIGNATURE_HEADER = 'x-b3os-router-signature';

/**
 * The signature headers for one attempt. A standard-webhooks secret that is not `whsec_…` throws:
 * `check` refuses such a file, so reaching it is a programming error, never a silent unsigned send.
 */
export function signatureHeaders(
  scheme: SignatureScheme,
  secret: string,
  deliveryId: string,
  nowSeconds: number,
  body: string | Buffer,
): Record<string, string> {
  // sign()'s `b3os` format (sha256=<hex> of the body's UTF-8 bytes), the text hashed as it is and
  // the digest hexed at once: through sign() (its options, the body and the digest as Buffers)
  // compose() took more per attempt (docs/performance.md).
  if (scheme === 'b3os') return { [SIGNATURE_HEADER]: `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` };
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const key = standardWebhooksKey(secret);
  if (key === null) throw new Error('signing: standard-webhooks needs a whsec_ secret');
  const timestamp = String(Math.floor(nowSeconds));
  return {
    [STANDARD_HEADERS.id]: deliveryId,
    [STANDARD_HEADERS.timestamp]: timestamp,
    [STANDARD_HEADERS.signature]: `v1,${standardWebhooksMac(key, deliveryId, timestamp, bytes).toString('base64')}`,
  };
}
