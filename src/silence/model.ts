// Silences (contract §9): what one is, how `silence add` and POST /admin/silences validate one, and
// how it is matched. A silence holds while now < its end; it matches a delivery when every
// condition it has holds: the rule, the destination, and each FIELD=VALUE as `match` reads it
// (rules/match.ts: `*` wildcards, a number equals its text, a list field holds when an item does).
import { NOISE_DEFAULTS } from '../config/defaults.js';
import { parseDuration } from '../config/duration.js';
import type { EventFields, EventObject, RouterConfig } from '../config/types.js';
import { eventType, isoSeconds, isoTime } from '../event/accessors.js';
import { compileMatch } from '../rules/match.js';
import { compilePath, isDottedPath } from '../event/path.js';
import { didYouMean } from '../config/problems.js';
import type { NewSilence, Store, StoredSilence } from '../store/store.js';

/** What a person asks for (CLI flags or the admin endpoint's JSON), before it is checked. */
export interface SilenceRequest {
  rule?: string;
  destination?: string;
  /** `FIELD=VALUE` items (the CLI), or FIELD → value(s) (the admin endpoint). */
  match?: string[] | Record<string, unknown>;
  for?: string;
  until?: string;
  comment?: string;
  by?: string;
}

type SilenceCheck = { ok: true; silence: NewSilence } | { ok: false; code: 'bad_silence'; message: string };

const MAX_TEXT = 1000;

/** Checks a request against the rules in force; every refusal is a sentence saying what to change. */
function checkSilence(req: SilenceRequest, config: RouterConfig, now: number): SilenceCheck {
  const fail = (message: string): SilenceCheck => ({ ok: false, code: 'bad_silence', message });
  const rule = req.rule === undefined || req.rule === '' ? null : req.rule;
  const destination = req.destination === undefined || req.destination === '' ? null : req.destination;
  if (rule !== null && !config.rules.some((r) => r.name === rule)) {
    return fail(
      `the rules file has no rule "${rule}"${didYouMean(
        rule,
        config.rules.map((r) => r.name),
      )}`,
    );
  }
  if (destination !== null && !config.destinations.has(destination)) {
    return fail(`the rules file has no destination "${destination}"${didYouMean(destination, [...config.destinations.keys()])}`);
  }
  const matchers = readMatchers(req.match);
  if (typeof matchers === 'string') return fail(matchers);
  if (rule === null && destination === null && Object.keys(matchers).length === 0) {
    return fail('a silence needs at least one condition: --rule R, --destination D or --match FIELD=VALUE (a silence of everything is not allowed)');
  }
  let endsAt: number;
  if (req.for !== undefined && req.until !== undefined) return fail('give --for or --until, not both');
  if (req.for !== undefined) {
    const d = parseDuration(req.for);
    if (!d.ok) return fail(`--for ${d.message.replace(/^should be/, 'takes')}`);
    endsAt = now + d.ms;
  } else if (req.until !== undefined) {
    const t = /^\d{4}-\d{2}-\d{2}/.test(req.until) ? Date.parse(req.until) : NaN;
    if (!Number.isFinite(t)) return fail(`--until takes an ISO-8601 time such as 2025-06-01T18:00:00Z, not "${req.until}"`);
    if (t <= now) return fail(`--until ${req.until} is in the past; a silence must end in the future`);
    endsAt = t;
  } else {
    return fail('a silence needs an end: --for DURATION (e.g. --for 2h) or --until TIME (e.g. --until 2025-06-01T18:00:00Z)');
  }
  if (endsAt - now > NOISE_DEFAULTS.silenceMaxMs) {
    const days = NOISE_DEFAULTS.silenceMaxMs / (24 * 3600_000);
    return fail(`a silence lasts at most ${days} days (--for ${days}d); to stop these notifications for good, change the rules file`);
  }
  const comment = (req.comment ?? '').trim();
  const by = (req.by ?? '').trim();
  if (comment.length > MAX_TEXT || by.length > MAX_TEXT) return fail(`--comment and --by are at most ${MAX_TEXT} characters`);
  return { ok: true, silence: { rule, destination, matchers, endsAt, comment, createdBy: by, createdAt: now } };
}

export type SilenceAdded = { ok: true; silence: StoredSilence } | { ok: false; code: 'bad_silence' | 'too_many_active'; message: string };

/** `silence add`, POST /admin/silences and the console's form: checked against the rules in force,
 * then stored; or refused with the sentence saying what to change (nothing stored). */
