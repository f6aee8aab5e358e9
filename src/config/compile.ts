// From the validated rules file to the RouterConfig every other module reads. The schema has
// already vouched for the shape of each part it did not complain about; this module checks what a
// schema cannot (names that refer to each other, durations, URLs, templates, JSON Logic
// operators), reports each finding at its place, and compiles rules once.
import type {
  CompiledRule,
  DeliverySettings,
  Destination,
  EmailDestination,
  EventFields,
  EventObject,
  Grant,
  Json,
  RouterConfig,
  RuleExample,
  ServerSettings,
  SignatureScheme,
  SlackDestination,
  Template,
  WebhookDestination,
} from './types.js';
import {
  DEFAULT_DELIVERY,
  DEFAULT_EVENT_FIELDS,
  DEFAULT_LINK_HOSTS,
  DEFAULT_RETENTION_MS,
  DEFAULT_SERVER,
  DEFAULT_WEBHOOK_SIGNING,
  MAX_SEND_TIMEOUT_MS,
  MIN_RETENTION_MS,
} from './defaults.js';
import { parseDuration } from './duration.js';
import { standardWebhooksKey, WHSEC_HINT } from './whsec.js';
import { listWords, type Path, type PathSeg, type Problems } from './problems.js';
import { place, subject } from './schema.js';
import { eventType } from '../event/accessors.js';
import { compileMatch, type MatchSpec } from '../rules/match.js';
import { checkLogic, compileLogic, logicKeys } from '../rules/logic.js';
import { compileTemplate, TemplateError } from '../rules/template.js';
import { compileGrouping, type RawGroup } from './group.js';

// The file as written (after interpolation and schema validation). Mirrors rules.schema.json.
type List = string | string[];
interface RawDelivery {
  max_attempts?: number;
  backoff?: { initial?: string; max?: string };
  timeout?: string;
  concurrency?: number;
}
interface RawDestination extends RawDelivery {
  type?: 'slack' | 'email' | 'webhook';
  enabled?: boolean;
  privileged?: boolean;
  channel?: string;
  token?: string;
  webhook_url?: string;
  to?: List;
  cc?: List;
  from?: string;
  subject?: string;
  smtp_url?: string;
  url?: string;
  method?: string;
  headers?: Record<string, string>;
  secret?: string;
  signing?: SignatureScheme;
  body?: string | Json;
}
interface RawExample {
  event?: EventObject | string;
  matches?: boolean;
  destinations?: string[];
}
interface RawRule {
  name?: string;
  description?: string;
  enabled?: boolean;
  match?: MatchSpec;
  when?: Json;
  send_to?: List;
  message?: string;
  stop?: boolean;
  examples?: RawExample[];
  group?: RawGroup;
  digest_message?: string;
}
interface RawGrant {
  rule?: string;
  destination?: string;
  when?: Json;
  max_per_hour?: number;
  max_event_age?: string;
  allow_replay?: boolean;
}
interface RawServer {
  path?: string;
  max_body_bytes?: number;
  accept_types?: List;
  link_hosts?: List;
  signature?: { scheme?: SignatureScheme; header?: string; encoding?: 'hex' | 'base64'; prefix?: string; timestamp_header?: string; tolerance?: string };
  fields?: {
    id?: List;
    type?: List;
    run_id?: List;
    execution_id?: List;
    time?: List;
    workflow_id?: List;
    workflow_name?: List;
    node?: List;
    status?: List;
    error?: List;
    url?: List;
  };
}
export interface RawFile {
  version?: number;
  server?: RawServer;
  destinations?: Record<string, RawDestination>;
  rules?: RawRule[];
  delivery?: RawDelivery;
  policy?: { allow_privileged?: RawGrant[] };
  retention?: string;
}

export type EventFileResult = { ok: true; event: EventObject } | { ok: false; message: string };

export interface CompileInput {
  data: RawFile;
  file: string;
  hash: string;
  source: string;
  problems: Problems;
  /** Values the schema or interpolation already complained about; they are left out. */
  skip: readonly Path[];
  /** Reads an example's event file (path as written, relative to the rules file). */
  readEventFile(path: string): EventFileResult;
}

/** An HTTP header name (RFC 9110 token); the webhook channel checks with it too. */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** How a request is framed on its connection: the HTTP client sets these, a webhook cannot. */
const FRAMING_HEADERS = new Set(['transfer-encoding', 'keep-alive', 'upgrade', 'expect', 'connection']);
const EMAIL = /^[^\s@<>]+@[^\s@<>]+$/;
const NAMED_EMAIL = /^[^<>]*<[^\s@<>]+@[^\s@<>]+>$/;

function toList(v: List | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v : [v];
}

