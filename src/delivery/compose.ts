// What a destination receives, composed in one place: the worker sends it, `test` prints it and
// `ping` sends a marked test one, all through compose(). Channels only carry a composed payload.
// A digest (contract §9: a notification that carries several events of one group) is composed
// here too, from the same input with `digest` set: `digest_message` or the readable default,
// templates rendered over the digest's view, the webhook's default digest body.
//
// A webhook's headers are composed here in full, per attempt, the signature included (computed
// from `now` and the body by webhookSignature, the one place outbound signatures are made), so
// `test` could show exactly the request that goes out.
import { DEFAULT_LINK_HOSTS, DEFAULT_WEBHOOK_SIGNING, NOISE_DEFAULTS } from '../config/defaults.js';
import type { CompiledRule, Destination, EmailDestination, SlackDestination, WebhookDestination } from '../config/types.js';
import { describe, eventId } from '../event/accessors.js';
import { escapeText } from '../event/escape.js';
import type { Digest, EventFields, EventObject, Json, Template, TemplateEscape } from '../event/model.js';
import { defaultSummary, workflowLabel } from '../event/summary.js';
import { describeGroup } from '../route/group.js';
import { signatureHeaders } from './channels/signing.js';
import { wildcard } from '../rules/match.js';

export interface ComposeInput {
  destination: Destination;
  /** The rule, for its `message` (and `digest_message`); null when it is no longer in the rules file. */
  rule: Pick<CompiledRule, 'name' | 'message' | 'digestMessage'> | null;
  /** The rule's name as stored with the delivery (shown even when the rule is gone). */
  ruleName: string;
  /** The event (a digest's: its first event). */
  event: EventObject;
  /** The event exactly as B3OS sent it (raw body text). */
  raw: string;
  type: string | null;
  /** Set when the notification carries several events (dispatch/digest.ts loadDigest). */
  digest?: Digest | null;
  /** Stable across attempts: sent as Idempotency-Key by webhooks. */
  deliveryId: string;
  /** 1-based attempt number. */
  attempt: number;
  fields: EventFields;
  /**
   * `ping`: a notification marked as a test, with this text instead of a rule's message; the
   * destination's own templates (subject, body) are not used, they are written for real events.
   */
  test?: { text: string };
  now: number;
}

type TextObject = { type: 'mrkdwn' | 'plain_text'; text: string };
export type SlackBlock = { type: 'section'; text?: TextObject; fields?: TextObject[] } | { type: 'context'; elements: TextObject[] };

/** What chat.postMessage or the incoming webhook gets. `channel` null: an incoming webhook. */
export interface SlackPayload {
  kind: 'slack';
  channel: string | null;
  text: string;
  blocks: SlackBlock[];
}

export interface EmailPayload {
  kind: 'email';
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
}

