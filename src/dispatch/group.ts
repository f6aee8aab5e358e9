// Grouping (contract §9): which group an event joins. A group is (rule, destination, the values of
// `by`); the store keeps its state (Store.ingest gathers, Store.flushGroups sends).
import type { CompiledRule, EventObject, GroupSettings, Json } from '../config/types.js';
import { getPath } from '../rules/path.js';
import type { GroupPlacement } from './types.js';

export function placement(group: GroupSettings, event: EventObject): GroupPlacement {
  const values: Record<string, Json> = {};
  for (const path of group.by) values[path] = getPath(event, path) ?? null;
  return { key: JSON.stringify(group.by.map((p) => values[p])), values, waitMs: group.waitMs, intervalMs: group.intervalMs };
}

/** `data.workflowId=wf_payroll, data.error.code=E42`, or `one group for the rule` without `by`. */
export function describeGroup(values: Record<string, unknown>): string {
  const entries = Object.entries(values);
  if (entries.length === 0) return 'one group for the rule and destination';
  return entries.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');
}

/** 600000 → "10m": how durations are shown back to people. */
export function showDuration(ms: number): string {
  const units: [number, string][] = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'm'], [1000, 's']];
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** What `test --event` says about a grouped delivery: its group, and when it would be sent. */
export interface GroupPreview {
  key: string;
  group: Record<string, unknown>;
  wait: string;
  interval: string;
  /** A sentence: when this event's notification would go. */
  sends: string;
}

export function previewGroup(rule: CompiledRule, privileged: boolean, event: EventObject): GroupPreview | null {
  if (!rule.group || privileged) return null;
  const p = placement(rule.group, event);
  const wait = showDuration(rule.group.waitMs);
  const interval = showDuration(rule.group.intervalMs);
  const first = rule.group.waitMs === 0 ? 'at once' : `after ${wait}, with every event of the group gathered by then`;
  return {
    key: p.key,
    group: p.values,
    wait: rule.group.waitMs === 0 ? '0s' : wait,
    interval,
    sends: `if it opens the group (no notification of the group in the last ${interval}): ${first}; otherwise it is gathered and sent in one digest at the end of the group's interval (${interval} after its last notification)`,
  };
}