export async function addSilence(store: Store, config: RouterConfig, req: SilenceRequest, now = Date.now()): Promise<SilenceAdded> {
  const checked = checkSilence(req, config, now);
  if (!checked.ok) return checked;
  const stored = await store.addSilence(checked.silence, NOISE_DEFAULTS.activeSilences);
  if (stored.ok) return stored;
  return {
    ok: false,
    code: stored.code,
    message: `${stored.active} silences are active, the most there can be at once; expire one (silence list, then silence expire ID) or wait for one to end`,
  };
}

/** FIELD → values, or a sentence saying what is wrong. The same field given twice: any of its values. */
function readMatchers(match: SilenceRequest['match']): Record<string, string[]> | string {
  const out: Record<string, string[]> = {};
  const add = (field: string, value: unknown): string | null => {
    if (field === '' || !isDottedPath(field) || compilePath(field) === null) {
      return `--match needs a field path such as data.workflowId, not "${field}"`;
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      return `--match ${field}= needs a value (text, a number or true/false; * is a wildcard)`;
    }
    const text = String(value);
    if (text === '') return `--match ${field}= needs a value after "=", e.g. ${field}=wf_payroll (* is a wildcard)`;
    const values = out[field] ?? [];
    values.push(text);
    out[field] = values;
    return null;
  };
  if (match === undefined) return out;
  if (Array.isArray(match)) {
    for (const item of match) {
      if (typeof item !== 'string') return '--match takes FIELD=VALUE';
      const eq = item.indexOf('=');
      if (eq < 0) return `--match takes FIELD=VALUE, e.g. data.workflowId=wf_payroll, not "${item}"`;
      const err = add(item.slice(0, eq).trim(), item.slice(eq + 1));
      if (err) return err;
    }
    return out;
  }
  if (match === null || typeof match !== 'object') return 'match takes FIELD=VALUE items, or a map of field → value';
  for (const [field, v] of Object.entries(match)) {
    for (const value of Array.isArray(v) ? v : [v]) {
      const err = add(field, value);
      if (err) return err;
    }
  }
  return out;
}

export interface CompiledSilence {
  silence: StoredSilence;
  matches(event: EventObject, rule: string, destination: string): boolean;
}

export function compileSilence(silence: StoredSilence, fields: EventFields): CompiledSilence {
  const spec = Object.keys(silence.matchers).length > 0 ? compileMatch(silence.matchers, (e) => eventType(e, fields)).match : null;
  return {
    silence,
    matches: (event, rule, destination) =>
      (silence.rule === null || silence.rule === rule) &&
      (silence.destination === null || silence.destination === destination) &&
      (spec === null || spec.test(event).matched),
  };
}

/** `rule payroll-failed, destination ops-slack, data.workflowId=wf_payroll`. */
export function describeSilence(s: Pick<StoredSilence, 'rule' | 'destination' | 'matchers'>): string {
  const parts: string[] = [];
  if (s.rule !== null) parts.push(`rule ${s.rule}`);
  if (s.destination !== null) parts.push(`destination ${s.destination}`);
  for (const [f, vs] of Object.entries(s.matchers)) parts.push(`${f}=${vs.join('|')}`);
  return parts.join(', ');
}

const REASON_PREFIX = 'silenced by silence ';

/** The reason a silenced delivery carries: it names the silence and its comment. */
export function silencedReason(s: StoredSilence): string {
  const until = isoSeconds(s.endsAt);
  return `${REASON_PREFIX}${s.id}${s.comment ? ` ("${s.comment}")` : ''}, until ${until}`;
}

/** The id of the silence a silenced delivery's reason names (silencedReason), or null. */
export function silenceOfReason(reason: string | null): string | null {
  if (reason === null || !reason.startsWith(REASON_PREFIX)) return null;
  const id = /^[0-9A-Za-z-]{1,64}/.exec(reason.slice(REASON_PREFIX.length));
  return id ? id[0] : null;
}

/** A silence as `silence list --json` and the admin endpoints show it. */
export function silenceJson(s: StoredSilence, now: number) {
  return {
    id: s.id,
    rule: s.rule,
    destination: s.destination,
    match: s.matchers,
    matches: describeSilence(s),
    until: isoTime(s.endsAt),
    active: s.endsAt > now,
    comment: s.comment,
    by: s.createdBy,
    createdAt: isoTime(s.createdAt),
  };
}
