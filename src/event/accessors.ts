// What the router reads from a B3OS event: its type, its ids, its own time, and the details a
// summary shows (workflow, node, status, error, link). Field names come from the rules file's
// `server.fields` (defaults in config/defaults.ts DEFAULT_EVENT_FIELDS); each name, a dotted path
// if need be, is looked up at the top level and then under `data`, as the contract says. This is
// the one place event fields are read: ingest, policy, Slack, email and the default summary all
// come here, so `server.fields` holds everywhere.
import type { EventFields, EventObject, Json } from './model.js';
import { compilePath, readPath } from './path.js';

function own(obj: Json | undefined, key: string): Json | undefined {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return undefined;
  return Object.hasOwn(obj, key) ? (obj as EventObject)[key] : undefined;
}

/** A field name as a compiled path, cached: the lists are few and read on every event. */
const paths = new Map<string, string[] | null>();
function lookup(scope: Json | undefined, name: string): Json | undefined {
  if (!name.includes('.')) return own(scope, name);
  let parts = paths.get(name);
  if (parts === undefined) {
    parts = compilePath(name);
    if (paths.size < 1000) paths.set(name, parts);
  }
  return readPath(scope, parts);
}

/**
 * First field (top level, then under `data` when `underData`) holding a string or a finite number.
 * `display`: a string of spaces counts as absent (a summary must show something readable); ids
 * keep any non-empty string, so that dedupe keys are exactly what the sender sent.
 */
function firstScalar(event: EventObject, names: readonly string[], underData: boolean, display = false): string | null {
  const scopes: (Json | undefined)[] = underData ? [event, own(event, 'data')] : [event];
  for (const scope of scopes) {
    for (const name of names) {
      const v = lookup(scope, name);
      if (typeof v === 'string' && (display ? v.trim() !== '' : v !== '')) return v;
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

/** What a notification shows about an event, every field read through `server.fields`. */
export interface EventDetails {
  type: string | null;
  runId: string | null;
  workflowId: string | null;
  workflowName: string | null;
  node: string | null;
  status: string | null;
  error: string | null;
  /** As the event carries it; channels decide whether a link may be shown (server.link_hosts). */
  url: string | null;
}

export function describe(event: EventObject, fields: EventFields, type: string | null = eventType(event, fields)): EventDetails {
  const shown = (names: readonly string[]) => firstScalar(event, names, true, true);
  return {
    type,
    runId: firstScalar(event, fields.runId, true, true),
    workflowId: shown(fields.workflowId),
    workflowName: shown(fields.workflowName),
    node: shown(fields.node),
    status: shown(fields.status),
    error: shown(fields.error),
    url: shown(fields.url),
  };
}

/**
 * The event's own time in ms since the epoch, or null when it carries none readable.
 * ISO-8601 strings, or numbers of unix seconds (milliseconds when above 10^12).
 * The first time field present decides: an unreadable one is null, never a later field's value
 * (a policy's max_event_age must not be steered by a second, more convenient field).
 */
export function eventTime(event: EventObject, fields: EventFields): number | null {
  for (const scope of [event, own(event, 'data')]) {
    for (const name of fields.time) {
      const v = lookup(scope, name);
      if (v !== undefined && v !== null) return parseTime(v);
    }
  }
  return null;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|([+-])(\d{2}):?(\d{2}))?)?$/;

/** The last moment a Date can hold (year 275760): a later "time" is not one a message can show. */
const LAST_DATE_MS = 8.64e15;

/** A stored time as ISO-8601; one past what a Date holds (a silence's end from before its limit)
 * shows as that last moment rather than throwing. */
export function isoTime(ms: number): string {
  return new Date(Math.max(-LAST_DATE_MS, Math.min(ms, LAST_DATE_MS))).toISOString();
}

/** isoTime to the second, for people: 2026-12-01T17:20:28Z. */
export function isoSeconds(ms: number): string {
  return isoTime(ms).replace(/\.\d{3}Z$/, 'Z');
}

function parseTime(v: Json): number | null {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v <= 0) return null;
    const ms = v > 1e12 ? v : v * 1000;
    return ms <= LAST_DATE_MS ? ms : null;
  }
  if (typeof v !== 'string') return null;
  if (/^\d+(\.\d+)?$/.test(v)) return parseTime(Number(v));
  return parseIso(v);
}

/**
 * Strict ISO-8601: every part in range and the day in its month (Date.parse turns Feb 30 into
 * Mar 2). No offset means UTC.
 */
function parseIso(v: string): number | null {
  const m = ISO.exec(v);
  if (!m) return null;
  const [year, month, day, hour = 0, minute = 0, second = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) =>
    x === undefined ? undefined : Number(x),
  ) as number[];
  if (month! < 1 || month! > 12 || day! < 1 || day! > new Date(Date.UTC(year!, month!, 0)).getUTCDate()) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  let offset = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offset = (m[9] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const ms = m[7] ? Math.floor(Number(m[7]) * 1000) : 0;
  const t = Date.UTC(year!, month! - 1, day!, hour, minute, second, ms) - offset;
  return Number.isFinite(t) ? t : null;
}