/** The request as sent: header names lower-case. */
export interface WebhookPayload {
  kind: 'webhook';
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export type Composed = SlackPayload | EmailPayload | WebhookPayload;

export interface ComposeResult {
  payload: Composed;
  /** Template failures (the default was used instead, as the router does): logged by the worker, shown by `test`. */
  notes: string[];
}

export function compose(input: ComposeInput): ComposeResult {
  const notes: string[] = [];
  const m = new Message(input, notes);
  const dest = input.destination;
  let payload: Composed;
  switch (dest.type) {
    case 'slack':
      payload = slackPayload(m, dest);
      break;
    case 'email':
      payload = emailPayload(m, dest);
      break;
    case 'webhook':
      payload = webhookPayload(m, dest);
      break;
  }
  return { payload, notes: [...new Set(notes)] };
}

/**
 * The text for a notification: the rule's `message`, or the default summary when it has none or
 * it fails to render (the failure goes to onError; the notification still goes).
 */
export function renderMessage(
  rule: Pick<CompiledRule, 'name' | 'message'> | null,
  event: EventObject,
  type: string | null,
  escape: TemplateEscape,
  fields: EventFields,
  onError: (err: Error) => void,
): string {
  if (rule?.message) {
    try {
      return rule.message.render(event, escape);
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  }
  return defaultSummary(event, type, rule?.name ?? 'none', escape, fields);
}

/** The parts every destination type draws on, with template failures noted. */
class Message {
  /** What templates see: the event, or a digest's view. */
  private readonly view: EventObject;

  constructor(
    readonly input: ComposeInput,
    private readonly notes: string[],
  ) {
    this.view = input.digest ? digestView(input.digest, input.ruleName, input.destination.name) : input.event;
  }

  get test(): boolean {
    return this.input.test !== undefined;
  }

  /** The digest this notification carries; null for one event (and for `ping`). */
  get digest(): Digest | null {
    return this.test ? null : (this.input.digest ?? null);
  }

  text(escape: TemplateEscape): string {
    const { input } = this;
    if (input.test) return escapeText(input.test.text, escape);
    if (this.digest) return this.digestText(this.digest, escape);
    return renderMessage(input.rule, input.event, input.type, escape, input.fields, (err) =>
      this.notes.push(`the message template failed (${err.message}); the default summary is used`),
    );
  }

  /** `digest_message`, or the readable default when the rule has none or it fails to render. */
  private digestText(d: Digest, escape: TemplateEscape): string {
    const { input } = this;
    if (input.rule?.digestMessage) {
      try {
        return input.rule.digestMessage.render(this.view, escape);
      } catch (err) {
        this.notes.push(`the digest_message template failed (${(err as Error).message}); the default digest text is used`);
      }
    }
    return defaultDigestText(d, input.ruleName, escape, input.fields);
  }

  /** A destination template (subject, body), or `fallback` when there is none or it fails. */
  render(template: Template | null, escape: TemplateEscape, fallback: () => string): string {
    if (template === null || this.test) return fallback();
    try {
      return template.render(this.view, escape);
    } catch (err) {
      this.notes.push(`a template of "${this.input.destination.name}" failed (${(err as Error).message}); the default is used`);
      return fallback();
    }
  }
}

// ---- Digests ----

/** `{"data.workflowId": "wf_x"}` → `{data: {workflowId: "wf_x"}}`, for {{group.data.workflowId}}. */
function nested(flat: Record<string, unknown>): EventObject {
  const out: EventObject = {};
  for (const [path, value] of Object.entries(flat)) {
    const parts = path.split('.');
    let cur: EventObject = out;
    for (const p of parts.slice(0, -1)) {
      const next = cur[p];
      const child: EventObject = next !== null && typeof next === 'object' && !Array.isArray(next) ? next : {};
      cur[p] = child;
      cur = child;
    }
    cur[parts[parts.length - 1]!] = value as Json;
  }
  return out;
}

/** What templates see for a digest: the first event's fields (so a subject such as "{{type}}:
 * {{data.workflowName}}" still reads), and over them count, group, events, rule, destination. */
export function digestView(d: Digest, rule: string, destination: string): EventObject {
  const first = d.events[0]?.event ?? {};
  return { ...first, count: d.count, group: nested(d.group), events: d.events.map((e) => e.event), rule, destination };
}

/** The default digest text: the count, the rule, the group, one line per event for the first
 * NOISE_DEFAULTS.digestLines, then "and N more"; escaped for `escape`. */
export function defaultDigestText(d: Digest, rule: string, escape: TemplateEscape, fields: EventFields): string {
  const e = (s: string) => escapeText(s, escape);
  const lines = [`B3OS digest: ${d.count} events for rule ${e(rule)} (${e(describeGroup(d.group))})`];
  const suffix = ` (rule ${e(rule)})`;
  for (const ev of d.events.slice(0, NOISE_DEFAULTS.digestLines)) {
    const summary = defaultSummary(ev.event, ev.type, rule, escape, fields);
    const id = eventId(ev.event, fields);
    lines.push(`• ${id !== null ? `${e(id)}: ` : ''}${summary.endsWith(suffix) ? summary.slice(0, -suffix.length) : summary}`);
  }
  const more = d.count - Math.min(d.events.length, NOISE_DEFAULTS.digestLines);
  if (more > 0) lines.push(`and ${more} more`);
  return lines.join('\n');
}

/** The default email subject of a digest. */
export function digestSubject(d: Digest, rule: string): string {
  const types = [...new Set(d.events.map((e) => e.type ?? 'event'))];
  return oneLine(`B3OS digest: ${d.count} × ${types.length === 1 ? types[0] : 'events'} (rule ${rule})`, 200);
}

/** The webhook's default digest body (contract §9): the first events spliced byte for byte as B3OS sent them. */
export function digestWebhookBody(rule: string, destination: string, d: Digest): string {
  const events = d.events.map((e) => (e.raw.trim() === '' ? JSON.stringify(e.event) : e.raw)).join(', ');
  return `{"rule": ${JSON.stringify(rule)}, "destination": ${JSON.stringify(destination)}, "group": ${JSON.stringify(d.group)}, "count": ${d.count}, "events": [${events}]}`;
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Collapses whitespace and truncates: one line for a subject. */
function oneLine(text: string, max: number): string {
  return truncate(text.replace(/\s+/g, ' ').trim(), max);
}

// ---- Slack ----

/** Slack's limits, kept well inside. */
const MAX_TEXT = 39_000; // chat.postMessage truncates past 40,000 characters
const MAX_SECTION_TEXT = 3_000;
const MAX_FIELD_TEXT = 2_000;

export const TEST_PREFIX = ':test_tube: *Test message from b3os-router*';

/**
 * The event's link, when it is https on a host the rules allow (server.link_hosts), safe to put
 * inside Slack's `<url|label>`; null if none. The event's sender chooses the link, and the message
 * labels it "Open in B3OS": a link anywhere else would be a phishing link with our label on it.
 */
function eventLink(raw: string | null, hosts: readonly string[]): string | null {
  if (raw === null) return null;
  try {
    const u = new URL(raw);
    if (u.protocol !== 'https:' || u.username || u.password) return null;
    if (!hosts.some((h) => wildcard(h)(u.hostname))) return null;
    const href = u.href.replace(/\|/g, '%7C');
    return href.length <= MAX_SECTION_TEXT - 50 ? href : null;
  } catch {
    return null;
  }
}

/** The rendered message as text, and a simple block layout built from the event's details. */
function slackPayload(m: Message, dest: SlackDestination): SlackPayload {
  const { input } = m;
  const e = (s: string) => escapeText(s, 'slack');
  let main = m.text('slack');
  if (main.trim() === '') main = e(input.type ?? 'B3OS event');
  if (m.test) main = `${TEST_PREFIX}\n${main}`;
  const text = truncate(main, MAX_TEXT);
  const blocks: SlackBlock[] = [{ type: 'section', text: { type: 'mrkdwn', text: truncate(main, MAX_SECTION_TEXT) } }];

  const d = describe(input.event, input.fields, input.type);
  const fields: TextObject[] = [];
  const field = (label: string, value: string | null): void => {
    if (value === null) return;
    fields.push({ type: 'mrkdwn', text: truncate(`*${label}*\n${e(value)}`, MAX_FIELD_TEXT) });
  };
  field('Workflow', workflowLabel(d.workflowName, d.workflowId));
  field('Run', d.runId);
  field('Status', d.type);
  // A digest carries many events: one event's fields and link would mislead.
  if (fields.length > 0 && !m.digest) blocks.push({ type: 'section', fields });

  const link = m.digest ? null : eventLink(d.url, dest.linkHosts ?? DEFAULT_LINK_HOSTS);
  if (link !== null) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `:link: <${link}|Open in B3OS>` } });

