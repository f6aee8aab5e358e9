// Email through nodemailer: one pooled SMTP transport per (SMTP URL, timeout), text and HTML
// bodies, a rendered subject. SMTP 4xx answers are retried, 5xx are permanent (contract §4).
import type { createTransport as CreateTransport } from 'nodemailer';
import { createRequire } from 'node:module';

// Loaded on first use: a router with no email destination never pays for the library.
const require = createRequire(import.meta.url);
let nodemailer: { createTransport: typeof CreateTransport } | null = null;
const createTransport: typeof CreateTransport = ((...args: Parameters<typeof CreateTransport>) =>
  (nodemailer ??= require('nodemailer') as { createTransport: typeof CreateTransport }).createTransport(...args)) as typeof CreateTransport;
import type { EmailDestination } from '../../config/types.js';
import { digestSubject } from '../../dispatch/digest.js';
import type { Channel, ChannelEnv, Notification, SendResult } from './channel.js';
import { deadline, oneLine, whenAborted } from './http.js';

type Transport = ReturnType<typeof CreateTransport>;

export const TEST_SUBJECT_PREFIX = '[TEST b3os-router] ';

/** `B3OS <type>: <workflow>`, the subject when the destination has none (or it fails to render). */
export function defaultSubject(n: Notification): string {
  if (n.digest) return oneLine(digestSubject(n.digest, n.rule), 200); // noise control: a digest's own default
  const data = n.event.data;
  const d = data !== null && typeof data === 'object' && !Array.isArray(data) ? data : {};
  const pick = (...vals: unknown[]): string | null => {
    for (const v of vals) if ((typeof v === 'string' && v.trim() !== '') || typeof v === 'number') return String(v);
    return null;
  };
  const workflow = pick(d.workflowName, d.workflowId, n.event.workflowName, n.event.workflowId);
  const type = n.eventType ?? 'event';
  return oneLine(workflow ? `B3OS ${type}: ${workflow}` : `B3OS ${type}`, 200);
}

export function emailSubject(n: Notification, dest: EmailDestination): string {
  // A subject is one line: a template value with a newline must not fold into a header.
  const subject = oneLine(n.render(dest.subject, 'none', () => defaultSubject(n)), 900) || defaultSubject(n);
  return n.test ? `${TEST_SUBJECT_PREFIX}${subject}` : subject;
}

/** The HTML body: the rule's message (already HTML-escaped by the template) in a minimal document. */
export function emailHtml(n: Notification, subjectText: string): string {
  const esc = (s: string): string =>
    s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const body = n.message('html').replace(/\r?\n/g, '<br>\n');
  const note = n.test ? '<p><em>This is a test message from b3os-router.</em></p>\n' : '';
  return (
    '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n' +
    `<title>${esc(subjectText)}</title>\n</head>\n<body>\n${note}<p>${body}</p>\n` +
    `<p style="color:#888;font-size:small">Sent by b3os-router, rule ${esc(n.rule)}.</p>\n</body>\n</html>\n`
  );
}

export function emailText(n: Notification): string {
  const text = n.message('none');
  return n.test ? `This is a test message from b3os-router.\n\n${text}\n` : `${text}\n`;
}

interface SmtpErrorLike {
  code?: unknown;
  responseCode?: unknown;
  response?: unknown;
  command?: unknown;
  message?: unknown;
}

/** Classifies a nodemailer error: SMTP 4xx retry, 5xx permanent, no SMTP answer retry. */
export function classifySmtpError(err: unknown, what: string): SendResult {
  const e = (err ?? {}) as SmtpErrorLike;
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : null;
  const command = typeof e.command === 'string' ? ` to ${e.command.split(' ')[0]}` : '';
  const reply = typeof e.response === 'string' ? oneLine(e.response, 200) : null;
  const message = typeof e.message === 'string' ? oneLine(e.message, 200) : String(err);
  if (responseCode !== null && responseCode >= 500 && responseCode < 600) {
    return { outcome: 'permanent', code: String(responseCode), error: `${what} rejected the message${command}: ${reply ?? message}` };
  }
  if (responseCode !== null && responseCode >= 400 && responseCode < 500) {
    return { outcome: 'retry', code: String(responseCode), error: `${what} deferred the message${command}: ${reply ?? message}` };
  }
  const code = typeof e.code === 'string' ? e.code : null;
  if (code === 'ENOAUTH' || code === 'ECONFIG') {
    return { outcome: 'permanent', code, error: `${what}: ${message}` };
  }
  return { outcome: 'retry', code: responseCode !== null ? String(responseCode) : code, error: `${what} failed: ${message}` };
}

