// The console's one door to what the operating commands compute: explain, test's dry run,
// check, diff, retry and silence add / list / expire. Pages call only these, so that when the
// event path is refactored (route and compose in one place) re-pointing the console is this file
// alone.
import { dirname, join } from 'node:path';
import { loadRulesText } from '../config/load.js';
import type { EventObject, Problem, RouterConfig } from '../config/types.js';
import { loadDigest } from '../dispatch/digest.js';
import { eventType } from '../event/accessors.js';
import { diffRules, type DiffReport } from '../ops/diff.js';
import { dryRun, renderFor, type TestDelivery, type TestReport } from '../delivery/dry-run.js';
import { explainEvent, type ExplainReport } from '../ops/explain.js';
import { receivedTypes, unseenTypeWarnings } from '../ops/received-types.js';
import { retryDead, type RetryResult } from '../ops/retry.js';
import { NOISE_DEFAULTS } from '../config/defaults.js';
import { checkSilence, describeSilence, silenceOfReason, type SilenceRequest } from '../silence/model.js';
import type { Store, StoredDelivery, StoredSilence, TypeCount } from '../store/store.js';

export type { DiffReport, ExplainReport, RetryResult, TestDelivery, TestReport };

export function explain(store: Store, config: RouterConfig, idOrKey: string): Promise<ExplainReport | null> {
  return explainEvent(store, config, idOrKey);
}

/** What `test` shows for this event against these rules. */
export function tryEvent(config: RouterConfig, event: EventObject, raw: string, label: string, now = Date.now()): TestReport {
  return dryRun(config, event, raw, label, now);
}

/**
 * The text a stored delivery sends, rendered now by the channel code from the rules in force (a
 * digest with the events it carries); null when its rule or destination is no longer in the file.
 */
export async function sentText(store: Store, config: RouterConfig, d: StoredDelivery, event: EventObject, raw: string, now = Date.now()): Promise<TestDelivery | null> {
  const rule = config.rules.find((r) => r.name === d.rule);
  const dest = config.destinations.get(d.destination);
  if (!rule || !dest) return null;
  const digest = await loadDigest(store, d, config.server.fields);
  const { rendered, notes } = renderFor(config, rule, d.rule, dest, event, raw, eventType(event, config.server.fields), now, digest);
  return { rule: d.rule, destination: d.destination, type: dest.type, privileged: d.privileged, allowed: d.status !== 'blocked', reason: d.reason ?? '', rendered, notes };
}

export interface CheckResult {
  config: RouterConfig | null;
  problems: Problem[];
}

/**
 * `check` on pasted text, as if it were a file next to the rules in force (example event files
 * are read from that folder only, never from anywhere else on the server).
 */
export function checkText(current: RouterConfig, text: string): CheckResult {
  const folder = dirname(current.file);
  const { config, problems } = loadRulesText(text, join(folder, 'pasted-rules.yaml'), process.env, { eventFileRoot: folder });
  return { config, problems };
}

export async function diffAgainst(store: Store, current: RouterConfig, next: RouterConfig, last: number): Promise<DiffReport> {
  return diffRules(current, next, await store.recentEvents(last));
}

export function retry(store: Store, rules: () => RouterConfig, dead: StoredDelivery): Promise<RetryResult> {
  return retryDead(store, rules, [dead]);
}

/** The types received in the last day with counts, and a sentence per enabled rule whose types
 * none of them had (issue 16: "my rule never fires" answered on the overview). */
export async function recentTypes(store: Store, config: RouterConfig, now = Date.now()): Promise<{ types: TypeCount[]; unseen: string[] }> {
  const types = await receivedTypes(store, now);
  return { types, unseen: unseenTypeWarnings(config, types, '1d').map((p) => p.message) };
}

// ---- Silences (contract §9): the same checks and sentences as `silence add`, `list` and `expire`.

export type { SilenceRequest, StoredSilence };

/** The active silences (with `all`, ended ones too), newest first. */
export function silences(store: Store, all: boolean, now = Date.now()): Promise<StoredSilence[]> {
  return store.listSilences({ now, all, limit: NOISE_DEFAULTS.silenceList });
}

/** `silence add`: refused with the sentence the command prints, or stored. */
export async function addSilence(store: Store, config: RouterConfig, req: SilenceRequest, now = Date.now()): Promise<{ ok: true; silence: StoredSilence } | { ok: false; message: string }> {
  const checked = checkSilence(req, config, now);
  if (!checked.ok) return checked;
  return { ok: true, silence: await store.addSilence(checked.silence) };
}

/** `silence expire ID`: null when there is no such silence; `ended: false` when it had ended already. */
export function expireSilence(store: Store, id: string, now = Date.now()): Promise<{ silence: StoredSilence; ended: boolean } | null> {
  return store.expireSilence(id, now);
}

export { describeSilence, silenceOfReason };