  const footer = m.test ? 'b3os-router · test message' : `b3os-router · rule ${e(input.ruleName)}`;
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: truncate(footer, MAX_FIELD_TEXT) }] });
  return { kind: 'slack', channel: dest.webhookUrl ? null : dest.channel, text, blocks };
}

// ---- Email ----

export const TEST_SUBJECT_PREFIX = '[TEST b3os-router] ';

/** `B3OS <type>: <workflow>`, the subject when the destination has none (or it fails to render). */
export function defaultSubject(event: EventObject, type: string | null, fields: EventFields): string {
  const d = describe(event, fields, type);
  const workflow = d.workflowName ?? d.workflowId;
  return oneLine(workflow ? `B3OS ${type ?? 'event'}: ${workflow}` : `B3OS ${type ?? 'event'}`, 200);
}

function emailPayload(m: Message, dest: EmailDestination): EmailPayload {
  const { input } = m;
  const digest = m.digest;
  const fallback = () => (digest ? digestSubject(digest, input.ruleName) : defaultSubject(input.event, input.type, input.fields));
  // A subject is one line: a template value with a newline must not fold into a header.
  let subject = oneLine(m.render(dest.subject, 'none', fallback), 900) || fallback();
  if (m.test) subject = `${TEST_SUBJECT_PREFIX}${subject}`;
  const plain = m.text('none');
  const text = m.test ? `This is a test message from b3os-router.\n\n${plain}\n` : `${plain}\n`;
  const esc = (s: string) => escapeText(s, 'html');
  const body = m.text('html').replace(/\r?\n/g, '<br>\n');
  const note = m.test ? '<p><em>This is a test message from b3os-router.</em></p>\n' : '';
  const html =
    '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n' +
    `<title>${esc(subject)}</title>\n</head>\n<body>\n${note}<p>${body}</p>\n` +
    `<p style="color:#888;font-size:small">Sent by b3os-router, rule ${esc(input.ruleName)}.</p>\n</body>\n</html>\n`;
  return {
    kind: 'email',
    from: dest.from,
    to: dest.to,
    cc: dest.cc,
    subject,
    text,
    html,
    headers: { 'X-B3OS-Router-Delivery': input.deliveryId, 'X-B3OS-Router-Rule': input.ruleName },
  };
}

