// Real local servers that stand in for the outside world in every suite: a webhook receiver, a fake
// Slack Web API (chat.postMessage), a fake Slack incoming webhook and an SMTP server. All listen on
// 127.0.0.1 port 0, record everything they receive, answer as a test scripts them, and offer
// condition-based waits (no fixed sleeps). Always close() them (e.g. in `after`/`t.after`).
import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { ChannelEnv, SendResult } from '../../src/delivery/channels/channel.js';
import { ChannelRegistry } from '../../src/delivery/channels/index.js';
import { compose, type Composed } from '../../src/delivery/compose.js';
import type {
  DeliverySettings,
  Destination,
  EmailDestination,
  EventObject,
  SlackDestination,
  Template,
  TemplateEscape,
  WebhookDestination,
} from '../../src/config/types.js';
import { DEFAULT_DELIVERY, DEFAULT_EVENT_FIELDS } from '../../src/config/defaults.js';

const DEFAULT_WAIT_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// Waiting on a condition

/** Something that changes and can be waited on: `waitUntil` re-checks on every change. */
class Changes {
  private readonly emitter = new EventEmitter();
  constructor() {
    this.emitter.setMaxListeners(0);
  }
  changed(): void {
    this.emitter.emit('change');
  }
  waitUntil(predicate: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.emitter.off('change', check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.emitter.off('change', check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`));
      }, timeoutMs);
      this.emitter.on('change', check);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP receiver (webhooks, and the base of the Slack incoming-webhook fake)

export interface RecordedRequest {
  method: string;
  /** Path and query, e.g. `/hooks/a?x=1`. */
  path: string;
  /** Lower-case names, as node:http gives them. */
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body as UTF-8 text. */
  text: string;
  /** The body parsed as JSON (throws when it is not JSON). */
  json<T = unknown>(): T;
  /** The id of the event a default webhook body carries (`{"event": {"id": ...}, ...}`). */
  eventId(): string;
  /** Date.now() when the request had been fully read. */
  at: number;
  /** 0-based index among the requests this receiver got. */
  index: number;
}

/**
 * How the receiver answers one request:
 * - a number: that status with a short text body;
 * - 'hang': read the request, never answer (until the client gives up or close());
 * - 'reset': destroy the connection without answering;
 * - an object: status (200), headers, body (an object is sent as JSON), `delayMs` before answering,
 *   `hangBody`: send the status and headers, then never finish the body.
 */
export type HttpReply =
  | number
  | 'hang'
  | 'reset'
  | { status?: number; headers?: Record<string, string>; body?: string | object; delayMs?: number; hangBody?: boolean };

export type HttpReplyScript = HttpReply | ((req: RecordedRequest) => HttpReply);

export interface HttpReceiver {
  /** Base URL, `http://127.0.0.1:<port>` (no trailing slash). */
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Requests whose client went away before an answer was complete (timeouts, aborts). */
  disconnects: number;
  /** Queues answers, one per coming request, in order; when the queue is empty the default answers. */
  reply(...replies: HttpReplyScript[]): HttpReceiver;
  /** The answer when nothing is queued (initially 200). */
  setDefault(reply: HttpReplyScript): HttpReceiver;
  /** Resolves with the requests once at least `count` have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  /** Resolves once at least `count` clients have gone away before their answer was complete. */
  waitForDisconnects(count: number, timeoutMs?: number): Promise<void>;
  waitUntil(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Client connections open now (keep-alive sockets included). */
  openConnections(): number;
  close(): Promise<void>;
}

export interface HttpReceiverOptions {
  /** Default answer (initially 200). */
  defaultReply?: HttpReplyScript;
  /** Text body for a bare-number answer; default: `status <n>`. */
  statusText?: (status: number) => string;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeHttp(server: Server, sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
    for (const s of sockets) s.destroy();
  });
}

export async function startHttpReceiver(opts: HttpReceiverOptions = {}): Promise<HttpReceiver> {
  const changes = new Changes();
  const queue: HttpReplyScript[] = [];
  let fallback: HttpReplyScript = opts.defaultReply ?? 200;
  const statusText = opts.statusText ?? ((s: number) => `status ${s}`);
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const resets = new WeakSet<ServerResponse>();
  let closing = false;

  const receiver: HttpReceiver = {
    url: '',
    port: 0,
    requests: [],
    disconnects: 0,
    reply(...replies) {
      queue.push(...replies);
      return receiver;
    },
    setDefault(reply) {
      fallback = reply;
      return receiver;
    },
    async waitFor(count, timeoutMs = DEFAULT_WAIT_MS) {
      await changes.waitUntil(
        () => receiver.requests.length >= count,
        timeoutMs,
        () => `${count} request(s) (got ${receiver.requests.length})`,
      );
      return receiver.requests;
    },
    waitForDisconnects(count, timeoutMs = DEFAULT_WAIT_MS) {
      return changes.waitUntil(
        () => receiver.disconnects >= count,
        timeoutMs,
        () => `${count} client disconnect(s) (got ${receiver.disconnects})`,
      );
    },
    waitUntil(predicate, timeoutMs = DEFAULT_WAIT_MS, what = 'a condition') {
      return changes.waitUntil(predicate, timeoutMs, () => what);
    },
    openConnections: () => sockets.size,
    async close() {
      closing = true;
      for (const t of timers) clearTimeout(t);
      await closeHttp(server, sockets);
    },
  };

  const answer = (rec: RecordedRequest, req: IncomingMessage, res: ServerResponse): void => {
    const script = queue.length > 0 ? (queue.shift() as HttpReplyScript) : fallback;
    const reply = typeof script === 'function' ? script(rec) : script;
    if (reply === 'hang') return;
    if (reply === 'reset') {
      resets.add(res);
      req.socket.destroy();
      return;
    }
    const r = typeof reply === 'number' ? { status: reply, body: statusText(reply) } : reply;
    const send = (): void => {
      if (res.destroyed) return;
      const status = r.status ?? 200;
      const headers: Record<string, string> = { ...(r.headers ?? {}) };
      let body: string | undefined;
      if (r.body === undefined) body = status === 204 || status === 304 ? undefined : '';
      else if (typeof r.body === 'string') body = r.body;
      else {
        body = JSON.stringify(r.body);
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
      }
      if (r.hangBody) {
        res.writeHead(status, headers);
        res.write(body ?? '');
        return;
      }
      res.writeHead(status, headers);
      res.end(body);
    };
    if (r.delayMs && r.delayMs > 0) {
      const t = setTimeout(() => {
        timers.delete(t);
        send();
      }, r.delayMs);
      timers.add(t);
    } else send();
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      const rec: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        text,
        json: <T>() => JSON.parse(text) as T,
        eventId: () => (JSON.parse(text) as { event: { id: string } }).event.id,
        at: Date.now(),
        index: receiver.requests.length,
      };
      res.on('close', () => {
        if (!res.writableFinished && !closing && !resets.has(res)) {
          receiver.disconnects++;
          changes.changed();
        }
      });
      receiver.requests.push(rec);
      try {
        answer(rec, req, res);
      } finally {
        changes.changed();
      }
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  receiver.port = await listen(server);
  receiver.url = `http://127.0.0.1:${receiver.port}`;
  return receiver;
}

// ---------------------------------------------------------------------------------------------
// Slack incoming webhook

/** What Slack's incoming webhooks answer, as text, for an error status. */
const SLACK_WEBHOOK_TEXT: Record<number, string> = {
  400: 'invalid_payload',
  403: 'action_prohibited',
  404: 'no_service',
  410: 'channel_is_archived',
  429: 'rate_limited',
  500: 'rollup_error',
};

export interface FakeSlackWebhook extends HttpReceiver {
  /** The full webhook URL to put in a destination (`<url>/services/T000/B000/XXXX`). */
  webhookUrl: string;
  /** The JSON payloads received, in order. */
  payloads(): Array<{ text?: string; blocks?: unknown[]; [k: string]: unknown }>;
}

/**
 * A Slack incoming webhook: answers 200 `ok`; a bare-number reply answers with Slack's text for it
 * (404 `no_service`, 400 `invalid_payload`, 410 `channel_is_archived`, ...).
 */
export async function startFakeSlackWebhook(): Promise<FakeSlackWebhook> {
  const base = await startHttpReceiver({
    defaultReply: { status: 200, body: 'ok', headers: { 'content-type': 'text/html' } },
    statusText: (s) => SLACK_WEBHOOK_TEXT[s] ?? (s >= 500 ? 'internal_error' : 'ok'),
  });
  const hook = base as FakeSlackWebhook;
  hook.webhookUrl = `${base.url}/services/T000/B000/XXXXXXXXXXXXXXXX`;
  hook.payloads = () => base.requests.map((r) => r.json());
  return hook;
}

// ---------------------------------------------------------------------------------------------
// Slack Web API

export interface SlackCall {
  /** e.g. `chat.postMessage`. */
  method: string;
  /** The bearer token sent, or null. */
  token: string | null;
  /** The arguments: form fields (JSON-looking values such as `blocks` parsed) or the JSON body. */
  args: Record<string, unknown>;
  contentType: string;
  at: number;
}

/**
 * How the fake Slack Web API answers one call:
 * - 'ok': `{ok: true, channel, ts, message}`;
 * - 'hang': never answer;
 * - any other string: `{ok: false, error: <string>}` with HTTP 200 (Slack's platform errors);
 *   'ratelimited' is answered as Slack does: HTTP 429 with `Retry-After: 1`;
 * - a number: that HTTP status with a short body;
 * - `{ ratelimited: seconds | header }`: HTTP 429, `Retry-After` set to it, `{ok:false,error:'ratelimited'}`;
 * - `{ status, headers?, body? }`: exactly that.
 */
export type SlackApiReply =
  | 'ok'
  | 'hang'
  | string
  | number
  | { ratelimited: number | string }
  | { status: number; headers?: Record<string, string>; body?: string | object };

export interface FakeSlackApi {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** What SLACK_API_URL / ChannelEnv.slackApiUrl should be: `<url>/api/`. */
  apiUrl: string;
  port: number;
  calls: SlackCall[];
  /** Queues answers, one per coming call; when the queue is empty the default answers ('ok'). */
  reply(...replies: SlackApiReply[]): FakeSlackApi;
  setDefault(reply: SlackApiReply): FakeSlackApi;
  waitFor(count: number, timeoutMs?: number): Promise<SlackCall[]>;
  waitUntil(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

function parseSlackArgs(contentType: string, text: string): Record<string, unknown> {
  if (contentType.includes('application/json')) {
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch {
      return { _raw: text };
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(text)) {
    if (/^\s*[[{]/.test(v)) {
      try {
        out[k] = JSON.parse(v);
        continue;
      } catch {
        // keep the string
      }
    }
    out[k] = v;
  }
  return out;
}

export async function startFakeSlackApi(): Promise<FakeSlackApi> {
  let seq = 0;
  const toHttp = (reply: SlackApiReply, call: SlackCall): HttpReply => {
    if (reply === 'hang') return 'hang';
    if (reply === 'ok') {
      seq++;
      const ts = `1700000000.${String(seq).padStart(6, '0')}`;
      return {
        status: 200,
        body: { ok: true, channel: String(call.args.channel ?? 'C0000000000'), ts, message: { type: 'message', text: call.args.text, ts } },
      };
    }
    if (reply === 'ratelimited') {
      return { status: 429, headers: { 'retry-after': '1' }, body: { ok: false, error: 'ratelimited' } };
    }
    if (typeof reply === 'string') return { status: 200, body: { ok: false, error: reply } };
    if (typeof reply === 'number') return { status: reply, headers: { 'content-type': 'text/plain' }, body: `status ${reply}` };
    if ('ratelimited' in reply) {
      return { status: 429, headers: { 'retry-after': String(reply.ratelimited) }, body: { ok: false, error: 'ratelimited' } };
    }
    return reply;
  };

  const queue: SlackApiReply[] = [];
  let fallback: SlackApiReply = 'ok';
  const calls: SlackCall[] = [];
  const base = await startHttpReceiver({
    defaultReply: (req) => {
      const contentType = String(req.headers['content-type'] ?? '');
      const auth = String(req.headers.authorization ?? '');
      const args = parseSlackArgs(contentType, req.text);
      const method = req.path.replace(/^\/api\//, '').replace(/\?.*$/, '');
      const bodyToken = typeof args.token === 'string' ? args.token : null;
      const call: SlackCall = {
        method,
        token: auth.startsWith('Bearer ') ? auth.slice(7) : bodyToken,
        args,
        contentType,
        at: req.at,
      };
      calls.push(call);
      const reply = queue.length > 0 ? (queue.shift() as SlackApiReply) : fallback;
      return toHttp(reply, call);
    },
  });
  const api: FakeSlackApi = {
    url: base.url,
    apiUrl: `${base.url}/api/`,
    port: base.port,
    calls,
    reply(...replies) {
      queue.push(...replies);
      return api;
    },
    setDefault(reply) {
      fallback = reply;
      return api;
    },
    async waitFor(count, timeoutMs = DEFAULT_WAIT_MS) {
      await base.waitUntil(() => calls.length >= count, timeoutMs, `${count} Slack call(s) (got ${calls.length})`);
      return calls;
    },
    waitUntil: (predicate, timeoutMs, what) => base.waitUntil(predicate, timeoutMs, what),
    close: () => base.close(),
  };
  return api;
}

// ---------------------------------------------------------------------------------------------
// SMTP

export interface ReceivedMail {
  /** MAIL FROM address. */
  from: string;
  /** RCPT TO addresses. */
  to: string[];
  /** The message as received (after dot-unstuffing). */
  raw: string;
  /** Header names lower-case; the value of the first occurrence, unfolded and decoded. */
  headers: Record<string, string>;
  subject: string;
  text: string | null;
  html: string | null;
  /** The user name if the client authenticated. */
  user: string | null;
  at: number;
}

export type SmtpStage = 'mail' | 'rcpt' | 'data';

export interface FakeSmtpServer {
  host: string;
  port: number;
  /** `smtp://127.0.0.1:<port>`, for SMTP_URL or a destination's smtp_url. */
  url: string;
  messages: ReceivedMail[];
  /** Failures queued per stage: the next MAIL FROM / RCPT TO / DATA gets `code message`. */
  failNext(stage: SmtpStage, code: number, message?: string): FakeSmtpServer;
  /** The next command of that stage is never answered (for timeouts). */
  hangNext(stage: SmtpStage): FakeSmtpServer;
  /** Number of connections opened so far. */
  connections: number;
  /** Number of commands left unanswered by hangNext() so far. */
  hung: number;
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  waitUntil(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

type StageScript = { code: number; message: string } | 'hang';

export async function startSmtpServer(): Promise<FakeSmtpServer> {
  const changes = new Changes();
  const scripts: Record<SmtpStage, StageScript[]> = { mail: [], rcpt: [], data: [] };
  const smtpError = (s: { code: number; message: string }): Error => Object.assign(new Error(s.message), { responseCode: s.code });
  /** Runs the stage's next script: true when handled (failed or hung), false to carry on. */
  const scripted = (stage: SmtpStage, callback: (err?: Error | null) => void): boolean => {
    const s = scripts[stage].shift();
    if (s === undefined) return false;
    if (s !== 'hang') callback(smtpError(s));
    else fake.hung++;
    changes.changed();
    return true;
  };

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    logger: false,
    closeTimeout: 200,
    size: 10 * 1024 * 1024,
    onConnect(_session, callback) {
      fake.connections++;
      changes.changed();
      callback();
    },
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? 'user' });
    },
    onMailFrom(_address, _session, callback) {
      if (!scripted('mail', callback)) callback();
    },
    onRcptTo(_address, _session, callback) {
      if (!scripted('rcpt', callback)) callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (scripted('data', callback)) return;
        const raw = Buffer.concat(chunks);
        const parsed = parseMime(raw);
        const user = (session as { user?: unknown }).user;
        fake.messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((a) => a.address),
          raw: raw.toString('utf8'),
          headers: parsed.headers,
          subject: parsed.headers.subject ?? '',
          text: parsed.text,
          html: parsed.html,
          user: typeof user === 'string' ? user : null,
          at: Date.now(),
        });
        callback(null, 'Queued as fake');
        changes.changed();
      });
    },
  });

  const fake: FakeSmtpServer = {
    host: '127.0.0.1',
    port: 0,
    url: '',
    messages: [],
    connections: 0,
    hung: 0,
    failNext(stage, code, message) {
      scripts[stage].push({ code, message: message ?? (code >= 500 ? 'Permanent failure (scripted)' : 'Try again later (scripted)') });
      return fake;
    },
    hangNext(stage) {
      scripts[stage].push('hang');
      return fake;
    },
    async waitFor(count, timeoutMs = DEFAULT_WAIT_MS) {
      await changes.waitUntil(
        () => fake.messages.length >= count,
        timeoutMs,
        () => `${count} message(s) (got ${fake.messages.length})`,
      );
      return fake.messages;
    },
    waitUntil(predicate, timeoutMs = DEFAULT_WAIT_MS, what = 'a condition') {
      return changes.waitUntil(predicate, timeoutMs, () => what);
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
      });
    },
  };

