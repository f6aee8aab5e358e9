// What a digest says (contract §9): a notification that carries several events of one group.
// `digest_message` renders it with {{count}}, {{group.<field>}} and {{#events}}…{{/events}} (the
// first NOISE_DEFAULTS.digestEvents events); without it, a readable default names the count, the
// rule, the group and one line per event (the first NOISE_DEFAULTS.digestLines, then "and N more").
// A webhook's default digest body is {"rule", "destination", "group", "count", "events"}, the events
// spliced byte for byte as B3OS sent them. Escaping is the single notification's (rules/template.ts).
import { NOISE_DEFAULTS } from '../config/defaults.js';
import type { CompiledRule, EventObject, Json, Template, TemplateEscape } from '../config/types.js';
import type { Notification } from '../delivery/channels/channel.js';
import { defaultSummary, escapeText } from '../rules/template.js';
import { describeGroup } from './group.js';

export interface DigestEvent {
  event: EventObject;
  /** The event exactly as B3OS sent it. */
  raw: string;
  type: string | null;
}

export interface Digest {
  /** Every event the notification carries (exact, even past the ones listed). */
  count: number;
  /** The values of `by`, by path as written. */
  group: Record<string, unknown>;
  /** The first events, oldest first. */
  events: DigestEvent[];
}

/** `{"data.workflowId": "wf_x"}` → `{data: {workflowId: "wf_x"}}`, for {{group.data.workflowId}}. */
function nested(flat: Record<string, unknown>): EventObject {
  const out: EventObject = {};
  for (const [path, value] of Object.entries(flat)) {
    const parts = path.split('.');
    let cur: EventObject = out;
    for (const p of parts.slice(0, -1)) {
      const next = cur[p];
      cur = (cur[p] = next !== null && typeof next === 'object' && !Array.isArray(next) ? next : {}) as EventObject;
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

/** The default digest text, escaped for `escape`. */
export function defaultDigestText(d: Digest, rule: string, escape: TemplateEscape): string {
  const e = (s: string) => escapeText(s, escape);
  const lines = [`B3OS digest: ${d.count} events for rule ${e(rule)} (${e(describeGroup(d.group))})`];
  const suffix = ` (rule ${e(rule)})`;
  for (const ev of d.events.slice(0, NOISE_DEFAULTS.digestLines)) {
    const summary = defaultSummary(ev.event, ev.type, rule, escape);
    const id = typeof ev.event.id === 'string' || typeof ev.event.id === 'number' ? `${e(String(ev.event.id))}: ` : '';
    lines.push(`• ${id}${summary.endsWith(suffix) ? summary.slice(0, -suffix.length) : summary}`);
  }
  const more = d.count - Math.min(d.events.length, NOISE_DEFAULTS.digestLines);
  if (more > 0) lines.push(`and ${more} more`);
  return lines.join('\n');
}

export function digestMessage(rule: CompiledRule | null, d: Digest, destination: string, escape: TemplateEscape, onError: (err: Error) => void): string {
  const name = rule?.name ?? 'none';
  if (rule?.digestMessage) {
    try {
      return rule.digestMessage.render(digestView(d, name, destination), escape);
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  }
  return defaultDigestText(d, name, escape);
}

/** The webhook's default digest body (contract §9). */
export function digestWebhookBody(rule: string, destination: string, d: Digest): string {
  const events = d.events.map((e) => (e.raw.trim() === '' ? JSON.stringify(e.event) : e.raw)).join(', ');
  return `{"rule": ${JSON.stringify(rule)}, "destination": ${JSON.stringify(destination)}, "group": ${JSON.stringify(d.group)}, "count": ${d.count}, "events": [${events}]}`;
}

/** The default email subject of a digest. */
export function digestSubject(d: Digest, rule: string): string {
  const types = [...new Set(d.events.map((e) => e.type ?? 'event'))];
  return `B3OS digest: ${d.count} × ${types.length === 1 ? types[0] : 'events'} (rule ${rule})`.replace(/[\r\n]+/g, ' ');
}

/** The notification the channels send for a digest: the same one, with its text and templates
 * rendered over the digest, and `digest` set so channels pick their digest defaults. */
export function digestNotification(n: Notification, d: Digest, rule: CompiledRule | null, onError: (what: string) => (err: Error) => void): Notification {
  const view = digestView(d, n.rule, n.destination.name);
  return {
    ...n,
    digest: d,
    message: (escape) => digestMessage(rule, d, n.destination.name, escape, onError('digest_message')),
    render: (template: Template | null, escape: TemplateEscape, fallback: () => string) => {
      if (template === null) return fallback();
      try {
        return template.render(view, escape);
      } catch (err) {
        onError('template')(err as Error);
        return fallback();
      }
    },
  };
}
