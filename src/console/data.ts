// The console's one door to what the operating commands compute: explain, test's dry run,
// check, diff, retry and silence add / list / expire. Pages call only these, so that when the
// event path is refactored (route and compose in one place) re-pointing the console is this file
// alone.
import { dirname, join, resolve } from 'node:path';
import { loadRulesText } from '../config/load.js';
import type { Env } from '../config/interpolate.js';
import type { EventObject, Problem, RouterConfig } from '../config/types.js';
import { loadDigest } from '../dispatch/digest.js';
import { eventType } from '../event/accessors.js';
import { diffRules, type DiffReport } from '../ops/diff.js';
import { dryRun, renderFor, type TestDelivery, type TestReport } from '../delivery/dry-run.js';
import { explainEvent, type ExplainReport } from '../ops/explain.js';
import { receivedTypes, unseenTypeWarnings } from '../ops/received-types.js';
import { retryDead, type RetryResult } from '../ops/retry.js';
import { NOISE_DEFAULTS } from '../config/defaults.js';
import { isLive } from '../ops/replicas.js';
import { addSilence, describeSilence, silenceOfReason, type SilenceRequest } from '../silence/model.js';
import type { Store, StoredDelivery, StoredEvent, StoredSilence, TypeCount } from '../store/store.js';

type RuleMatchCounts = Awaited<ReturnType<Store['ruleMatches']>>;

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
export async function sentText(
  store: Store,
  config: RouterConfig,
  d: StoredDelivery,
  event: EventObject,
  raw: string,
  now = Date.now(),
): Promise<TestDelivery | null> {
  const rule = config.rules.find((r) => r.name === d.rule);
  const dest = config.destinations.get(d.destination);
  if (!rule || !dest) return null;
  const digest = await loadDigest(store, d, config.server.fields);
  const { rendered, notes } = renderFor(config, rule, d.rule, dest, event, raw, eventType(event, config.server.fields), now, digest);
  return {
    rule: d.rule,
    destination: d.destination,
    type: dest.type,
    privileged: d.privileged,
    allowed: d.status !== 'blocked',
    reason: d.reason ?? '',
    rendered,
    notes,
  };
}

/** A rules file in force, as the evaluation thread gets it: its text, recompiled there. */
export interface RulesText {
  source: string;
  file: string;
  hash: string;
}

export const rulesText = (c: RouterConfig): RulesText => ({ source: c.source, file: c.file, hash: c.hash });

/**
 * The environment as the console shows it: every variable that is set (and not empty) stands in
 * as the text `${NAME}`, so no value can reach a page; a variable that is not set is still
 * reported as missing. With `standIns`, check does not validate what came from them.
 */
export function standInEnv(env: Env = process.env): Env {
  const out: Env = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value === '' ? '' : `\${${name}}`;
  return out;
}

/** The example event files the rules in force use, by absolute path (already read at load). */
export function eventFilesOf(c: RouterConfig): [string, EventObject][] {
  const folder = dirname(c.file);
  return c.rules.flatMap((r) => r.examples.filter((x) => x.source !== 'inline').map((x): [string, EventObject] => [resolve(folder, x.source), x.event]));
}

/** The variables (set ones) that the text uses: their values are not shown, nor checked. */
export function withheldNames(text: string, env: Env): string[] {
  const names = [...text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
  return [...new Set(names)].filter((n) => env[n] !== undefined && env[n] !== '').sort();
}

export interface CheckResult {
  problems: Problem[];
  /** Set when the file is valid. */
  counts: { rules: number; destinations: number } | null;
  diff: DiffReport | null;
  withheld: string[];
}

/**
 * `check` on pasted text, as if it were a file next to the rules in force, and `diff` against
 * them over `events`. Both files are read with the same stand-in environment, so the diff
 * compares like with like. Runs in the evaluation thread (evaluate.ts): it may take long.
 */
export function checkText(
  current: RulesText,
  text: string,
  env: Env,
  eventFiles: ReadonlyMap<string, EventObject>,
  events: StoredEvent[],
  now: number,
): CheckResult {
  const file = join(dirname(current.file), 'pasted-rules.yaml');
  const { config, problems } = loadRulesText(text, file, env, { eventFiles, standIns: true });
  const withheld = withheldNames(text, env);
  if (!config) return { problems, counts: null, diff: null, withheld };
  const counts = { rules: config.rules.length, destinations: config.destinations.size };
  const before = loadRulesText(current.source, current.file, env, { examples: false, standIns: true }).config;
  return { problems, counts, diff: before ? diffRules(before, config, events, now) : null, withheld };
}

/** The rules in force compiled from their text (the evaluation thread has no RouterConfig). */
export function compileRules(current: RulesText, env: Env): RouterConfig | null {
  return loadRulesText(current.source, current.file, env, { examples: false }).config;
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

/**
 * The rules page's match counts, kept for a while per rules version: counting scans up to
 * matchScanLimit stored events in one synchronous query, which must not run on every page view.
 * Concurrent views share one count. The store's ruleMatches stays the one way to count.
 */
export class MatchCounts {
  private kept: { hash: string; at: number; counts: Promise<RuleMatchCounts> } | null = null;

  constructor(private readonly ttlMs: number) {}

  get(store: Store, hash: string, window: number, limit: number, now = Date.now()): Promise<RuleMatchCounts & { countedAt: number }> {
    const k = this.kept;
    if (k === null || k.hash !== hash || now - k.at >= this.ttlMs) {
      const counts = store.ruleMatches(now - window, limit);
      this.kept = { hash, at: now, counts };
      // A failed count is not kept: the next view tries again.
      counts.catch(() => {
        if (this.kept?.counts === counts) this.kept = null;
      });
    }
    const kept = this.kept!;
    return kept.counts.then((c) => ({ ...c, countedAt: kept.at }));
  }
}

// ---- Silences (contract §9): the same checks and sentences as `silence add`, `list` and `expire`.

export type { SilenceRequest, StoredSilence };

/** The active silences (with `all`, ended ones too), newest first. */
export function silences(store: Store, all: boolean, now = Date.now()): Promise<StoredSilence[]> {
  return store.listSilences({ now, all, limit: NOISE_DEFAULTS.silenceList });
}

/** `silence add`: refused with the sentence the command prints, or stored. */
export { addSilence };

/** `silence expire ID`: null when there is no such silence; `ended: false` when it had ended already. */
export function expireSilence(store: Store, id: string, now = Date.now()): Promise<{ silence: StoredSilence; ended: boolean } | null> {
  return store.expireSilence(id, now);
}

export { describeSilence, silenceOfReason };

/** The servers on this database whose heartbeat is live (contract §8: under 30 s old): one on
 * SQLite, the replicas on PostgreSQL, each with its rules version (a differing one is marked). */
export async function liveServers(store: Store, hash: string, now = Date.now()) {
  const live = (await store.replicas()).filter((r) => isLive(r, now));
  const replicas = live.map((r) => ({
    host: r.host,
    pid: r.pid,
    version: r.version,
    rulesHash: r.rulesHash,
    shortHash: r.rulesHash.slice(0, 12),
    differs: r.rulesHash !== '' && r.rulesHash !== hash,
    lastSeen: `${Math.max(0, Math.round((now - r.lastSeenAt) / 1000))} s ago`,
  }));
  const engine = store.engine === 'postgres' ? 'PostgreSQL' : 'SQLite';
  const sentence =
    store.engine === 'postgres' ? `${live.length} live ${live.length === 1 ? 'replica' : 'replicas'} on one ${engine} database.` : `One server (${engine}).`;
  return { sentence, replicas };
}
