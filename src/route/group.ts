// Grouping (contract §9): which group an event joins. A group is (rule, destination, the values of
// `by`); the store keeps its state (Store.ingest gathers, Store.flushGroups sends). Also how a
// group and a duration are shown back to people (`test`, `explain`, the default digest text).
import type { GroupSettings } from '../event/config.js';
import type { EventObject, GroupPlacement, Json } from '../event/model.js';
import { readPath } from '../event/path.js';

export function placement(group: GroupSettings, event: EventObject): GroupPlacement {
  const values: Record<string, Json> = {};
  const key: Json[] = [];
  group.by.forEach((path, i) => {
    const v = readPath(event, group.parts[i]!) ?? null;
    values[path] = v;
    key.push(v);
  });
  return { key: JSON.stringify(key), values, waitMs: group.waitMs, intervalMs: group.intervalMs };
}

/** `data.workflowId=wf_payroll, data.error.code=E42`, or `one group for the rule and destination` without `by`. */
export function describeGroup(values: Record<string, unknown>): string {
  const entries = Object.entries(values);
  if (entries.length === 0) return 'one group for the rule and destination';
  return entries.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');
}
