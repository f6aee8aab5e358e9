// settle(): what one attempt's result makes of its delivery. Pure, so a table says it all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SendResult } from '../src/delivery/channels/channel.js';
import { MAX_RETRY_AFTER_MS } from '../src/delivery/backoff.js';
import { settle } from '../src/delivery/settle.js';

const SETTINGS = { maxAttempts: 3, backoffInitialMs: 1_000, backoffMaxMs: 60_000 };
const NOW = 1_700_000_000_000;
const delivered: SendResult = { outcome: 'delivered', code: '200' };
const retry = (retryAfterMs?: number): SendResult => ({
  outcome: 'retry',
  code: '503',
  error: 'webhook x answered 503',
  ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
});
const permanent: SendResult = { outcome: 'permanent', code: '404', error: 'webhook x answered 404' };

interface Row {
  name: string;
  round: number;
  result: SendResult;
  cut?: boolean;
  random?: number;
  expect: null | { status: string; nextAttemptAt: number | null; reason: string | null };
}

const rows: Row[] = [
  { name: 'delivered', round: 0, result: delivered, expect: { status: 'delivered', nextAttemptAt: null, reason: null } },
  { name: 'delivered even while shutting down', round: 0, result: delivered, cut: true, expect: { status: 'delivered', nextAttemptAt: null, reason: null } },
  {
    name: 'first failure: retry after backoff.initial (no jitter room yet)',
    round: 0,
    result: retry(),
    random: 0.99,
    expect: { status: 'failed', nextAttemptAt: NOW + 1_000, reason: 'webhook x answered 503' },
  },
  {
    name: 'second failure: jitter inside [initial, 2 × initial]',
    round: 1,
    result: retry(),
    random: 0.5,
    expect: { status: 'failed', nextAttemptAt: NOW + 1_500, reason: 'webhook x answered 503' },
  },
  {
    name: 'Retry-After longer than the backoff is honoured',
    round: 0,
    result: retry(30_000),
    random: 0,
    expect: { status: 'failed', nextAttemptAt: NOW + 30_000, reason: 'webhook x answered 503' },
  },
  {
    name: 'Retry-After shorter than the backoff does not shorten it',
    round: 1,
    result: retry(10),
    random: 1,
    expect: { status: 'failed', nextAttemptAt: NOW + 2_000, reason: 'webhook x answered 503' },
  },
  {
    name: 'Retry-After is capped at a day',
    round: 0,
    result: retry(10 * MAX_RETRY_AFTER_MS),
    random: 0,
    expect: { status: 'failed', nextAttemptAt: NOW + MAX_RETRY_AFTER_MS, reason: 'webhook x answered 503' },
  },
  {
    name: 'permanent failure: dead at once, with the reason',
    round: 0,
    result: permanent,
    expect: { status: 'dead', nextAttemptAt: null, reason: 'webhook x answered 404' },
  },
  {
    name: 'out of attempts: dead, saying so',
    round: 2,
    result: retry(),
    expect: { status: 'dead', nextAttemptAt: null, reason: 'webhook x answered 503 (gave up after 3 attempts)' },
  },
  { name: 'cut short by shutdown: not an attempt, no update', round: 0, result: retry(), cut: true, expect: null },
  { name: 'a permanent failure cut by shutdown: no update either', round: 0, result: permanent, cut: true, expect: null },
];

for (const row of rows) {
  test(`settle: ${row.name}`, () => {
    const delivery = { id: 'dlv_1', attempts: row.round + 4, roundAttempts: row.round };
    const update = settle(delivery, { result: row.result, startedAt: NOW - 50, durationMs: 50, cut: row.cut ?? false }, SETTINGS, NOW, () => row.random ?? 0);
    if (row.expect === null) {
      assert.equal(update, null);
      return;
    }
    assert.ok(update);
    assert.deepEqual({ status: update.status, nextAttemptAt: update.nextAttemptAt, reason: update.reason }, row.expect);
    // Every update of an attempt records it, numbered over the delivery's whole life.
    assert.deepEqual(update.attempt, {
      deliveryId: 'dlv_1',
      attempt: row.round + 5,
      startedAt: NOW - 50,
      durationMs: 50,
      outcome: row.result.outcome,
      code: row.result.code,
      error: row.result.outcome === 'delivered' ? null : row.result.error,
    });
  });
}