  await new Promise<void>((resolve, reject) => {
    server.on('error', (err: Error) => reject(err));
    server.listen(0, '127.0.0.1', () => resolve());
  });
  fake.port = (server.server.address() as AddressInfo).port;
  fake.url = `smtp://127.0.0.1:${fake.port}`;
  return fake;
}

// ---------------------------------------------------------------------------------------------
// Minimal MIME reading (enough for what nodemailer writes: multipart/*, quoted-printable, base64,
// 7bit/8bit, RFC 2047 encoded words in headers).

export interface ParsedMime {
  headers: Record<string, string>;
  text: string | null;
  html: string | null;
}

function decodeBytes(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset || 'utf-8').decode(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}

function qpBytes(s: string, underscoreIsSpace: boolean): Buffer {
  const src = underscoreIsSpace ? s.replace(/_/g, ' ') : s.replace(/=\r?\n/g, '');
  const out: number[] = [];
  for (let i = 0; i < src.length; i++) {
    const c = src[i] as string;
    if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(src.slice(i + 1, i + 3))) {
      out.push(parseInt(src.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(src.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(out);
}

const ENCODED_WORD = /=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g;

/** Decodes RFC 2047 encoded words (adjacent words joined, as the RFC says). */
export function decodeHeaderValue(value: string): string {
  const joined = value.replace(/(=\?[^?]+\?[QqBb]\?[^?]*\?=)\s+(?==\?[^?]+\?[QqBb]\?[^?]*\?=)/g, '$1');
  return joined.replace(ENCODED_WORD, (_m, charset: string, enc: string, data: string) => {
    const bytes = enc.toUpperCase() === 'B' ? Buffer.from(data, 'base64') : qpBytes(data, true);
    return decodeBytes(bytes, charset.replace(/\*.*$/, ''));
  });
}

function param(value: string, name: string): string | null {
  const m = new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]*))`, 'i').exec(value);
  return m ? (m[1] ?? m[2] ?? null) : null;
}

/** Splits a latin1-decoded entity into its header block (unfolded) and its body. */
function splitEntity(entity: string): { headers: Record<string, string>; body: string } {
  const sep = /\r?\n\r?\n/.exec(entity);
  const head = sep ? entity.slice(0, sep.index) : entity;
  const body = sep ? entity.slice(sep.index + sep[0].length) : '';
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    if (!(name in headers)) headers[name] = line.slice(i + 1).trim();
  }
  return { headers, body };
}

export function parseMime(raw: Buffer | string): ParsedMime {
  const latin1 = Buffer.isBuffer(raw) ? raw.toString('latin1') : Buffer.from(raw, 'utf8').toString('latin1');
  const result: ParsedMime = { headers: {}, text: null, html: null };
  const walk = (entity: string, top: boolean): void => {
    const { headers, body } = splitEntity(entity);
    if (top) {
      for (const [k, v] of Object.entries(headers)) {
        result.headers[k] = decodeHeaderValue(Buffer.from(v, 'latin1').toString('utf8'));
      }
    }
    const type = headers['content-type'] ?? 'text/plain';
    const mediaType = (type.split(';')[0] ?? '').trim().toLowerCase();
    if (mediaType.startsWith('multipart/')) {
      const boundary = param(type, 'boundary');
      if (!boundary) return;
      const delimiter = `--${boundary}`;
      const pieces = body.split(new RegExp(`\\r?\\n?${delimiter.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      // pieces[0] is the preamble; a piece starting with "--" is the end (epilogue follows).
      for (const piece of pieces.slice(1)) {
        if (piece.startsWith('--')) break;
        walk(piece.replace(/^[ \t]*\r?\n/, ''), false);
      }
      return;
    }
    const disposition = (headers['content-disposition'] ?? '').toLowerCase();
    if (disposition.startsWith('attachment')) return;
    const cte = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
    const charset = param(type, 'charset') ?? 'utf-8';
    let bytes: Buffer;
    if (cte === 'base64') bytes = Buffer.from(body.replace(/\s+/g, ''), 'base64');
    else if (cte === 'quoted-printable') bytes = qpBytes(body, false);
    else bytes = Buffer.from(body, 'latin1');
    const text = decodeBytes(bytes, charset);
    if (mediaType === 'text/plain' && result.text === null) result.text = text;
    else if (mediaType === 'text/html' && result.html === null) result.html = text;
  };
  walk(latin1, true);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Fixtures for channel tests: notifications and destinations built by hand.

/** A tiny `{{path}}` template for tests (no escaping beyond JSON.stringify for 'json'). */
export function testTemplate(source: string): Template {
  return {
    source,
    render(event: EventObject, escape: TemplateEscape): string {
      return source.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_m, path: string) => {
        let cur: unknown = event;
        for (const p of path.split('.')) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
        const v = cur === undefined || cur === null ? '' : typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
        return escape === 'json' ? JSON.stringify(v).slice(1, -1) : v;
      });
    },
  };
}

