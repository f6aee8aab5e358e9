// Email through nodemailer: the composed message (delivery/compose.ts) over one pooled SMTP
// transport per destination, made on first send. SMTP 4xx answers are retried, 5xx are permanent (contract §4).
import type { createTransport as CreateTransport } from 'nodemailer';
import { createRequire } from 'node:module';

// Loaded on first use: a router with no email destination never pays for the library.
const require = createRequire(import.meta.url);
let nodemailer: { createTransport: typeof CreateTransport } | null = null;
const createTransport: typeof CreateTransport = ((...args: Parameters<typeof CreateTransport>) => {
  if (!nodemailer) nodemailer = require('nodemailer') as { createTransport: typeof CreateTransport };
  return nodemailer.createTransport(...args);
}) as typeof CreateTransport;
import type { EmailDestination } from '../../config/types.js';
import type { Composed } from '../compose.js';
import type { Channel, ChannelEnv, SendResult } from './channel.js';
import { deadline } from './deadline.js';
import { oneLine, whenAborted } from './http.js';

type Transport = ReturnType<typeof CreateTransport>;

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
  private pool: Transport | null = null;
  private closed = false;

  constructor(
    private readonly dest: EmailDestination,
    private readonly env: ChannelEnv,
  ) {}

  private transport(url: string, timeoutMs: number): Transport {
    let t = this.pool;
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
      this.pool = t;
    }
    return t;
  }

  async send(mail: Composed, signal: AbortSignal): Promise<SendResult> {
    const dest = this.dest;
    if (mail.kind !== 'email') {
      return { outcome: 'permanent', code: null, error: `destination ${dest.name} is email, not ${mail.kind}` };
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
    if (mail.to.length === 0 && mail.cc.length === 0) {
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
      return {
        outcome: 'permanent',
        code: null,
        error: `email destination ${dest.name} has an unusable SMTP URL: ${oneLine(String((err as Error).message ?? err), 200)}`,
      };
    }

    const d = deadline(signal, timeoutMs);
    const aborted = whenAborted(d.signal);
    try {
      const sending = transport.sendMail({
        from: mail.from,
        to: mail.to,
        ...(mail.cc.length > 0 ? { cc: mail.cc } : {}),
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        headers: mail.headers,
        signal: d.signal,
      });
      const info = await Promise.race([sending, aborted.promise.then(() => null)]);
      if (info === null) {
        sending.catch(() => {});
        return d.timedOut()
          ? { outcome: 'retry', code: 'timeout', error: `${what} did not finish within ${timeoutMs} ms` }
          : { outcome: 'retry', code: 'aborted', error: `the send to ${what} was aborted (shutting down?)` };
      }
      const addr = (a: unknown): string => (typeof a === 'string' ? a : String((a as { address?: unknown } | null)?.address ?? a));
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
    this.pool?.close();
    this.pool = null;
  }
}
