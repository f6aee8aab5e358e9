// attempt(): the guard beyond a channel's own timeout, for a channel that never answers (a bug);
// a throwing or rejecting send is a retryable failure. The channels here stand for broken ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attempt } from '../src/delivery/attempt.js';
import type { Channel, SendResult } from '../src/delivery/channels/channel.js';
import type { Composed } from '../src/delivery/compose.js';

const payload: Composed = { kind: 'webhook', method: 'POST', url: 'http://127.0.0.1:9/', headers: {}, body: '{}' };
const never = new AbortController().signal;
const channel = (send: Channel['send']): Channel => ({ send, close: async () => undefined });

test('a send that never settles is cut by the guard, within a bound', async () => {
  const t0 = Date.now();
  const r = await attempt(
    channel(() => new Promise<SendResult>(() => undefined)),
    payload,
    200,
    never,
  );
  const took = Date.now() - t0;
  assert.deepEqual(r, { outcome: 'retry', code: null, error: 'no answer within 200 ms' });
  assert.ok(took >= 150 && took < 2_000, `took ${took} ms`);
});

test("a send's own answer wins over the guard; throwing and rejecting sends are retries", async () => {
  const delivered: SendResult = { outcome: 'delivered', code: '200' };
  assert.deepEqual(
    await attempt(
      channel(async () => delivered),
      payload,
      200,
      never,
    ),
    delivered,
  );
  const thrown = await attempt(
    channel(() => {
      throw new Error('broken channel');
    }),
    payload,
    200,
    never,
  );
  assert.deepEqual(thrown, { outcome: 'retry', code: null, error: 'broken channel' });
  const rejected = await attempt(
    channel(() => Promise.reject(new Error(''))),
    payload,
    200,
    never,
  );
  assert.deepEqual(rejected, { outcome: 'retry', code: null, error: 'send failed' });
});

test('many sends in flight: only the one that hangs is cut, at its own guard', async () => {
  const t0 = performance.now();
  const hung = attempt(
    channel(() => new Promise<SendResult>(() => undefined)),
    payload,
    300,
    never,
  );
  const quick = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      attempt(
        channel(() => new Promise<SendResult>((r) => setTimeout(() => r({ outcome: 'delivered', code: String(i) }), 5))),
        payload,
        100,
        never,
      ),
    ),
  );
  assert.deepEqual(
    quick.map((r) => r.code),
    Array.from({ length: 20 }, (_, i) => String(i)),
  );
  // Cut at its own 300 ms, not at the others' 100 ms guard.
  assert.deepEqual(await hung, { outcome: 'retry', code: null, error: 'no answer within 300 ms' });
  assert.ok(performance.now() - t0 >= 295, 'cut at its own guard');
});