export interface NotificationInit {
  deliveryId?: string;
  attempt?: number;
  rule?: string;
  /** The raw event text; `event` is parsed from it unless given. */
  rawEvent?: string;
  event?: EventObject;
  /** What the rule's message renders to; a function gets the escape. */
  message?: string | ((escape: TemplateEscape) => string);
  test?: boolean;
}

/** A notification for a destination: the payload composed by the router's own compose(). */
export interface Notification {
  destination: Destination;
  payload: Composed;
}

export function notification(destination: Destination, init: NotificationInit = {}): Notification {
  const raw = init.rawEvent ?? JSON.stringify(init.event ?? sampleEvent());
  const event = init.event ?? (JSON.parse(raw) as EventObject);
  const type = typeof event.type === 'string' ? event.type : null;
  const message = init.message ?? ((escape: TemplateEscape) => `${type ?? 'event'} (${escape})`);
  const template = { source: '(test)', render: (_e: EventObject, escape: TemplateEscape) => (typeof message === 'function' ? message(escape) : message) };
  const ruleName = init.rule ?? 'test-rule';
  const { payload } = compose({
    destination,
    rule: { name: ruleName, message: template },
    ruleName,
    event,
    raw,
    type,
    deliveryId: init.deliveryId ?? 'dlv_test_0001',
    attempt: init.attempt ?? 1,
    fields: DEFAULT_EVENT_FIELDS,
    now: Date.now(),
    // A ping's marker, with the message as its text.
    ...(init.test ? { test: { text: typeof message === 'function' ? message('none') : message } } : {}),
  });
  return { destination, payload };
}

