// The console's pages: each builds a view model (plain strings, numbers and booleans) from the
// store and the rules in force, and html.ts renders it with escaping. Nothing here writes, except
// retry (through ops/retry.ts and the policy).
import { CONSOLE_DEFAULTS } from '../config/defaults.js';
import { jsonError } from '../config/load.js';
import { countProblems } from '../config/problems.js';
import { recentEventsWithin } from '../ops/diff.js';
import { MAX_JSON_DEPTH, exceedsDepth } from '../ingest/http.js';
import type { EventObject, Json, RouterConfig } from '../config/types.js';
import { DELIVERY_STATUSES, type DeliveryStatus, type Store, type StoredDelivery, type StoredEvent } from '../store/store.js';
import { chart } from './chart.js';
import * as data from './data.js';
import type { Evaluator } from './evaluate.js';
import { page, type Layout } from './html.js';
import { ruleSentence, writtenRules } from './words.js';
import { isoTime } from '../event/accessors.js';

export interface ConsoleDeps {
  store: Store;
  /** The rules in force and their (re)load history (ops/reload.ts RulesHolder). */
  rules: { readonly current: RouterConfig; readonly loadedAt: number; readonly lastReload: { at: number; ok: boolean } | null };
  /** ADMIN_TOKEN; the console is off (404) when null. */
  token: string | null;
  /** Served over TLS (Strict-Transport-Security). */
  secure: boolean;
  /** The session cookie is marked Secure (TLS here, or at a proxy in front: CONSOLE_SECURE_COOKIE). */
  secureCookie: boolean;
  /** Where pasted rules and events are evaluated (a thread with a time budget). */
  evaluator: Evaluator;
  /** The rules page's match counts, kept for a minute per rules version. */
  matchCounts: data.MatchCounts;
}

/** A page, or a refusal because another evaluation is running (429). */
export type Answer = { html: string; busy?: false } | { html: string; busy: true };

const BUSY = 'Another rules file or event is being tried on this router right now; try again in a few seconds.';
const TOO_LONG = `This takes too long to evaluate (more than ${CONSOLE_DEFAULTS.evaluationBudgetMs / 1000} seconds), so it was stopped. A "when" condition with nested some, all or none over long lists is the usual cause; the router would take as long for every event.`;
const FAILED = "This could not be evaluated; the router's log has the details.";

export type Query = Record<string, string | undefined>;
export type Chrome = Omit<Layout, 'title' | 'section'>;

const HOUR = 3600_000;
const DAY = 24 * HOUR;

export const when = (ms: number) => isoTime(ms).replace('T', ' ').slice(0, 19) + ' UTC';
const hhmm = (ms: number) => isoTime(ms).slice(11, 16);
const pretty = (v: unknown) => JSON.stringify(v, null, 2);

/** A query value, or undefined when absent, empty or not a plain short string. */
export function qs(q: Query, name: string, max = 200): string | undefined {
  const v = q[name];
  return typeof v === 'string' && v !== '' && v.length <= max ? v : undefined;
}

