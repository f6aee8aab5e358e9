// The Standard Webhooks reference library loads under our ESM + TypeScript setup, and signs and
// verifies a payload the way a receiver of ours would check it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

test('standardwebhooks signs and verifies, and refuses a tampered body', () => {
  const secret = randomBytes(32).toString('base64');
  const wh = new Webhook(secret);
  const id = 'msg_1';
  const at = new Date();
  const body = JSON.stringify({ type: 'event.created', data: { n: 1 } });
  const signature = wh.sign(id, at, body);
  assert.match(signature, /^v1,[A-Za-z0-9+/]+=*$/);
  const headers = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature };
  assert.deepEqual(wh.verify(body, headers), JSON.parse(body));
  assert.throws(() => wh.verify(body.replace('1', '2'), headers), WebhookVerificationError);
});
