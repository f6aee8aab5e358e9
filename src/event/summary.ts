// The readable default summary of an event: what a rule with no `message` sends (and what is sent
// when a `message` fails to render), in Slack, email and webhooks alike. Its fields are read with
// the rules file's `server.fields` (event/accessors.ts describe).
import { describe } from './accessors.js';
import { escapeText } from './escape.js';
import type { EventFields, EventObject, TemplateEscape } from './model.js';

/** A workflow as people read it: `Payroll (wf_payroll)`, or whichever of the two it has. */
export function workflowLabel(name: string | null, id: string | null): string | null {
  return name && id && name !== id ? `${name} (${id})` : (name ?? id);
}

/**
 * `B3OS run.failed: workflow Payroll (wf_payroll), run run_42, status failed, error: card declined (rule payroll-failed)`.
 */
export function defaultSummary(event: EventObject, type: string | null, rule: string, escape: TemplateEscape, fields: EventFields): string {
  const e = (s: string): string => escapeText(s.replace(/\s+/g, ' ').trim(), escape);
  const d = describe(event, fields, type);
  const parts: string[] = [];
  const workflow = workflowLabel(d.workflowName, d.workflowId);
  if (workflow) parts.push(`workflow ${e(workflow)}`);
  if (d.node) parts.push(`node ${e(d.node)}`);
  if (d.runId) parts.push(`run ${e(d.runId)}`);
  if (d.status) parts.push(`status ${e(d.status)}`);
  if (d.error) parts.push(`error: ${e(d.error.length > 300 ? `${d.error.slice(0, 297)}...` : d.error)}`);
  const head = `B3OS ${e(type ?? 'event')}`;
  return `${parts.length > 0 ? `${head}: ${parts.join(', ')}` : head} (rule ${e(rule)})`;
}
