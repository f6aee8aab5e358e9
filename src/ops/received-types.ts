// The event types actually received lately, and the rules whose types are not among them: the
// answer to "my rule never fires" is often a name the deployment does not send (run.succeeded
// where it sends run.completed) or a type B3OS was never subscribed to.
import { LineCounter, parseDocument } from 'yaml';
import { otherSpelling, typePattern } from '../config/b3os-types.js';
import { RECENT_TYPES_WINDOW_MS } from '../config/defaults.js';
import { shownPath } from '../config/load.js';
import { Problems, yamlLocator } from '../config/problems.js';
import type { Problem, RouterConfig } from '../config/types.js';
import type { Store, TypeCount } from '../store/store.js';

/** Types received in the last `windowMs` (default a day) with counts, most frequent first. */
export function receivedTypes(store: Store, now = Date.now(), windowMs: number = RECENT_TYPES_WINDOW_MS): Promise<TypeCount[]> {
  return store.typeCounts(now - windowMs);
}

/**
 * A warning at each type of an enabled rule that no event received in the window had. A pair of
 * spellings in one list (execution.failed, node.failed) is satisfied by either: a deployment sends
 * one of them.
 */
export function unseenTypeWarnings(config: RouterConfig, counts: readonly TypeCount[], window: string): Problem[] {
  const received = counts.map((c) => c.type).filter((t): t is string => t !== null);
  const seen = (pattern: string) => received.some(typePattern(pattern));
  // The config keeps the text it came from; parse it again only for positions.
  const lines = new LineCounter();
  const doc = parseDocument(config.source, { lineCounter: lines, merge: true });
  const problems = new Problems(shownPath(config.file), yamlLocator(doc, lines));
  const total = counts.reduce((n, c) => n + c.count, 0);
  const tail =
    total === 0
      ? `no events at all were stored in that time; is B3OS sending to this router?`
      : `see what was received with: b3os-router events --types --since ${window}; if the name differs, B3OS may spell it the other way, and \`b3os-router subscription\` shows what to subscribe to`;
  for (const rule of config.rules) {
    if (!rule.enabled || !rule.typePatterns) continue;
    const patterns = rule.typePatterns;
    patterns.forEach((pattern, j) => {
      if (seen(pattern)) return;
      const partner = otherSpelling(pattern);
      const k = partner === null ? -1 : patterns.indexOf(partner);
      if (k >= 0 && (seen(partner!) || k < j)) return;
      const [takes, none] =
        k >= 0
          ? [`"${pattern}" and "${partner}"`, 'no event of either type']
          : [`"${pattern}"`, pattern.includes('*') ? 'no event of a matching type' : 'no event of that type'];
      const all = `${total} event${total === 1 ? '' : 's'} in all`;
      const other = k < 0 && partner !== null ? counts.find((c) => c.type === partner) : undefined;
      const why = other
        ? `but "${partner}", the other name B3OS deployments use for the same event, was received ${other.count} time${other.count === 1 ? '' : 's'}; add it to the type list`
        : tail;
      problems.warn(
        ['rules', rule.index, 'match', 'type', j],
        `rule "${rule.name}" takes ${takes}, and ${none} was received in the last ${window} (${all}); ${why}`,
      );
    });
  }
  return problems.list;
}
