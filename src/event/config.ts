// The compiled, validated shape of a rules file. Every stage (ingest, routing, policy, store,
// delivery, operations) reads only these types; only `config/` knows about YAML and the schema.
// They live in the kernel because the stages below config (route, policy, store) read them too.
import type { EventFields, EventObject, Json, MatchResult, Template } from './model.js';

/** `b3os`: contract §2 (configurable header, encoding, prefix, timestamp). `standard-webhooks`: §11. */
export type SignatureScheme = 'b3os' | 'standard-webhooks';

export interface SignatureSettings {
  scheme: SignatureScheme;
  /** The settings below, but toleranceMs, apply to the `b3os` scheme only. */
  header: string; // lower-case header name
  encoding: 'hex' | 'base64';
  prefix: string; // accepted when present, e.g. "sha256="; '' for none
  timestampHeader: string | null; // lower-case header name
  toleranceMs: number;
}

export interface ServerSettings {
  path: string;
  maxBodyBytes: number;
  /** null: every type is accepted. */
  acceptTypes: string[] | null;
  signature: SignatureSettings;
  fields: EventFields;
}

export interface DeliverySettings {
  maxAttempts: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  timeoutMs: number;
  /** How many sends to this destination may be in flight at once. */
  concurrency: number;
}

interface DestinationBase {
  name: string;
  line: number;
  enabled: boolean;
  privileged: boolean;
  delivery: DeliverySettings;
}

export interface SlackDestination extends DestinationBase {
  type: 'slack';
  /** Web API mode: channel + token (token falls back to SLACK_BOT_TOKEN at send time). */
  channel: string | null;
  token: string | null;
  /** Incoming-webhook mode. */
  webhookUrl: string | null;
  /**
   * Hosts (lower case, `*` a wildcard) whose https links the default message may show, from
   * server.link_hosts; absent means DEFAULT_LINK_HOSTS.
   */
  linkHosts?: readonly string[];
}

export interface EmailDestination extends DestinationBase {
  type: 'email';
  to: string[];
  cc: string[];
  from: string;
  subject: Template | null;
  /** Overrides SMTP_URL for this destination. */
  smtpUrl: string | null;
}

export interface WebhookDestination extends DestinationBase {
  type: 'webhook';
  url: string;
  method: string;
  headers: Record<string, string>;
  secret: string | null;
  /** How `secret` signs the body: x-b3os-router-signature, or the Standard Webhooks headers.
   * compile always sets it; absent (a destination built by hand) means DEFAULT_WEBHOOK_SIGNING. */
  signing?: SignatureScheme;
  body: Template | null;
}

export type Destination = SlackDestination | EmailDestination | WebhookDestination;

export interface RuleExample {
  line: number;
  col: number;
  event: EventObject;
  /** Where the event came from: 'inline' or the resolved file path. */
  source: string;
  matches: boolean;
  destinations: string[] | null;
}

/**
 * An equality that must hold for a rule to match (`data.workflowId: [a, b]` in `match`, or
 * `{"==": [{"var": "x"}, "a"]}` inside a `when`'s top-level `and`): the rule index files the rule
 * under its values, so an event only tests the rules that can match it.
 */
export interface IndexKey {
  /** Keys with the same id read the same field the same way, and share one lookup. */
  id: string;
  /** The strings an event offers for this key; the rule can match only if one is in `values`. */
  lookup(event: EventObject): string[];
  values: string[];
  /** The values are prefixes (wildcards `wf_1*`): the rule can match only a text that starts with one. */
  prefix?: boolean;
}

export interface CompiledRule {
  name: string;
  description: string;
  /** Position in the file (0-based), the order rules fire in. */
  index: number;
  line: number;
  enabled: boolean;
  stop: boolean;
  sendTo: string[];
  message: Template | null;
  /**
   * Literal event types this rule can match (from `match.type` without wildcards), used by the
   * type index; null when the rule can match any type (wildcards, no type constraint, `when` only).
   */
  types: string[] | null;
  /** `match.type` as written, wildcards included (`subscription`, `check`); null/absent: no type condition. */
  typePatterns?: string[] | null;
  /** The rule's own condition: `match` AND `when`. Pure; never throws. */
  test(event: EventObject): MatchResult;
  /**
   * test(event).reason when the rule matches, else null, evaluating each condition once and
   * building no sentence for a failure (ingest stores only the rules that matched).
   */
  matchedReason(event: EventObject): string | null;
  /** Whether `match.type` (wildcards included) admits an event of this type; absent: any type. */
  admitsType?(type: string | null): boolean;
  /** Equalities the rule needs (see IndexKey); absent or empty: the index cannot skip it. */
  keys?: IndexKey[];
  examples: RuleExample[];
  /** Noise control (contract §9): `group`, null/absent when the rule sends each event alone. */
  group?: GroupSettings | null;
  /** `digest_message`: the template of a notification that carries several events. */
  digestMessage?: Template | null;
}

/** A rule's `group:` (contract §9). */
export interface GroupSettings {
  /** Dotted paths whose values tell the groups apart; [] is one group per (rule, destination). */
  by: string[];
  /** `by`, each compiled (compilePath). */
  parts: string[][];
  waitMs: number;
  intervalMs: number;
}

export interface Grant {
  rule: string;
  destination: string;
  line: number;
  /** JSON Logic condition; null when absent. Pure; never throws (an error counts as false). */
  when: ((event: EventObject) => boolean) | null;
  whenSource: Json | null;
  maxPerHour: number | null;
  maxEventAgeMs: number | null;
  allowReplay: boolean;
}

export interface RouterConfig {
  /** Absolute path of the rules file this came from. */
  file: string;
  /** sha256 of the file's text, to tell versions apart in logs and routing decisions. */
  hash: string;
  /** The file's text as read: the delivery thread compiles exactly the same version. */
  source: string;
  server: ServerSettings;
  destinations: Map<string, Destination>;
  rules: CompiledRule[];
  delivery: DeliverySettings;
  grants: Grant[];
  retentionMs: number;
  /** The values the file took from the environment (long enough to be told apart from ordinary
   * words), longest first: what people are shown (`test`, the console) has them as `${NAME}`. */
  fromEnv: readonly EnvValue[];
}

/** A variable whose value from the environment went into the file (config/interpolate.ts). */
export interface EnvValue {
  name: string;
  value: string;
}