function href(path: string, params: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

export const eventHref = (idOrKey: string) => `/console/events/${encodeURIComponent(idOrKey)}`;
const silenceHref = (id: string) => `/console/silences?all=1#silence-${encodeURIComponent(id)}`;

/** The silence a silenced delivery's reason names, to link to; false otherwise. */
function silenceLink(d: StoredDelivery): { id: string; href: string } | false {
  const id = d.status === 'silenced' ? data.silenceOfReason(d.reason) : null;
  return id === null ? false : { id, href: silenceHref(id) };
}
const eventName = (e: StoredEvent) => e.eventId ?? e.key;

function parsePayload(e: StoredEvent): EventObject | null {
  try {
    const v = JSON.parse(e.payload) as Json;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

function workflowOf(payload: EventObject | null): string {
  const d = payload?.data;
  if (d === null || typeof d !== 'object' || Array.isArray(d)) return '';
  const name = d.workflowName ?? d.workflowId;
  return typeof name === 'string' || typeof name === 'number' ? String(name) : '';
}

// ------------------------------------------------------------------------------------------
// Overview

export async function overview(deps: ConsoleDeps, chrome: Chrome): Promise<string> {
  const now = Date.now();
  const config = deps.rules.current;
  const hourStart = Math.floor(now / (5 * 60_000)) * 5 * 60_000 - 11 * 5 * 60_000;
  const dayStart = Math.floor(now / HOUR) * HOUR - 23 * HOUR;
  const [hour, day, received] = await Promise.all([
    deps.store.activity(hourStart, 5 * 60_000),
    deps.store.activity(dayStart, HOUR),
    data.recentTypes(deps.store, config, now),
  ]);
  const servers = await data.liveServers(deps.store, config.hash, now);
  const last = deps.rules.lastReload;
  const view = {
    dead: { n: day.dead, any: day.dead > 0, href: '/console/deliveries?status=dead' },
    blocked: { n: day.blocked, any: day.blocked > 0, href: '/console/deliveries?status=blocked' },
    rulesCount: config.rules.length,
    destinationsCount: config.destinations.size,
    charts: [
      chart('The last hour (5-minute steps)', hour, 12, 5 * 60_000, hourStart, hhmm, 3),
      chart('The last 24 hours (hourly)', day, 24, HOUR, dayStart, hhmm, 6),
    ],
    rules: {
      file: config.file,
      hash: config.hash,
      shortHash: config.hash.slice(0, 12),
      loadedAt: when(deps.rules.loadedAt),
      lastReload:
        last === null
          ? 'none since the router started'
          : `${when(last.at)}: ${last.ok ? 'rules reloaded' : 'reload refused (the rules above keep running; see the log or try the file on the check page)'}`,
    },
    types: received.types.map((t) => ({
      type: t.type ?? '(no type)',
      href: href('/console/events', { type: t.type ?? undefined, since: '24h' }),
      count: t.count,
      last: when(t.lastReceivedAt),
    })),
    unseen: received.unseen,
    servers: servers.sentence,
    replicas: servers.replicas,
  };
  return page('overview', { ...chrome, title: 'Overview', section: 'overview' }, view);
}

// ------------------------------------------------------------------------------------------
// Events

const SINCE: { value: string; label: string; ms: number }[] = [
  { value: '', label: 'any time', ms: 0 },
  { value: '1h', label: 'in the last hour', ms: HOUR },
  { value: '24h', label: 'in the last 24 hours', ms: DAY },
  { value: '7d', label: 'in the last 7 days', ms: 7 * DAY },
  { value: '30d', label: 'in the last 30 days', ms: 30 * DAY },
];

function outcome(e: StoredEvent, deliveries: StoredDelivery[]): { text: string; cls: string }[] {
  if (deliveries.length === 0) {
    let matched = false;
    try {
      matched = e.routing !== null && (JSON.parse(e.routing) as { outcomes?: { matched: boolean }[] }).outcomes?.some((o) => o.matched) === true;
    } catch {
      // an unreadable decision: say nothing was sent
    }
    return [{ text: matched ? 'matched, nothing to send' : 'no rule matched', cls: 'none' }];
  }
  const counts = new Map<string, number>();
  for (const d of deliveries) counts.set(d.status, (counts.get(d.status) ?? 0) + 1);
  return [...counts].map(([status, n]) => ({ text: `${n} ${status}`, cls: status }));
}

export async function events(deps: ConsoleDeps, chrome: Chrome, q: Query): Promise<string> {
  const type = qs(q, 'type');
  const sinceOpt = SINCE.find((s) => s.value === (q.since ?? '')) ?? SINCE[0]!;
  const before = qs(q, 'before', 20);
  const beforeSeq = before !== undefined && /^\d+$/.test(before) ? Number(before) : undefined;
  const limit = CONSOLE_DEFAULTS.pageSize;
  const list = await deps.store.eventPage({ type, since: sinceOpt.ms ? Date.now() - sinceOpt.ms : undefined, beforeSeq, limit: limit + 1 });
  const more = list.length > limit;
  const shown = list.slice(0, limit);
  const rows = await Promise.all(
    shown.map(async (e) => ({
      href: eventHref(eventName(e)),
      id: eventName(e),
      iso: new Date(e.receivedAt).toISOString(),
      time: when(e.receivedAt),
      type: e.type ?? '(no type)',
      workflow: workflowOf(parsePayload(e)),
      outcome: outcome(e, await deps.store.deliveriesForEvent(e.seq)),
    })),
  );
  const knownTypes = [...new Set(deps.rules.current.rules.flatMap((r) => r.types ?? []))].sort();
  const filters = {
    type: type ?? '',
    active: type !== undefined || sinceOpt.value !== '',
    sinceOptions: SINCE.map((s) => ({ value: s.value, label: s.label, selected: s === sinceOpt })),
  };
  const view = {
    filters,
    knownTypes,
    rows,
    older: more ? href('/console/events', { type, since: sinceOpt.value, before: shown[shown.length - 1]!.seq }) : false,
    newest: beforeSeq !== undefined ? href('/console/events', { type, since: sinceOpt.value }) : false,
  };
  return page('events', { ...chrome, title: 'Events', section: 'events' }, view);
}

// ------------------------------------------------------------------------------------------
// One event

const ATTEMPT_OUTCOME = { delivered: 'delivered', retry: 'failed, will retry', permanent: 'failed for good' } as const;

export function deliverySummary(d: StoredDelivery): string {
  switch (d.status) {
    case 'delivered':
      return `Delivered at ${when(d.updatedAt)} after ${d.attempts} attempt(s).`;
    case 'dead':
      return `Dead after ${d.attempts} attempt(s): ${d.reason ?? 'no reason recorded'}.`;
    case 'blocked':
      return `Blocked by policy: ${d.reason ?? 'no reason recorded'}.`;
    case 'silenced':
      return `Not sent: ${d.reason ?? 'silenced'}.`;
    case 'failed':
      return `Failed ${d.attempts} time(s), last: ${d.reason ?? 'unknown'}; next attempt ${d.nextAttemptAt ? `at ${when(d.nextAttemptAt)}` : 'soon'}.`;
    default:
      return `Pending since ${when(d.createdAt)}.`;
  }
}

function sentFields(t: data.TestDelivery): { k: string; v: string }[] {
  return Object.entries(t.rendered).map(([k, v]) => ({ k, v }));
}

export async function event(deps: ConsoleDeps, chrome: Chrome, id: string, back: string): Promise<string | null> {
  const config = deps.rules.current;
  const report = await data.explain(deps.store, config, id);
  if (report === null) return null;
  const e = report.event;
  const raw = JSON.stringify(e.payload);
  const payload = e.payload !== null && typeof e.payload === 'object' && !Array.isArray(e.payload) ? (e.payload as EventObject) : null;
  const deliveries = await Promise.all(
    report.deliveries.map(async (d) => {
      const sent = payload ? await data.sentText(deps.store, config, d, payload, raw) : null;
      return {
        id: d.id,
        rule: d.rule,
        destination: d.destination,
        status: d.status,
        privileged: d.privileged,
        summary: deliverySummary(d),
        silence: silenceLink(d),
        attempts: d.attemptsMade.map((a) => ({
          n: a.attempt,
          at: when(a.startedAt),
          outcome: ATTEMPT_OUTCOME[a.outcome] ?? a.outcome,
          detail: [a.code, a.error].filter(Boolean).join(': '),
          ms: a.durationMs,
        })),
        sent: sent
          ? {
              title:
                d.status === 'blocked'
                  ? 'What it would have sent (blocked, never sent)'
                  : d.status === 'silenced'
                    ? 'What it would have sent (silenced, not sent)'
                    : report.rulesChanged
                      ? 'The text it sends, rendered with the rules in force now'
                      : 'The text sent',
              fields: sentFields(sent),
              notes: sent.notes,
            }
          : false,
        retry: d.status === 'dead',
        back,
      };
    }),
  );
  const view = {
    id: e.eventId ?? e.key,
    tryHref: href('/console/try', { event: e.eventId ?? e.key }),
    // Indented sentences (each rule, each attempt) are shown in the tables below.
    sentences: report.sentences.filter((s) => !/^\s/.test(s)),
    rulesChanged: report.rulesChanged,
    rules: report.rules.map((r) => ({ rule: r.rule, reason: r.reason, verdict: r.matched ? 'matched' : 'did not match', cls: r.matched ? 'matched' : 'none' })),
    deliveries,
    facts: [
      { k: 'Type', v: e.type ?? '(none)' },
      { k: 'Event id', v: e.eventId ?? '(none)' },
      { k: 'Idempotency key', v: e.key },
      { k: 'Run', v: e.runId ?? '(none)' },
      { k: 'Execution', v: e.executionId ?? '(none)' },
      { k: 'Received', v: when(e.receivedAt) },
      { k: 'Duplicates', v: String(e.duplicates) },
    ],
    payload: typeof e.payload === 'string' ? e.payload : pretty(e.payload),
  };
  return page('event', { ...chrome, title: `Event ${view.id}`, section: 'events' }, view);
}

// ------------------------------------------------------------------------------------------
// Deliveries

export async function deliveries(deps: ConsoleDeps, chrome: Chrome, q: Query, back: string): Promise<string> {
  const status = DELIVERY_STATUSES.find((s) => s === q.status);
  const destination = qs(q, 'destination');
  const limit = CONSOLE_DEFAULTS.pageSize * 2;
  const list = await deps.store.listDeliveries({ status, destination, limit });
  const events = new Map<number, StoredEvent | null>();
  for (const d of list) if (!events.has(d.eventSeq)) events.set(d.eventSeq, await deps.store.getEvent(d.eventSeq));
  const rows = list.map((d) => {
    const e = events.get(d.eventSeq) ?? null;
    return {
      id: d.id,
      time: when(d.updatedAt),
      status: d.status,
      rule: d.rule,
      destination: d.destination,
      eventHref: e ? eventHref(eventName(e)) : '/console/events',
      eventLabel: e ? eventName(e) : '(event removed)',
      attempts: d.attempts,
      reason: d.reason ?? '',
      silence: silenceLink(d),
      dead: d.status === 'dead',
      back,
    };
  });
  const names = new Set(deps.rules.current.destinations.keys());
  if (destination) names.add(destination);
  const filters = {
    active: status !== undefined || destination !== undefined,
    statuses: [
      { value: '', label: 'any status', selected: status === undefined },
      ...DELIVERY_STATUSES.map((s) => ({ value: s, label: s, selected: s === status })),
    ],
    destinations: [
      { value: '', label: 'any destination', selected: destination === undefined },
      ...[...names].sort().map((n) => ({ value: n, label: n, selected: n === destination })),
    ],
  };
  return page('deliveries', { ...chrome, title: 'Deliveries', section: 'deliveries' }, { filters, rows, limit });
}

/** Retry one dead delivery; the notice says what happened. */
export async function retryOne(deps: ConsoleDeps, id: string): Promise<{ text: string; bad: boolean }> {
  const d = await deps.store.getDelivery(id);
  if (!d) return { text: `There is no delivery ${id}.`, bad: true };
  if (d.status !== 'dead') return { text: `Delivery ${id} is ${d.status}, not dead; only dead deliveries can be retried.`, bad: true };
  const result = await data.retry(deps.store, () => deps.rules.current, d);
  if (result.requeued.includes(id))
    return { text: `Delivery ${id} (${d.rule} → ${d.destination}) is queued again; the worker sends it within a second.`, bad: false };
  const refused = result.refused.find((r) => r.id === id);
  return { text: refused ? `Policy refused to retry delivery ${id}: ${refused.reason}.` : `Delivery ${id} was not retried (it is no longer dead).`, bad: true };
}

// ------------------------------------------------------------------------------------------
// Rules

export async function rules(deps: ConsoleDeps, chrome: Chrome): Promise<string> {
  const config = deps.rules.current;
  const written = writtenRules(config);
  const matches = await deps.matchCounts.get(deps.store, config.hash, DAY, CONSOLE_DEFAULTS.matchScanLimit);
  const view = {
    file: config.file,
    shortHash: config.hash.slice(0, 12),
    window: `${matches.events >= CONSOLE_DEFAULTS.matchScanLimit ? `the newest ${matches.events} events of the last 24 hours` : `the ${matches.events} events of the last 24 hours`}, counted at ${hhmm(matches.countedAt)} UTC (counted again after a minute, or when the rules change)`,
    rules: config.rules.map((r) => {
      // The rules in force never have a failing example: one that fails refuses the file, at
      // start and on reload (config/load.ts). So they are not run again on every view.
      const ex = r.examples;
      return {
        index: r.index,
        name: r.name,
        description: r.description,
        enabled: r.enabled,
        line: r.line,
        segments: ruleSentence(written[r.index] ?? {}, r.sendTo, r.stop),
        matched: `${matches.counts[r.name] ?? 0} time(s)`,
        examples: ex.length === 0 ? 'none written' : `${ex.length === 1 ? 'its example passes' : `all ${ex.length} pass`}`,
      };
    }),
  };
  return page('rules', { ...chrome, title: 'Rules', section: 'rules' }, view);
}

// ------------------------------------------------------------------------------------------
// Try an event

function reportView(r: data.TestReport) {
  const e = r.event;
  return {
    accepted: e.accepted,
    facts: [
      { k: 'Type', v: e.type ?? '(none)' },
      { k: 'Event id', v: e.id ?? '(none)' },
      { k: 'Idempotency key', v: e.key },
      { k: 'Time', v: e.time ?? 'none readable' },
    ],
    rules: r.rules.map((x) => ({ rule: x.rule, reason: x.reason, verdict: x.matched ? 'matched' : 'did not match', cls: x.matched ? 'matched' : 'none' })),
    deliveries: r.deliveries.map((d) => ({
      rule: d.rule,
      destination: d.destination,
      type: d.type,
      verdict: d.allowed ? 'would be sent' : 'blocked',
      cls: d.allowed ? 'delivered' : 'blocked',
      reason: d.allowed ? (d.privileged ? `Allowed by policy: ${d.reason}.` : 'Not privileged: sent as is.') : `Blocked by policy: ${d.reason}.`,
      fields: sentFields(d),
      notes: d.notes,
    })),
  };
}

export async function tryPage(deps: ConsoleDeps, chrome: Chrome, input: { event?: string; json?: string }): Promise<Answer> {
  const config = deps.rules.current;
  const recent = (await deps.store.eventPage({ limit: 20 })).map((e) => ({ value: eventName(e), label: `${e.type ?? '(no type)'} · ${when(e.receivedAt)}` }));
  let error: string | false = false;
  let report: ReturnType<typeof reportView> | false = false;
  const pasted = input.json ?? '';
  const id = input.event?.trim() ?? '';
  let raw = pasted;
  let shown = pasted;
  if (id !== '' && pasted.trim() === '') {
    const stored = await deps.store.findEvent(id);
    if (!stored) error = `There is no stored event with id or key "${id}".`;
    else {
      raw = stored.payload;
      try {
        shown = pretty(JSON.parse(raw));
      } catch {
        shown = raw;
      }
    }
  }
  if (error === false && raw.trim() !== '') {
    let value: unknown;
    try {
      // As the hook path refuses it (and before parsing: nesting costs stack, not just time).
      if (exceedsDepth(raw, MAX_JSON_DEPTH))
        error = `This JSON is nested deeper than ${MAX_JSON_DEPTH} levels; the router refuses such events (400), so there is nothing to try.`;
      else value = JSON.parse(raw);
    } catch (err) {
      error = `This ${jsonError(raw, err)}.`;
    }
    if (error === false) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) error = 'An event is a JSON object, like {"type": "run.failed", "data": {...}}.';
      else {
        const job = {
          kind: 'try' as const,
          current: data.rulesText(config),
          env: process.env,
          event: value as EventObject,
          raw,
          label: id || 'pasted',
          now: Date.now(),
        };
        const out = await deps.evaluator.run<data.TestReport>(() => job);
        if (out.ok) report = reportView(out.value);
        else if (out.reason === 'busy') return { busy: true, html: message(chrome, 'Busy', BUSY) };
        else error = out.reason === 'timeout' ? TOO_LONG : FAILED;
      }
    }
  }
  const view = { eventId: id, json: shown, recent, error, report };
  return { html: page('try', { ...chrome, title: 'Try an event', section: 'try' }, view) };
}

// ------------------------------------------------------------------------------------------
// Try a rules file

export async function checkPage(deps: ConsoleDeps, chrome: Chrome, yaml: string | undefined): Promise<Answer> {
  const last = CONSOLE_DEFAULTS.diffEvents;
  const show = (result: object | false) => ({
    html: page('check', { ...chrome, title: 'Try a rules file', section: 'check' }, { last, yaml: yaml ?? '', result }),
  });
  if (yaml === undefined || yaml.trim() === '') return show(false);
  const current = deps.rules.current;
  const out = await deps.evaluator.run<data.CheckResult>(async () => ({
    kind: 'check' as const,
    current: data.rulesText(current),
    text: yaml,
    env: data.standInEnv(),
    eventFiles: data.eventFilesOf(current),
    events: (await recentEventsWithin(deps.store, last, CONSOLE_DEFAULTS.diffBytes)).events,
    now: Date.now(),
  }));
  if (!out.ok && out.reason === 'busy') return { busy: true, html: message(chrome, 'Busy', BUSY) };
  const lines = (byLine: Map<number, { severity: string; message: string }[]>) =>
    yaml.split(/\r?\n/).map((text, i) => {
      const notes = byLine.get(i + 1) ?? [];
      return { n: i + 1, text, notes, cls: notes.some((x) => x.severity === 'error') ? 'error' : notes.length ? 'warning' : '' };
    });
  if (!out.ok)
    return show({ cls: 'bad', summary: out.reason === 'timeout' ? TOO_LONG : FAILED, problems: [], lines: lines(new Map()), diff: false, withheld: false });
  const { problems, counts, diff: d, withheld } = out.value;
  const { errors, warnings } = countProblems(problems);
  const byLine = new Map<number, { severity: string; message: string }[]>();
  for (const p of problems) {
    const notes = byLine.get(p.line) ?? [];
    notes.push({ severity: p.severity, message: `column ${p.col}: ${p.message}` });
    byLine.set(p.line, notes);
  }
  const diff = d
    ? {
        events: d.events,
        sentences: d.sentences,
        samples: d.samples.map((s) => ({
          href: eventHref(s.event),
          event: s.event,
          change: [s.added.length ? `would now also go to ${s.added.join(', ')}` : '', s.removed.length ? `would no longer go to ${s.removed.join(', ')}` : '']
            .filter(Boolean)
            .join('; '),
        })),
      }
    : false;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  return show({
    cls: counts ? 'ok' : 'bad',
    summary: counts
      ? `Valid: ${plural(counts.rules, 'rule')}, ${plural(counts.destinations, 'destination')}${warnings ? `, with ${plural(warnings, 'warning')}` : ''}.`
      : `${plural(errors, 'error')}${warnings ? ` and ${plural(warnings, 'warning')}` : ''}: the router would refuse this file until they are fixed.`,
    problems: problems.map((p) => ({ line: p.line, col: p.col, severity: p.severity, warning: p.severity === 'warning', message: p.message })),
    lines: lines(byLine),
    diff,
    withheld: withheld.length ? withheld.map((n) => `\${${n}}`).join(', ') : false,
  });
}

// ------------------------------------------------------------------------------------------
// Silences

/** What the add form holds: the text a person typed, kept when the silence is refused. */
export type SilenceForm = Partial<Record<'rule' | 'destination' | 'match' | 'for' | 'until' | 'comment', string>>;

const option = (value: string, label: string, chosen: string | undefined) => ({ value, label, selected: value === (chosen ?? '') });

export async function silencesPage(deps: ConsoleDeps, chrome: Chrome, q: Query, back: string, input: SilenceForm = {}): Promise<string> {
  const config = deps.rules.current;
  const all = q.all === '1' || q.all === 'true';
  const now = Date.now();
  const list = await data.silences(deps.store, all, now);
  const rows = list.map((x) => {
    const active = x.endsAt > now;
    const conditions = [
      ...(x.rule !== null ? [{ k: 'rule', v: x.rule }] : []),
      ...(x.destination !== null ? [{ k: 'destination', v: x.destination }] : []),
      ...Object.entries(x.matchers).map(([f, vs]) => ({ k: f, v: vs.join(' or ') })),
    ];
    return {
      id: x.id,
      active,
      state: active ? 'active' : 'ended',
      cls: active ? 'silenced' : 'ended',
      conditions,
      until: when(x.endsAt),
      comment: x.comment,
      by: x.createdBy,
      back,
    };
  });
  const form = {
    rules: [option('', 'any rule', input.rule), ...config.rules.map((r) => option(r.name, r.name, input.rule))],
    destinations: [option('', 'any destination', input.destination), ...[...config.destinations.keys()].sort().map((n) => option(n, n, input.destination))],
    match: input.match ?? '',
    for: input.for ?? '',
    until: input.until ?? '',
    comment: input.comment ?? '',
  };
  const toggle = all
    ? { href: '/console/silences', label: 'Show active silences only' }
    : { href: '/console/silences?all=1', label: 'Show ended silences too' };
  return page('silences', { ...chrome, title: 'Silences', section: 'silences' }, { all, rows, toggle, form });
}

const given = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v.trim());

