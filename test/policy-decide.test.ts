// The policy decision, table-driven: one pure function of (rule, destination, event, counts, now).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_DELIVERY } from '../src/config/defaults.js';
import type { EventObject, Grant, WebhookDestination } from '../src/config/types.js';
import { decide, recheck } from '../src/policy/policy.js';

const dest = (privileged: boolean, name = 'billing'): WebhookDestination => ({
  type: 'webhook',
  name,
  line: 1,
  enabled: true,
  privileged,
  delivery: DEFAULT_DELIVERY,
  url: 'http://127.0.0.1:9/x',
  method: 'POST',
  headers: {},
  secret: null,
  body: null,
});

const grant = (g: Partial<Grant> = {}): Grant => ({
  rule: 'sync',
  destination: 'billing',
  line: 40,
  when: null,
  whenSource: null,
  maxPerHour: null,
  maxEventAgeMs: null,
  allowReplay: false,
  ...g,
});

const usd = (e: EventObject) => (e.data as { currency?: string } | undefined)?.currency === 'USD';
const NOW = Date.parse('2026-11-28T12:00:00Z');
const event: EventObject = { type: 'run.succeeded', data: { currency: 'USD' } };

const cases: {
  name: string;
  privileged?: boolean;
  grants: Grant[];
  rule?: string;
  event?: EventObject;
  eventTimeMs?: number | null;
  used?: number;
  replay?: boolean;
  allowed: boolean;
  reason: RegExp;
}[] = [
  { name: 'not privileged: always allowed', privileged: false, grants: [], allowed: true, reason: /not privileged/ },
  { name: 'privileged, no grant: blocked', grants: [], allowed: false, reason: /no grant .* names rule "sync"/ },
  { name: 'grant for another rule: blocked', grants: [grant({ rule: 'other' })], allowed: false, reason: /no grant/ },
  { name: 'grant for another destination: blocked', grants: [grant({ destination: 'wallet' })], allowed: false, reason: /no grant/ },
  { name: 'plain grant: allowed', grants: [grant()], allowed: true, reason: /grant at line 40/ },
  { name: 'when holds: allowed', grants: [grant({ when: usd })], allowed: true, reason: /line 40/ },
  {
    name: 'when fails: blocked',
    grants: [grant({ when: usd })],
    event: { type: 'run.succeeded', data: { currency: 'EUR' } },
    allowed: false,
    reason: /"when" condition .* does not hold/,
  },
  { name: 'max_per_hour not used up', grants: [grant({ maxPerHour: 3 })], used: 2, allowed: true, reason: /line 40/ },
  { name: 'max_per_hour used up', grants: [grant({ maxPerHour: 3 })], used: 3, allowed: false, reason: /max_per_hour of 3 .* used up \(3 in the last hour\)/ },
  { name: 'max_event_age: fresh event', grants: [grant({ maxEventAgeMs: 600_000 })], eventTimeMs: NOW - 60_000, allowed: true, reason: /line 40/ },
  {
    name: 'max_event_age: stale event',
    grants: [grant({ maxEventAgeMs: 600_000 })],
    eventTimeMs: NOW - 3_600_000,
    allowed: false,
    reason: /1h old, older than the max_event_age of 10m/,
  },
  {
    name: 'max_event_age: a little clock skew is fine',
    grants: [grant({ maxEventAgeMs: 600_000 })],
    eventTimeMs: NOW + 60_000,
    allowed: true,
    reason: /line 40/,
  },
  {
    name: 'max_event_age: far in the future',
    grants: [grant({ maxEventAgeMs: 600_000 })],
    eventTimeMs: NOW + 3_600_000,
    allowed: false,
    reason: /1h in the future/,
  },
  {
    name: 'max_event_age: no readable time',
    grants: [grant({ maxEventAgeMs: 600_000 })],
    eventTimeMs: null,
    allowed: false,
    reason: /carries no readable time/,
  },
  { name: 'replay without allow_replay: blocked', grants: [grant()], replay: true, allowed: false, reason: /replay .* allow_replay: true/ },
  { name: 'replay with allow_replay: allowed', grants: [grant({ allowReplay: true })], replay: true, allowed: true, reason: /line 40/ },
  {
    name: 'a second grant for the pair may allow what the first refuses',
    grants: [grant({ when: () => false }), grant({ line: 50 })],
    allowed: true,
    reason: /line 50/,
  },
  {
    name: 'all grants refuse: the first refusal is the reason',
    grants: [grant({ when: () => false }), grant({ line: 50, maxPerHour: 0 })],
    allowed: false,
    reason: /"when" condition of the grant at line 40/,
  },
];

describe('decide()', () => {
  for (const c of cases) {
    test(c.name, () => {
      const d = decide({
        rule: c.rule ?? 'sync',
        destination: dest(c.privileged ?? true),
        event: c.event ?? event,
        eventTimeMs: c.eventTimeMs === undefined ? NOW : c.eventTimeMs,
        grants: c.grants,
        allowedInLastHour: c.used ?? 0,
        now: NOW,
        replay: c.replay ?? false,
      });
      assert.equal(d.allowed, c.allowed);
      assert.match(d.reason, c.reason);
    });
  }
});

describe('recheck() at send time', () => {
  test('a grant removed since the delivery was created blocks it', () => {
    assert.equal(recheck('sync', dest(true), event, [], false).allowed, false);
  });
  test('a destination newly privileged without a grant blocks it', () => {
    assert.equal(recheck('sync', dest(true, 'other'), event, [grant()], false).allowed, false);
  });
  test('rate and age limits are not counted twice', () => {
    assert.equal(recheck('sync', dest(true), event, [grant({ maxPerHour: 0, maxEventAgeMs: 1 })], false).allowed, true);
  });
  test('a replayed delivery still needs allow_replay', () => {
    assert.equal(recheck('sync', dest(true), event, [grant()], true).allowed, false);
    assert.equal(recheck('sync', dest(true), event, [grant({ allowReplay: true })], true).allowed, true);
  });
});