/** What an SMTP URL may be shown as in messages: no credentials. */
function smtpHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}`;
  } catch {
    return 'the SMTP server';
  }
}

export class EmailChannel implements Channel {
  private readonly transports = new Map<string, Transport>();
  private closed = false;

  constructor(private readonly env: ChannelEnv) {}

  private transport(url: string, timeoutMs: number): Transport {
    const key = `${timeoutMs}\u0000${url}`;
    let t = this.transports.get(key);
    if (!t) {
      t = createTransport({
        pool: true,
        url,
        maxConnections: 5,
        // A connection closed under a message puts it back on the queue once; past that the outbox retries.
        maxRequeues: 1,
        connectionTimeout: timeoutMs,
        greetingTimeout: timeoutMs,
        socketTimeout: timeoutMs,
        dnsTimeout: timeoutMs,
        logger: false,
        debug: false,
      });
      this.transports.set(key, t);
    }
    return t;
  }

  async send(n: Notification, signal: AbortSignal): Promise<SendResult> {
    const dest = n.destination;
    if (dest.type !== 'email') {
      return { outcome: 'permanent', code: null, error: `destination ${dest.name} is not an email destination (type ${dest.type})` };
    }
    if (this.closed) return { outcome: 'retry', code: null, error: 'the email channel is closed (shutting down)' };
    const url = dest.smtpUrl ?? this.env.smtpUrl;
    if (!url) {
      return {
        outcome: 'permanent',
        code: null,
        error: `email destination ${dest.name} has no SMTP server: set SMTP_URL (e.g. smtp://user:pass@host:587) or the destination's smtp_url`,
      };
    }
    if (dest.to.length === 0 && dest.cc.length === 0) {
      return { outcome: 'permanent', code: null, error: `email destination ${dest.name} has no recipients` };
    }
    let scheme: string;
    try {
      scheme = new URL(url).protocol;
    } catch {
      scheme = '';
    }
    if (scheme !== 'smtp:' && scheme !== 'smtps:') {
      return {
        outcome: 'permanent',
        code: null,
        error: `email destination ${dest.name}: the SMTP URL must look like smtp://user:pass@host:587 or smtps://host:465`,
      };
    }
    const what = `SMTP server ${smtpHost(url)}`;
    const timeoutMs = dest.delivery.timeoutMs;
    let transport: Transport;
    try {
      transport = this.transport(url, timeoutMs);
    } catch (err) {
      return { outcome: 'permanent', code: null, error: `email destination ${dest.name} has an unusable SMTP URL: ${oneLine(String((err as Error).message ?? err), 200)}` };
    }

    const subject = emailSubject(n, dest);
    const d = deadline(signal, timeoutMs);
    const aborted = whenAborted(d.signal);
    try {
      const sending = transport.sendMail({
        from: dest.from,
        to: dest.to,
        ...(dest.cc.length > 0 ? { cc: dest.cc } : {}),
        subject,
        text: emailText(n),
        html: emailHtml(n, subject),
        headers: { 'X-B3OS-Router-Delivery': n.deliveryId, 'X-B3OS-Router-Rule': n.rule },
        signal: d.signal,
      });
      const info = await Promise.race([sending, aborted.promise.then(() => null)]);
      if (info === null) {
        sending.catch(() => {});
        return d.timedOut()
          ? { outcome: 'retry', code: 'timeout', error: `${what} did not finish within ${timeoutMs} ms` }
          : { outcome: 'retry', code: 'aborted', error: `the send to ${what} was aborted (shutting down?)` };
      }
      const addr = (a: unknown): string =>
        typeof a === 'string' ? a : String((a as { address?: unknown } | null)?.address ?? a);
      const rejected: string[] = Array.isArray(info.rejected) ? info.rejected.map(addr) : [];
      const accepted: string[] = Array.isArray(info.accepted) ? info.accepted.map(addr) : [];
      const response = typeof info.response === 'string' ? oneLine(info.response, 200) : '';
      const code = /^\d{3}/.exec(response)?.[0] ?? '250';
      const result: SendResult = { outcome: 'delivered', code };
      if (rejected.length > 0) {
        // Some recipients were refused: the others got it, so sending again would duplicate.
        result.detail = `accepted for ${accepted.length} recipient(s); refused for ${rejected.join(', ')}`;
      }
      return result;
    } catch (err) {
      if (d.timedOut()) return { outcome: 'retry', code: 'timeout', error: `${what} did not finish within ${timeoutMs} ms` };
      if (d.callerAborted()) return { outcome: 'retry', code: 'aborted', error: `the send to ${what} was aborted (shutting down?)` };
      return classifySmtpError(err, what);
    } finally {
      aborted.dispose();
      d.dispose();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.transports.values()];
    this.transports.clear();
    for (const t of all) t.close();
  }
}