/** `silence add` from the form, by "console": the notice on success, or the sentence it refuses with. */
export async function addSilence(deps: ConsoleDeps, input: SilenceForm): Promise<{ text: string; bad: boolean }> {
  const match = (input.match ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const r = await data.addSilence(deps.store, deps.rules.current, {
    rule: given(input.rule),
    destination: given(input.destination),
    match,
    for: given(input.for),
    until: given(input.until),
    comment: input.comment,
    by: 'console',
  });
  if (!r.ok) return { text: `The silence was not added: ${r.message}`, bad: true };
  return {
    text: `Silence ${r.silence.id} added (${data.describeSilence(r.silence)}) until ${when(r.silence.endsAt)}; the router honours it within a second.`,
    bad: false,
  };
}

/** `silence expire ID`; the notice says what happened. */
export async function expireSilence(deps: ConsoleDeps, id: string): Promise<{ text: string; bad: boolean }> {
  const r = await data.expireSilence(deps.store, id);
  if (r === null) return { text: `There is no silence ${id}.`, bad: true };
  return r.ended
    ? { text: `Silence ${id} ended; deliveries it matches are sent again from now on (the ones it silenced stay silenced).`, bad: false }
    : { text: `Silence ${id} had already ended at ${when(r.silence.endsAt)}.`, bad: false };
}

export function message(chrome: Chrome, heading: string, text: string): string {
  return page('message', { ...chrome, title: heading, section: 'none' }, { heading, message: text, back: '/console', backLabel: 'Back to the overview' });
}

export function signIn(next: string, error: string | null): string {
  return page('sign-in', { csrf: null, notice: null, title: 'Sign in', section: 'sign-in' }, { next, error: error ?? false });
}

export type { DeliveryStatus };
