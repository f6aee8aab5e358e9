// What the router reads from a B3OS event: its type, its ids, its own time. Field names come from
// the rules file's `server.fields` (defaults in config/defaults.ts), looked up at the top level and
// then under `data`, as the contract says.
import type { EventFields, EventObject, Json } from '../config/types.js';

function own(obj: Json | undefined, key: string): Json | undefined {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
  return Object.prototype.hasOwnProperty.call(obj, key) ? (obj as EventObject)[key] : undefined;
}

/** First field (top level, then under `data`) holding a non-empty string or a finite number. */
function firstScalar(event: EventObject, names: readonly string[], underData: boolean): string | null {
  const scopes: (Json | undefined)[] = underData ? [event, own(event, 'data')] : [event];
  for (const scope of scopes) {
    for (const name of names) {
      const v = own(scope, name);
      if (typeof v === 'string' && v !== '') return v;
      if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    }
  }
  return null;
}

export function eventType(event: EventObject, fields: EventFields): string | null {
  return firstScalar(event, fields.type, false);
}

export function eventId(event: EventObject, fields: EventFields): string | null {
  return firstScalar(event, fields.id, false);
}

export function runId(event: EventObject, fields: EventFields): string | null {
  return firstScalar(event, fields.runId, true);
}

export function executionId(event: EventObject, fields: EventFields): string | null {
  return firstScalar(event, fields.executionId, true);
}

/**
 * The event's own time in ms since the epoch, or null when it carries none readable.
 * ISO-8601 strings, or numbers of unix seconds (milliseconds when above 10^12).
 */
export function eventTime(event: EventObject, fields: EventFields): number | null {
  for (const scope of [event, own(event, 'data')]) {
    for (const name of fields.time) {
      const v = own(scope, name);
      const t = parseTime(v);
      if (t !== null) return t;
    }
  }
  return null;
}

function parseTime(v: Json | undefined): number | null {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v > 1e12 ? v : v * 1000;
  if (typeof v === 'string' && v !== '') {
    if (/^\d+(\.\d+)?$/.test(v)) return parseTime(Number(v));
    // Only ISO-8601-looking strings: Date.parse accepts many loose formats we do not want to guess.
    if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)) return null;
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : null;
  }
  return null;
}