/**
 * Sends notifications through real channels, one per destination as the worker's registry makes
 * them (ChannelRegistry), so a suite can send to many destinations through one object.
 */
export class PerDestination {
  private readonly registry: ChannelRegistry;
  constructor(env: ChannelEnv = { slackBotToken: null, slackApiUrl: null, smtpUrl: null }) {
    this.registry = new ChannelRegistry(env);
  }

  async send(n: Notification, signal: AbortSignal): Promise<SendResult> {
    const lease = this.registry.lease(n.destination);
    try {
      return await lease.channel.send(n.payload, signal);
    } finally {
      lease.release();
    }
  }

  close(): Promise<void> {
    return this.registry.close();
  }
}

export function sampleEvent(overrides: EventObject = {}): EventObject {
  return {
    id: 'evt_123',
    type: 'run.failed',
    createdAt: '2024-05-01T12:00:00Z',
    data: {
      workflowId: 'wf_payroll',
      workflowName: 'Payroll',
      runId: 'run_42',
      runUrl: 'https://app.b3os.org/runs/run_42',
      error: { message: 'insufficient funds' },
    },
    ...overrides,
  };
}

function delivery(overrides: Partial<DeliverySettings>): DeliverySettings {
  return { ...DEFAULT_DELIVERY, ...overrides };
}