/** Compiles everything it can; the caller looks at `problems` to decide whether to use the result. */
export function compileConfig(input: CompileInput): RouterConfig {
  const { problems } = input;
  // Each mistake is reported once: what the schema (or interpolation) already reported is taken
  // out, so the checks below see it as absent and everything around it is still checked.
  const data = prune(input.data, input.skip);
  const c = new Compiler(input);

  const server = c.server(isObject(data.server) ? data.server : {});
  const delivery = c.delivery(isObject(data.delivery) ? data.delivery : {}, DEFAULT_DELIVERY, ['delivery']);
  const linkHosts = isObject(data.server) ? (toList(data.server.link_hosts)?.map((h) => h.toLowerCase()) ?? DEFAULT_LINK_HOSTS) : DEFAULT_LINK_HOSTS;

  const rawDestinations = isObject(data.destinations) ? data.destinations : {};
  const destinations = new Map<string, Destination>();
  for (const [name, raw] of Object.entries(rawDestinations)) {
    if (!isObject(raw)) continue;
    const dest = c.destination(name, raw, delivery, ['destinations', name]);
    if (dest?.type === 'slack') dest.linkHosts = linkHosts;
    if (dest) destinations.set(name, dest);
  }

  const rawRules = Array.isArray(data.rules) ? data.rules : [];
  const rawGrants = isObject(data.policy) && Array.isArray(data.policy.allow_privileged) ? data.policy.allow_privileged : [];
  const ruleNames = rawRules.map((r) => (isObject(r) && typeof r.name === 'string' ? r.name : null));
  // Names as written, even where a setting inside was wrong: a reference to them is not an error.
  const written = input.data;
  const known: Known = {
    destinations: isObject(written) && isObject(written.destinations) ? Object.keys(written.destinations) : [],
    rules: ruleNames.filter((n): n is string => n !== null),
    privileged: new Set(
      Object.entries(rawDestinations)
        .filter(([, d]) => isObject(d) && d.privileged === true)
        .map(([n]) => n),
    ),
    granted: new Set(rawGrants.filter(isObject).map((g) => `${g.rule}\u0000${g.destination}`)),
  };

  const rules: CompiledRule[] = [];
  rawRules.forEach((raw, i) => {
    if (!isObject(raw)) return;
    const name = ruleNames[i];
    const first = name === null ? -1 : ruleNames.indexOf(name);
    if (name !== null && first !== i) {
      const line = problems.position(['rules', first]).line;
      problems.error(['rules', i, 'name'], `there are two rules named "${name}" (the first is at line ${line}); give this one another name`);
      return;
    }
    rules.push(c.rule(raw, i, server.fields, known));
  });

  const grants: Grant[] = [];
  rawGrants.forEach((raw, k) => {
    if (!isObject(raw)) return;
    const grant = c.grant(raw, ['policy', 'allow_privileged', k], known, rawRules);
    if (grant) grants.push(grant);
  });

  const writtenRetention = data.retention === undefined ? DEFAULT_RETENTION_MS : (c.duration(data.retention, ['retention']) ?? DEFAULT_RETENTION_MS);
  // At least an hour whatever is written: max_per_hour counts the deliveries allowed in the last
  // hour, and a pruned one would no longer count.
  const retentionMs = Math.max(writtenRetention, MIN_RETENTION_MS);
  if (data.retention !== undefined && writtenRetention < MIN_RETENTION_MS) {
    problems.warn(
      ['retention'],
      `retention is ${problems.showAt(['retention'], data.retention)}, shorter than an hour: events are kept an hour all the same, because max_per_hour counts the deliveries of the last hour; write retention: 1h or more`,
    );
  }

  return { file: input.file, hash: input.hash, source: input.source, server, destinations, rules, delivery, grants, retentionMs, fromEnv: problems.withheld() };
}

