// `check` for noise control (contract §9): a rule's `group` and `digest_message`. The schema has
// vouched for the shape (group is a map that has `interval`); this checks what it cannot: the
// durations, that each `by` entry is a field path, the template, and that no grouped rule sends to
// a privileged destination.
import type { GroupSettings, Template } from './types.js';
import type { Path, PathSeg, Problems } from './problems.js';
import { compilePath, isDottedPath } from '../event/path.js';

export interface RawGroup {
  by?: string[];
  wait?: string;
  interval?: string;
}

export interface GroupCompiler {
  problems: Problems;
  duration(text: string, path: Path): number | null;
  template(source: string, path: Path): Template | null;
}

/** "0s", "0ms", "0": no wait (the default). The duration reader refuses zero, rightly elsewhere. */
const ZERO = /^\s*0+(\.0+)?\s*(ms|s|m|h|d)?\s*$/;

export function compileGrouping(
  c: GroupCompiler,
  raw: { group?: RawGroup; digest_message?: string },
  path: PathSeg[],
  label: string,
  sendTo: readonly string[],
  privileged: ReadonlySet<string>,
): { group: GroupSettings | null; digestMessage: Template | null } {
  const digestMessage = raw.digest_message === undefined ? null : c.template(raw.digest_message, [...path, 'digest_message']);
  const g = raw.group;
  if (g === undefined || g === null || typeof g !== 'object') {
    if (raw.digest_message !== undefined) {
      c.problems.warn(
        [...path, 'digest_message'],
        `${label} has a digest_message but no group:, so it never sends a digest; add group: {interval: 10m} or remove digest_message`,
        'key',
      );
    }
    return { group: null, digestMessage };
  }
  const at = [...path, 'group'];
  let ok = true;
  const by: string[] = [];
  (Array.isArray(g.by) ? g.by : []).forEach((p, j) => {
    if (typeof p !== 'string') return; // the schema said so
    if (!isDottedPath(p) || compilePath(p) === null || /\s/.test(p)) {
      c.problems.error(
        [...at, 'by', j],
        `item ${j + 1} of the group.by of ${label} is "${p}", which is not a field path; write names joined by dots, e.g. data.workflowId`,
      );
      ok = false;
      return;
    }
    if (!by.includes(p)) by.push(p);
  });
  let waitMs: number | null = 0;
  if (g.wait !== undefined) waitMs = ZERO.test(g.wait) ? 0 : c.duration(g.wait, [...at, 'wait']);
  const intervalMs = g.interval === undefined ? null : c.duration(g.interval, [...at, 'interval']);
  for (const dest of sendTo) {
    if (!privileged.has(dest)) continue;
    c.problems.error(
      at,
      `${label} groups its events (group:) and sends to "${dest}", which is privileged: actions that move money are never batched, each one is decided and sent alone; remove group: from this rule, or send to "${dest}" from a rule of its own`,
      'key',
    );
    ok = false;
  }
  if (!ok || waitMs === null || intervalMs === null) return { group: null, digestMessage };
  // The paths compiled once here: placement() reads them for every grouped event at ingest.
  return { group: { by, parts: by.map((p) => compilePath(p)!), waitMs, intervalMs }, digestMessage };
}