// ---- Webhook ----

export const USER_AGENT = 'b3os-router';
export const DELIVERY_HEADER = 'x-b3os-router-delivery';
export const ATTEMPT_HEADER = 'x-b3os-router-attempt';
export const TEST_HEADER = 'x-b3os-router-test';

/**
 * The contract's default body: `{"rule": ..., "destination": ..., "event": <the original event>}`,
 * spliced from the raw text so the event reaches the receiver byte for byte as B3OS sent it.
 */
export function defaultWebhookBody(rule: string, destination: string, rawEvent: string, event: unknown): string {
  const raw = rawEvent.trim() === '' ? JSON.stringify(event) : rawEvent;
  return `{"rule": ${JSON.stringify(rule)}, "destination": ${JSON.stringify(destination)}, "event": ${raw}}`;
}

/**
 * The outbound signature headers of a webhook request: an HMAC of the body made exactly like the
 * inbound one (ingest/signature.ts), so receivers can reuse their verification code. The one place
 * outbound signatures are computed.
 */
export function webhookSignature(dest: WebhookDestination, deliveryId: string, body: string | Buffer, now: number): Record<string, string> {
  if (!dest.secret) return {};
  return signatureHeaders(dest.signing ?? DEFAULT_WEBHOOK_SIGNING, dest.secret, deliveryId, now / 1000, body);
}

function webhookPayload(m: Message, dest: WebhookDestination): WebhookPayload {
  const { input } = m;
  const digest = m.digest;
  const body = m.render(dest.body, 'json', () =>
    digest ? digestWebhookBody(input.ruleName, dest.name, digest) : defaultWebhookBody(input.ruleName, dest.name, input.raw, input.event),
  );
  // Every header of the request (names lower-case); the fixed ones cannot be overridden by config.
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': USER_AGENT };
  for (const [k, v] of Object.entries(dest.headers)) headers[k.toLowerCase()] = v;
  headers['idempotency-key'] = input.deliveryId;
  headers[DELIVERY_HEADER] = input.deliveryId;
  headers[ATTEMPT_HEADER] = String(input.attempt);
  if (m.test) headers[TEST_HEADER] = '1';
  Object.assign(headers, webhookSignature(dest, input.deliveryId, body, input.now));
  return { kind: 'webhook', method: (dest.method || 'POST').toUpperCase(), url: dest.url, headers, body };
}
