// The domain's shared types: what an event is, how it is routed, what a delivery becomes. Every
// stage imports these; this folder (the kernel) imports nothing of ours, so no stage has to reach
// into another stage's folder for a type.

/** A JSON value as the event carries it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type EventObject = { [key: string]: Json };

/**
 * Field names read from an event, each a list tried in order (top level, then under `data`, see
 * event/accessors.ts). The contract's defaults are config/defaults.ts DEFAULT_EVENT_FIELDS; every
 * list can be replaced under `server.fields`, and every reader (ingest, policy, the summaries that
 * Slack, email and the default message show) takes them from there.
 */
export interface EventFields {
  id: string[];
  type: string[];
  runId: string[];
  executionId: string[];
  time: string[];
  workflowId: string[];
  workflowName: string[];
  /** A step (node) of a workflow: its name, else its id. */
  node: string[];
  status: string[];
  /** Dotted paths are allowed (`error.message`): the first that holds text wins. */
  error: string[];
  /** A link to the run in B3OS (shown only on hosts server.link_hosts allows). */
  url: string[];
}

export type TemplateEscape = 'slack' | 'html' | 'json' | 'none';

/** A compiled `{{path}}` template. `render` throws only on a programming error of the template. */
export interface Template {
  source: string;
  render(event: EventObject, escape: TemplateEscape): string;
}

/** Why a rule did or did not match. `reason` is a plain sentence. */
export interface MatchResult {
  matched: boolean;
  reason: string;
}

/** Which idempotency key an event got (contract §2, first that exists). */
export type KeyKind = 'event_id' | 'run_type' | 'execution_type' | 'body_hash';

/** `silenced`: held back by a silence (contract §9), never sent unless `retry` sends it. */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'dead' | 'blocked' | 'silenced';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'failed', 'dead', 'blocked', 'silenced'];

export interface RuleOutcome {
  rule: string;
  matched: boolean;
  reason: string;
}

/** Stored with the event so `explain` can say later why it was routed as it was. */
export interface RoutingDecision {
  /** Hash of the rules file that decided (its text is kept by version: Store.rulesVersion). */
  rules: string;
  /**
   * Every rule evaluated, in file order (rules skipped by the type index are not listed); with
   * `matchedOnly`, only the rules that matched.
   */
  outcomes: RuleOutcome[];
  /**
   * Ingest's form: the stored decision does not grow with the rules that did not match. `explain`
   * re-evaluates the others, against this event, with the rules version `rules`.
   */
  matchedOnly?: true;
  /** How many rules the type index skipped ("type does not match"). */
  skipped: number;
  /** The rule whose `stop: true` ended evaluation, if any. */
  stoppedBy: string | null;
}

/** Matching rule → destinations that are enabled and exist, before policy. */
export interface RoutePair {
  rule: string;
  destination: string;
}

export interface PlannedDelivery {
  rule: string;
  destination: string;
  privileged: boolean;
  /** `silenced`: a silence held it back at ingest (contract §9); policy was not asked. */
  status: 'pending' | 'blocked' | 'silenced';
  /** What the store records: policy's reason when blocked, the silence's when silenced; null when it will be sent. */
  reason: string | null;
  /** Set on a pending delivery of a grouped rule (contract §9): it joins this group instead of
   * being sent alone; the store gathers it in the ingest transaction (Store.ingest). */
  group?: GroupPlacement | null;
}

/** Which group a delivery joins (contract §9), and the rule's timing as of this event. */
export interface GroupPlacement {
  /** The values of `by`, canonical JSON of the list: with (rule, destination), the group. */
  key: string;
  /** The values of `by`, by path as written; an absent field is null. */
  values: Record<string, Json>;
  waitMs: number;
  intervalMs: number;
}

/** One event a digest carries. */
export interface DigestEvent {
  /** Its place in the store (the order events arrived): where the next page of a digest starts. */
  seq: number;
  event: EventObject;
  /** The event exactly as B3OS sent it. */
  raw: string;
  type: string | null;
}

/** A notification that carries several events of one group (contract §9). */
export interface Digest {
  /** Every event the notification carries (exact, even past the ones listed). */
  count: number;
  /** The values of `by`, by path as written. */
  group: Record<string, unknown>;
  /** The first events (at most NOISE_DEFAULTS.digestEvents), oldest first. */
  events: DigestEvent[];
}

/** A planned delivery as routing decided it: with policy's word, allowed or not (`test` shows it). */
export interface RoutedDelivery extends PlannedDelivery {
  /** Policy's sentence either way ("not privileged", "allowed by the grant at line 42", ...). */
  policyReason: string;
  /** The grant that allowed it, or the first that named the pair but refused; null: none. */
  grantLine: number | null;
}