function isObject<T>(v: T): v is T & object {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A copy of the file without the values at `paths` (list items become holes, keeping indexes). */
function prune(data: RawFile, paths: readonly Path[]): RawFile {
  if (!isObject(data) || paths.some((p) => p.length === 0)) return {};
  const copy = structuredClone(data) as Record<string, unknown>;
  for (const path of paths) {
    let parent: unknown = copy;
    for (const seg of path.slice(0, -1)) {
      parent = parent !== null && typeof parent === 'object' ? (parent as Record<PathSeg, unknown>)[seg] : undefined;
    }
    const last = path[path.length - 1]!;
    if (Array.isArray(parent) && typeof last === 'number') parent[last] = undefined;
    else if (isObject(parent)) delete (parent as Record<PathSeg, unknown>)[last];
  }
  return copy as RawFile;
}

interface Known {
  destinations: string[];
  rules: string[];
  privileged: Set<string>;
  granted: Set<string>;
}

class Compiler {
  constructor(private readonly input: CompileInput) {}

  /** Whether the file sets `key` at `path`, even if that value was already reported and left out. */
  private written(path: Path, key: string): boolean {
    let cur: unknown = this.input.data;
    for (const seg of path) cur = isObject(cur) ? (cur as Record<PathSeg, unknown>)[seg] : undefined;
    return isObject(cur) && Object.hasOwn(cur, key);
  }

  private get problems(): Problems {
    return this.input.problems;
  }

  private name(path: Path): string {
    return subject(path, this.input.data);
  }

  duration(text: string, path: Path): number | null {
    // A stand-in for a variable (the console): the real value is not known, so not checked.
    if (this.problems.unchecked(path)) return null;
    const d = parseDuration(text);
    if (d.ok) return d.ms;
    const names = this.problems.envNames(path);
    const message = names === null ? d.message : `(${this.problems.showAt(path, text)}) should be a duration such as 30s, 5m or 1h`;
    this.problems.error(path, `${this.name(path)} ${message}`);
    return null;
  }

  template(source: string, path: Path): Template | null {
    try {
      return compileTemplate(source);
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      this.problems.error(path, `${this.name(path)} is not a valid template: ${err.message}`);
      return null;
    }
  }

  server(raw: RawServer): ServerSettings {
    const sig = raw.signature ?? {};
    const base = DEFAULT_SERVER.signature;
    const header = (value: string | undefined, path: Path): string | null => {
      if (value === undefined) return null;
      if (!HEADER_NAME.test(value) && !this.problems.unchecked(path)) {
        this.problems.error(
          path,
          `${this.name(path)} is ${this.problems.showAt(path, value)}, which is not an HTTP header name; write one such as x-b3os-signature`,
        );
        return null;
      }
      return value.toLowerCase();
    };
    const fields = raw.fields ?? {};
    const pick = (v: List | undefined, dflt: string[]): string[] => toList(v) ?? dflt;
    const eventFields: EventFields = {
      id: pick(fields.id, DEFAULT_EVENT_FIELDS.id),
      type: pick(fields.type, DEFAULT_EVENT_FIELDS.type),
      runId: pick(fields.run_id, DEFAULT_EVENT_FIELDS.runId),
      executionId: pick(fields.execution_id, DEFAULT_EVENT_FIELDS.executionId),
      time: pick(fields.time, DEFAULT_EVENT_FIELDS.time),
      workflowId: pick(fields.workflow_id, DEFAULT_EVENT_FIELDS.workflowId),
      workflowName: pick(fields.workflow_name, DEFAULT_EVENT_FIELDS.workflowName),
      node: pick(fields.node, DEFAULT_EVENT_FIELDS.node),
      status: pick(fields.status, DEFAULT_EVENT_FIELDS.status),
      error: pick(fields.error, DEFAULT_EVENT_FIELDS.error),
      url: pick(fields.url, DEFAULT_EVENT_FIELDS.url),
    };
    return {
      path: raw.path ?? DEFAULT_SERVER.path,
      maxBodyBytes: raw.max_body_bytes ?? DEFAULT_SERVER.maxBodyBytes,
      acceptTypes: toList(raw.accept_types) ?? null,
      signature: {
        scheme: sig.scheme ?? base.scheme,
        header: header(sig.header, ['server', 'signature', 'header']) ?? base.header,
        encoding: sig.encoding ?? base.encoding,
        prefix: sig.prefix ?? base.prefix,
        timestampHeader: header(sig.timestamp_header, ['server', 'signature', 'timestamp_header']) ?? base.timestampHeader,
        toleranceMs: sig.tolerance === undefined ? base.toleranceMs : (this.duration(sig.tolerance, ['server', 'signature', 'tolerance']) ?? base.toleranceMs),
      },
      fields: eventFields,
    };
  }

  /** `raw` merged over `base`; durations checked; backoff.initial no longer than backoff.max. */
  delivery(raw: RawDelivery, base: DeliverySettings, path: PathSeg[]): DeliverySettings {
    const d = (text: string | undefined, at: PathSeg[], dflt: number): number => (text === undefined ? dflt : (this.duration(text, at) ?? dflt));
    const out: DeliverySettings = {
      maxAttempts: raw.max_attempts ?? base.maxAttempts,
      backoffInitialMs: d(raw.backoff?.initial, [...path, 'backoff', 'initial'], base.backoffInitialMs),
      backoffMaxMs: d(raw.backoff?.max, [...path, 'backoff', 'max'], base.backoffMaxMs),
      timeoutMs: d(raw.timeout, [...path, 'timeout'], base.timeoutMs),
      concurrency: raw.concurrency ?? base.concurrency,
    };
    if (out.backoffInitialMs > out.backoffMaxMs && (raw.backoff?.initial !== undefined || raw.backoff?.max !== undefined)) {
      const at = raw.backoff?.initial !== undefined ? [...path, 'backoff', 'initial'] : [...path, 'backoff', 'max'];
      this.problems.error(
        at,
        `${place([...path, 'backoff'], this.input.data)}: initial (${raw.backoff?.initial ?? 'the default'}) is longer than max (${raw.backoff?.max ?? 'the default'}); make initial the shorter one`,
      );
    }
    if (raw.timeout !== undefined && out.timeoutMs > MAX_SEND_TIMEOUT_MS) {
      this.problems.error(
        [...path, 'timeout'],
        `${this.name([...path, 'timeout'])} is ${this.problems.showAt([...path, 'timeout'], raw.timeout)}, longer than an hour: a receiver that has not answered in an hour will not; use at most 1h`,
      );
    }
    return out;
  }

  private url(text: string, path: Path, what: string): string | null {
    if (this.problems.unchecked(path)) return text;
    const host = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(text)?.[1] ?? '';
    if (host.includes('{{')) {
      this.problems.error(
        path,
        `${this.name(path)} has a template in its host; the host must be written out in full (a template there could send events anywhere)`,
      );
      return null;
    }
    // The URL is sent as written: a {{field}} in it would go out literally, never filled in.
    if (text.includes('{{')) {
      this.problems.error(
        path,
        `${this.name(path)} has a {{…}} template in it, which is sent literally and never filled in; write the URL out in full, and put event fields in the body`,
      );
      return null;
    }
    // URL parsers read "\" as "/" and drop spaces and line breaks; what they build is not what is written.
    if (/[\\\s\u0000-\u001f\u007f]/.test(text)) {
      this.problems.error(path, `${this.name(path)} has a backslash, a space or a line break in it; write a plain URL such as ${what}`);
      return null;
    }
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      // A value from ${VAR} (often a token) is never shown, not even its start: showAt names the
      // variable instead. A URL written in the file may still hold a token in its query: shorten.
      const shown = this.problems.envNames(path) === null && text.length > 24 ? `"${text.slice(0, 16)}…"` : this.problems.showAt(path, text);
      this.problems.error(path, `${this.name(path)} is ${shown}, which is not a full URL; write it with https://, e.g. ${what}`);
      return null;
    }
    if (u.username || u.password) {
      this.problems.error(
        path,
        `${this.name(path)} has a user name or password in it; put credentials in headers: (e.g. Authorization) instead, so they are never shown or logged with the URL`,
      );
      return null;
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') {
      this.problems.error(path, `${this.name(path)} uses ${u.protocol.slice(0, -1)}; only http:// and https:// URLs can be used, e.g. ${what}`);
      return null;
    }
    if (!/^https?:\/\/[^/]/i.test(text)) {
      this.problems.error(path, `${this.name(path)} does not start with ${u.protocol}// and a host; write it in full, e.g. ${what}`);
      return null;
    }
    return text;
  }

  private addresses(list: string[], path: PathSeg[], single: boolean): string[] {
    list.forEach((a, j) => {
      if (typeof a !== 'string') return; // already reported by the schema
      if (!EMAIL.test(a.trim()) && !NAMED_EMAIL.test(a.trim())) {
        const at = single ? path : [...path, j];
        if (this.problems.unchecked(at)) return;
        this.problems.error(at, `${this.name(at)} is ${this.problems.showAt(at, a)}, which is not an email address; write one such as oncall@example.com`);
      }
    });
    return list.filter((a) => typeof a === 'string').map((a) => a.trim());
  }

  destination(name: string, raw: RawDestination, defaults: DeliverySettings, path: PathSeg[]): Destination | null {
    const base = {
      name,
      line: this.problems.position(path, 'key').line,
      enabled: raw.enabled ?? true,
      privileged: raw.privileged ?? false,
      delivery: this.delivery(raw, defaults, path),
    };
    const at = (key: string): PathSeg[] => [...path, key];
    let dest: Destination | null = null;
    switch (raw.type) {
      case 'slack': {
        const channel = raw.channel ?? null;
        const webhookUrl = raw.webhook_url ?? null;
        if (channel !== null && webhookUrl !== null) {
          this.problems.error(
            at('webhook_url'),
            `destination "${name}" has both channel and webhook_url; keep one: channel (with a bot token) for the Slack Web API, or webhook_url for an incoming webhook`,
            'key',
          );
        } else if (channel === null && webhookUrl === null && !this.written(path, 'channel') && !this.written(path, 'webhook_url')) {
          this.problems.error(path, `destination "${name}" needs a channel (e.g. channel: "#b3os-alerts") or a webhook_url (a Slack incoming webhook)`, 'key');
        }
        // A channel is sent as written: a placeholder in it would reach Slack literally.
        if (channel?.includes('{{')) {
          this.problems.error(
            at('channel'),
            `the channel of destination "${name}" has a {{…}} placeholder, but channels are sent as written, never filled in from the event; name one channel (e.g. "#b3os-alerts"), and use one destination per channel`,
          );
        }
        if (raw.token !== undefined && webhookUrl !== null && channel === null) {
          this.problems.error(at('token'), `destination "${name}" has a token, which is only used with channel; an incoming webhook_url needs no token`, 'key');
        }
        if (webhookUrl !== null) this.url(webhookUrl, at('webhook_url'), 'https://hooks.slack.com/services/...');
        const slack: SlackDestination = { ...base, type: 'slack', channel, token: raw.token ? raw.token : null, webhookUrl };
        dest = slack;
        break;
      }
      case 'email': {
        const to = this.addresses(toList(raw.to) ?? [], at('to'), !Array.isArray(raw.to));
        const cc = raw.cc === undefined ? [] : this.addresses(toList(raw.cc)!, at('cc'), !Array.isArray(raw.cc));
        const from = raw.from === undefined ? '' : this.addresses([raw.from], at('from'), true)[0]!;
        const subject = raw.subject === undefined ? null : this.template(raw.subject, at('subject'));
        let smtpUrl: string | null = raw.smtp_url ? raw.smtp_url : null;
        if (smtpUrl !== null && !this.problems.unchecked(at('smtp_url'))) {
          let ok = false;
          try {
            ok = ['smtp:', 'smtps:'].includes(new URL(smtpUrl).protocol);
          } catch {
            ok = false;
          }
          if (!ok) {
            this.problems.error(at('smtp_url'), `${this.name(at('smtp_url'))} is not an SMTP URL; write one such as smtp://user:pass@mail.example.com:587`);
            smtpUrl = null;
          }
        }
        const email: EmailDestination = { ...base, type: 'email', to, cc, from, subject, smtpUrl };
        dest = email;
        break;
      }
      case 'webhook': {
        const url = raw.url === undefined ? '' : (this.url(raw.url, at('url'), 'https://billing.example.com/hooks/b3os') ?? '');
        const headers: Record<string, string> = {};
        for (const [h, v] of Object.entries(raw.headers ?? {})) {
          if (!HEADER_NAME.test(h)) {
            this.problems.error([...at('headers'), h], `"${h}" in the headers of destination "${name}" is not an HTTP header name`, 'key');
          } else if (FRAMING_HEADERS.has(h.toLowerCase())) {
            this.problems.error(
              [...at('headers'), h],
              `the header "${h}" of destination "${name}" frames the request on its connection, which b3os-router does itself; remove it`,
              'key',
            );
          }
          // A line break in a value would end the header and start another (or be refused at
          // every send); say so now, without showing the value (it is often a token).
          if (typeof v === 'string' && /[\r\n\u0000-\u0008\u000a-\u001f\u007f]/.test(v)) {
            this.problems.error(
              [...at('headers'), h],
              `the header "${h}" of destination "${name}" has a line break or a control character in its value, which HTTP does not allow; write it on one line (check the variable it comes from, if any)`,
            );
          }
          // Header values are sent as written: a placeholder would reach the receiver literally.
          if (typeof v === 'string' && v.includes('{{')) {
            this.problems.error(
              [...at('headers'), h],
              `the header "${h}" of destination "${name}" has a {{…}} placeholder, but header values are sent as written, never filled in from the event; put event fields in the body instead`,
            );
          }
          headers[h] = v;
        }
        const body = raw.body === undefined ? null : this.body(raw.body, at('body'));
        const webhook: WebhookDestination = {
          ...base,
          type: 'webhook',
          url,
          method: (raw.method ?? 'POST').toUpperCase(),
          headers,
          secret: raw.secret ? raw.secret : null,
          signing: this.signing(raw, name, path),
          body,
        };
        dest = webhook;
        break;
      }
    }
    return dest;
  }

  /** A webhook's `signing`; standard-webhooks needs a whsec_ secret (its value is never shown). */
  private signing(raw: RawDestination, name: string, path: PathSeg[]): SignatureScheme {
    const at = (key: string): PathSeg[] => [...path, key];
    const signing = raw.signing ?? DEFAULT_WEBHOOK_SIGNING;
    if (signing !== 'standard-webhooks') return signing;
    if (raw.secret === undefined || raw.secret === '') {
      // A secret from a missing variable is already reported, at the secret.
      if (!this.written(path, 'secret')) {
        this.problems.error(at('signing'), `destination "${name}" signs with standard-webhooks but has no secret; add secret: with ${WHSEC_HINT}`);
      }
    } else if (standardWebhooksKey(raw.secret) === null && !this.problems.unchecked(at('secret'))) {
      this.problems.error(
        at('secret'),
        `the secret of destination "${name}" (${this.problems.envNames(at('secret')) ? 'from the environment, ' : ''}not shown) is not a Standard Webhooks secret, which signing: standard-webhooks needs; write ${WHSEC_HINT}`,
      );
    }
    return signing;
  }

  /**
   * A webhook body: JSON text, or a YAML map/list turned into JSON text, with `{{x}}` inside
   * string values. Checked by rendering it for an empty event: it must still be JSON.
   */
  private body(raw: string | Json, path: PathSeg[]): Template | null {
    const source = typeof raw === 'string' ? raw : JSON.stringify(raw);
    const template = this.template(source, path);
    if (!template) return null;
    // Rendering an empty event cannot see `{"amount": {{data.amount}}0}`: it renders valid JSON,
    // and then an amount of "-1e30" sends -1e300. Only a value inside a string literal is escaped
    // for where it goes; anywhere else it can change the JSON around it.
    const misplaced = misplacedTags(source);
    for (const { tag, why } of misplaced) {
      const message =
        why === 'key'
          ? `has ${tag} in a key; a value from the event could then choose the key (and override a fixed one); write fixed keys and put the placeholder in the value, e.g. {"run": "{{data.runId}}"}`
          : why === 'section'
            ? `opens ${tag} in one string and closes it in another, so the event would repeat or drop the JSON between them; open and close a section inside one string value`
            : `has ${tag} outside a JSON string, where a value could change the JSON around it; ${
                /^\{\{[#^/]/.test(tag)
                  ? 'write the list as JSON text in one string, or build the body as a YAML map'
                  : `put the placeholder inside quotes, "${tag}" (the receiver then gets it as text)`
              }`;
      this.problems.add('error', this.find(tag, path), `${this.name(path)} ${message}`);
    }
    if (misplaced.length > 0) return null;
    try {
      JSON.parse(template.render({}, 'json'));
    } catch (err) {
      this.problems.error(
        path,
        `${this.name(path)} is not JSON once rendered (${(err as Error).message}); write JSON text with each {{field}} inside a string literal, e.g. {"run": "{{data.runId}}"}`,
      );
      return null;
    }
    return template;
  }

  /** The place of `text` in the file, searching from the value at `path` (the value if absent). */
  private find(text: string, path: Path): { line: number; col: number } {
    const start = this.problems.position(path);
    const lines = this.input.source.split('\n');
    let offset = 0;
    for (let l = 0; l < start.line - 1 && l < lines.length; l++) offset += lines[l]!.length + 1;
    offset += start.col - 1;
    const found = this.input.source.indexOf(text, offset);
    if (found < 0) return start;
    const before = this.input.source.slice(0, found).split('\n');
    return { line: before.length, col: before[before.length - 1]!.length + 1 };
  }

  rule(raw: RawRule, i: number, fields: EventFields, known: Known): CompiledRule {
    const path: PathSeg[] = ['rules', i];
    const label = raw.name === undefined ? `rule ${i + 1}` : `rule "${raw.name}"`;

    const sendTo: string[] = [];
    const list = toList(raw.send_to) ?? [];
    list.forEach((dest, j) => {
      if (typeof dest !== 'string') return; // already reported by the schema
      const at = Array.isArray(raw.send_to) ? [...path, 'send_to', j] : [...path, 'send_to'];
      if (!known.destinations.includes(dest)) {
        const hint = this.problems.suggest(dest, known.destinations);
        const tail = dest.includes(',')
          ? `; to send to several, write them as a list: send_to: [${dest
              .split(',')
              .map((d) => d.trim())
              .join(', ')}]`
          : hint || (known.destinations.length > 0 ? `; the destinations are ${listWords(known.destinations)}` : '; add it under destinations:');
        this.problems.error(at, `${label} sends to "${dest}", which is not a destination${tail}`);
        return;
      }
      if (sendTo.includes(dest)) {
        this.problems.warn(at, `${label} lists "${dest}" twice in send_to; it is sent once`);
        return;
      }
      if (known.privileged.has(dest) && !known.granted.has(`${raw.name}\u0000${dest}`)) {
        this.problems.warn(
          at,
          `${label} sends to "${dest}", which is privileged, and no grant in policy.allow_privileged names this rule with it, so these deliveries will always be blocked; add a grant {rule: ${raw.name}, destination: ${dest}} if they should go`,
        );
      }
      sendTo.push(dest);
    });

    let match: ReturnType<typeof compileMatch>['match'] | null = null;
    if (raw.match !== undefined && Object.keys(raw.match).length > 0) {
      const compiled = compileMatch(raw.match, (e) => eventType(e, fields));
      for (const issue of compiled.issues) {
        const at = [...path, 'match', issue.key];
        if (issue.severity === 'error') this.problems.error(at, `${label}: ${issue.message}`, 'key');
        else this.problems.warn(at, `${label}: ${issue.message}`, 'key');
      }
      match = compiled.match;
    }

    let when: ReturnType<typeof compileLogic> | null = null;
    if (raw.when !== undefined) {
      const ok = this.logic(raw.when, [...path, 'when'], `the "when" of ${label}`);
      if (ok) when = compileLogic(raw.when);
    }

    const message = raw.message === undefined ? null : this.template(raw.message, [...path, 'message']);
    // Noise control (config/group.ts): group and digest_message.
    const grouping = compileGrouping(
      { problems: this.problems, duration: (t, p) => this.duration(t, p), template: (s, p) => this.template(s, p) },
      raw,
      path,
      label,
      sendTo,
      known.privileged,
    );

    const examples: RuleExample[] = [];
    (raw.examples ?? []).forEach((ex, k) => {
      if (!isObject(ex) || ex.event === undefined || ex.matches === undefined) return;
      const at: PathSeg[] = [...path, 'examples', k];
      const event = this.exampleEvent(ex.event, [...at, 'event']);
      (ex.destinations ?? []).forEach((d, j) => {
        if (typeof d === 'string' && !known.destinations.includes(d)) {
          this.problems.error(
            [...at, 'destinations', j],
            `example ${k + 1} of ${label} lists "${d}", which is not a destination${this.problems.suggest(d, known.destinations)}`,
          );
        }
      });
      if (!event) return;
      const pos = this.problems.position(at);
      const destinations = ex.destinations ? ex.destinations.filter((d) => typeof d === 'string') : null;
      examples.push({ line: pos.line, col: pos.col, event: event.event, source: event.source, matches: ex.matches, destinations });
    });

    const test = (event: EventObject): { matched: boolean; reason: string } => {
      const m = match ? match.test(event) : null;
      if (m && !m.matched) return m;
      if (when) {
        const w = when(event);
        if (w.error) return { matched: false, reason: `the "when" condition could not be evaluated (${w.error}), so it counts as false` };
        if (!w.value) return { matched: false, reason: m ? `${m.reason}, but the "when" condition is false` : 'the "when" condition is false' };
        return { matched: true, reason: m ? `${m.reason}, and the "when" condition is true` : 'the "when" condition is true' };
      }
      return m ?? { matched: true, reason: 'the rule has no match or when, so it matches every event' };
    };
    // test(event).reason for an event the rule matches, else null, each condition evaluated once
    // and no sentence built for a failure: what ingest's rule index runs.
    const matchedReason = (event: EventObject): string | null => {
      const m = match ? match.matchedReason(event) : null;
      if (match && m === null) return null;
      if (when) {
        const w = when(event);
        if (w.error || !w.value) return null;
        return m !== null ? `${m}, and the "when" condition is true` : 'the "when" condition is true';
      }
      return m ?? 'the rule has no match or when, so it matches every event';
    };

    return {
      name: raw.name ?? `rule ${i + 1}`,
      description: raw.description ?? '',
      index: i,
      line: this.problems.position(path).line,
      enabled: raw.enabled ?? true,
      stop: raw.stop ?? false,
      sendTo,
      message,
      types: match ? match.types : null,
      typePatterns: raw.match?.type === undefined ? null : [raw.match.type].flat().filter((t): t is string => typeof t === 'string'),
      test,
      matchedReason,
      admitsType: match ? match.admitsType : () => true,
      keys: [...(match ? match.keys : []), ...(when && raw.when !== undefined ? logicKeys(raw.when) : [])],
      examples,
      ...grouping,
    };
  }

  /** Reports unknown operators and malformed conditions; true when the condition can be used. */
  private logic(logic: Json, path: PathSeg[], label: string): boolean {
    let ok = true;
    for (const issue of checkLogic(logic)) {
      const at = [...path, ...issue.at];
      const onKey = issue.at.length > 0 && typeof issue.at[issue.at.length - 1] === 'string';
      if (issue.severity === 'error') {
        ok = false;
        this.problems.error(at, `${label}: ${issue.message}`, onKey ? 'key' : 'value');
      } else {
        this.problems.warn(at, `${label}: ${issue.message}`, onKey ? 'key' : 'value');
      }
    }
    return ok;
  }

  private exampleEvent(event: EventObject | string, path: PathSeg[]): { event: EventObject; source: string } | null {
    if (typeof event !== 'string') return { event, source: 'inline' };
    const read = this.input.readEventFile(event);
    if (!read.ok) {
      this.problems.error(path, `${this.name(path)}: ${read.message}`);
      return null;
    }
    return { event: read.event, source: event };
  }

  grant(raw: RawGrant, path: PathSeg[], known: Known, rules: RawRule[]): Grant | null {
    const label = `grant ${Number(path[2]) + 1} in policy.allow_privileged`;
    const { rule: ruleName, destination } = raw;
    let usable = ruleName !== undefined && destination !== undefined;
    if (ruleName !== undefined && !known.rules.includes(ruleName)) {
      usable = false;
      this.problems.error([...path, 'rule'], `${label} names the rule "${ruleName}", which does not exist${this.problems.suggest(ruleName, known.rules)}`);
    }
    if (destination !== undefined && !known.destinations.includes(destination)) {
      usable = false;
      this.problems.error(
        [...path, 'destination'],
        `${label} names the destination "${destination}", which does not exist${this.problems.suggest(destination, known.destinations)}`,
      );
    }
    if (!usable || ruleName === undefined || destination === undefined) return null;
    if (!known.privileged.has(destination)) {
      this.problems.warn(
        [...path, 'destination'],
        `${label} is for "${destination}", which is not privileged, so the grant changes nothing; add privileged: true to "${destination}" if it should be guarded`,
      );
    }
    const rule = rules.find((r) => isObject(r) && r.name === ruleName);
    if (rule && !(toList(rule.send_to) ?? []).includes(destination)) {
      this.problems.warn([...path, 'rule'], `${label} lets rule "${ruleName}" send to "${destination}", but that rule does not send there`);
    }
    let when: Grant['when'] = null;
    if (raw.when !== undefined && this.logic(raw.when, [...path, 'when'], `the "when" of ${label}`)) {
      const compiled = compileLogic(raw.when);
      when = (event) => compiled(event).value;
    }
    const maxEventAgeMs = raw.max_event_age === undefined ? null : this.duration(raw.max_event_age, [...path, 'max_event_age']);
    return {
      rule: ruleName,
      destination,
      line: this.problems.position(path).line,
      when,
      whenSource: raw.when ?? null,
      maxPerHour: raw.max_per_hour ?? null,
      maxEventAgeMs,
      allowReplay: raw.allow_replay ?? false,
    };
  }
}

