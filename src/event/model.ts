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

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'dead' | 'blocked';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'failed', 'dead', 'blocked'];

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
  status: 'pending' | 'blocked';
  /** What the store records: policy's reason when blocked; null when it will be sent. */
  reason: string | null;
}

/** A planned delivery as routing decided it: with policy's word, allowed or not (`test` shows it). */
export interface RoutedDelivery extends PlannedDelivery {
  /** Policy's sentence either way ("not privileged", "allowed by the grant at line 42", ...). */
  policyReason: string;
  /** The grant that allowed it, or the first that named the pair but refused; null: none. */
  grantLine: number | null;
}
