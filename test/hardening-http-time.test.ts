// The event's own time (for max_event_age): the first time field present decides, and only real
// calendar dates and times count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_EVENT_FIELDS } from '../src/config/defaults.js';
import type { EventObject } from '../src/config/types.js';
import { eventTime } from '../src/event/accessors.js';

const at = (iso: string) => Date.parse(iso);
const cases: [string, EventObject, number | null][] = [
  ['ISO with Z', { createdAt: '2026-02-28T10:00:00Z' }, at('2026-02-28T10:00:00Z')],
  ['ISO with offset', { createdAt: '2026-02-28T10:00:00+02:00' }, at('2026-02-28T08:00:00Z')],
  ['ISO with millis', { createdAt: '2026-02-28T10:00:00.250Z' }, at('2026-02-28T10:00:00.250Z')],
  ['date only', { createdAt: '2024-02-29' }, at('2024-02-29T00:00:00Z')],
  ['unix seconds', { createdAt: 1_700_000_000 }, 1_700_000_000_000],
  ['unix ms as text', { createdAt: '1700000000000' }, 1_700_000_000_000],
  ['Feb 30 is not Mar 2', { createdAt: '2026-02-30T10:00:00Z' }, null],
  ['Feb 29 outside a leap year', { createdAt: '2025-02-29' }, null],
  ['month 13', { createdAt: '2026-13-01T00:00:00Z' }, null],
  ['hour 24', { createdAt: '2026-01-01T24:00:00Z' }, null],
  ['hour 25', { createdAt: '2026-01-01T25:00:00Z' }, null],
  ['minute 60', { createdAt: '2026-01-01T10:60:00Z' }, null],
  ['offset hour 99', { createdAt: '2026-01-01T10:00:00+99:00' }, null],
  ['loose format', { createdAt: 'March 2, 2026' }, null],
  ['unparsable top level does not fall through to data', { createdAt: 'soon', data: { createdAt: '2026-01-01T00:00:00Z' } }, null],
  ['impossible top level does not fall through to a later field', { createdAt: '2026-02-30', timestamp: 1_700_000_000 }, null],
  ['an empty string is present and unreadable', { createdAt: '', data: { createdAt: '2026-01-01T00:00:00Z' } }, null],
  ['negative number', { createdAt: -5 }, null],
  ['a later field when the first is absent', { timestamp: 1_700_000_000 }, 1_700_000_000_000],
  ['null counts as absent', { createdAt: null, data: { createdAt: '2026-01-01T00:00:00Z' } }, at('2026-01-01T00:00:00Z')],
  ['under data when none at the top', { data: { occurredAt: '2026-01-01T00:00:00Z' } }, at('2026-01-01T00:00:00Z')],
  ['none', { type: 'x' }, null],
];

for (const [name, event, expected] of cases) {
  test(`event time: ${name}`, () => {
    assert.equal(eventTime(event, DEFAULT_EVENT_FIELDS), expected);
  });
}