const base = (name: string) => ({ name, line: 1, enabled: true, privileged: false });

export function slackDestination(o: Partial<Omit<SlackDestination, 'delivery'>> & { delivery?: Partial<DeliverySettings> } = {}): SlackDestination {
  return {
    ...base(o.name ?? 'ops-slack'),
    type: 'slack',
    channel: o.channel === undefined ? (o.webhookUrl ? null : '#b3os-alerts') : o.channel,
    token: o.token ?? null,
    webhookUrl: o.webhookUrl ?? null,
    ...(o.linkHosts !== undefined ? { linkHosts: o.linkHosts } : {}),
    ...(o.enabled !== undefined ? { enabled: o.enabled } : {}),
    delivery: delivery(o.delivery ?? {}),
  };
}

export function emailDestination(o: Partial<Omit<EmailDestination, 'delivery'>> & { delivery?: Partial<DeliverySettings> } = {}): EmailDestination {
  return {
    ...base(o.name ?? 'oncall-email'),
    type: 'email',
    to: o.to ?? ['oncall@example.com'],
    cc: o.cc ?? [],
    from: o.from ?? 'b3os-router@example.com',
    subject: o.subject ?? null,
    smtpUrl: o.smtpUrl ?? null,
    delivery: delivery(o.delivery ?? {}),
  };
}

export function webhookDestination(
  o: Partial<Omit<WebhookDestination, 'delivery'>> & { url: string; delivery?: Partial<DeliverySettings> },
): WebhookDestination {
  return {
    ...base(o.name ?? 'billing-sync'),
    type: 'webhook',
    url: o.url,
    method: o.method ?? 'POST',
    headers: o.headers ?? {},
    secret: o.secret ?? null,
    body: o.body ?? null,
    delivery: delivery(o.delivery ?? {}),
  };
}