/** Why a `{{…}}` tag of a JSON-text template could change the JSON around it. */
export type MisplacedTag = { tag: string; why: 'outside' | 'key' | 'section' };

/**
 * Every `{{…}}` tag of a JSON-text template that is not wholly inside one JSON string value: a tag
 * outside any string literal (or holding a quote or a backslash, which could end the string); a
 * tag in an object key (the event would choose the key, e.g. override a fixed "amount"); and a
 * section whose `{{/…}}` is in another string than its `{{#…}}` (the event's list would repeat or
 * drop the members between them). One linear pass.
 */
export function misplacedTags(source: string): MisplacedTag[] {
  const found: MisplacedTag[] = [];
  let inString = false;
  let stringNo = 0;
  let tagsInString: string[] = [];
  const open: { name: string; tag: string; stringNo: number }[] = [];
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '{' && source[i + 1] === '{') {
      const close = source.indexOf('}}', i + 2);
      const end = close < 0 ? source.length : close + 2;
      const tag = source.slice(i, end);
      const inner = tag.slice(2, -2);
      if (!inString || /["\\]/.test(inner)) found.push({ tag, why: 'outside' });
      else {
        tagsInString.push(tag);
        const section = /^\s*([#^/])\s*(.*?)\s*$/.exec(inner);
        if (section && section[1] !== '/') open.push({ name: section[2]!, tag, stringNo });
        else if (section) {
          const opened = open.pop();
          if (opened && opened.stringNo !== stringNo) found.push({ tag: opened.tag, why: 'section' });
        }
      }
      i = end - 1;
    } else if (inString && ch === '\\') {
      i++;
    } else if (ch === '"') {
      inString = !inString;
      if (inString) {
        stringNo++;
        tagsInString = [];
      } else if (tagsInString.length > 0) {
        let j = i + 1;
        while (j < source.length && /\s/.test(source[j]!)) j++;
        if (source[j] === ':') for (const tag of tagsInString) found.push({ tag, why: 'key' });
      }
    }
  }
  return found;
}
