// Slack: Web API chat.postMessage through @slack/web-api (its own retry loop off, rate-limited
// calls rejected, so the outbox owns every retry), or a Slack incoming webhook via fetch.
import type { FetchFunction, LogLevel, Logger } from '@slack/web-api';

// Loaded on first use: a router with no Slack destination never pays for the library.
let slackLib: Promise<typeof import('@slack/web-api')> | null = null;
const loadSlack = () =>
  (slackLib ??= import('@slack/web-api').catch((err: unknown) => {
    slackLib = null; // not cached: the next send tries again
    throw err;
  }));
import type { SlackDestination } from '../../config/types.js';
import type { Composed, SlackPayload } from '../compose.js';
import type { Channel, ChannelEnv, SendResult } from './channel.js';
import { deadline, type Deadline } from './deadline.js';
import { classifyStatus, networkFailure, oneLine, readSnippet, secondsToMs, whenAborted } from './http.js';

/**
 * Slack errors that will not change by retrying: bad channel, bad or revoked credentials, missing
 * permissions, a message Slack refuses. Everything else Slack reports is retried.
 */
export const PERMANENT_SLACK_ERRORS: ReadonlySet<string> = new Set([
  // where to post
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'channel_is_archived',
  'no_service',
  'no_team',
  'no_active_hooks',
  'team_disabled',
  'team_not_found',
  'restricted_action',
  'restricted_action_read_only_channel',
  'restricted_action_thread_only_channel',
  'restricted_action_non_threadable_channel',
  'action_prohibited',
  'posting_to_general_channel_denied',
  'cannot_reply_to_message',
  'ekm_access_denied',
  // who is posting
  'invalid_auth',
  'not_authed',
  'invalid_token',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'no_permission',
  'missing_scope',
  'not_allowed_token_type',
  'access_denied',
  'org_login_required',
  'team_access_not_granted',
  'two_factor_setup_required',
  'enterprise_is_restricted',
  'user_not_found',
  'as_user_not_supported',
  // what is posted
  'msg_too_long',
  'no_text',
  'invalid_blocks',
  'invalid_blocks_format',
  'invalid_attachments',
  'too_many_attachments',
  'invalid_payload',
  'invalid_arguments',
  'invalid_arg_name',
  'invalid_array_arg',
  'invalid_charset',
  'invalid_form_data',
  'invalid_post_type',
  'missing_post_type',
  'missing_text_or_fallback_or_attachments',
  'invalid_metadata_format',
  'invalid_metadata_schema',
  'metadata_too_large',
  'method_deprecated',
  'deprecated_endpoint',
  'unknown_method',
]);

const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  setLevel() {},
  getLevel: () => 'error' as LogLevel,
  setName() {},
};

interface SlackErrorLike {
  code?: unknown;
  data?: { error?: unknown; response_metadata?: { retryAfter?: unknown } };
  retryAfter?: unknown;
  statusCode?: unknown;
  headers?: Record<string, string>;
  body?: unknown;
  original?: unknown;
  message?: unknown;
}

/** Classifies a Slack error string (from the Web API or an incoming webhook). */
export function classifySlackError(error: string, retryAfterMs?: number): SendResult {
  const code = oneLine(error, 100);
  if (PERMANENT_SLACK_ERRORS.has(error)) {
    return { outcome: 'permanent', code, error: `Slack refused the message: ${code}` };
  }
  const result: SendResult = { outcome: 'retry', code, error: `Slack answered ${code}` };
  if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
  return result;
}

export class SlackChannel implements Channel {
  constructor(
    private readonly dest: SlackDestination,
    private readonly env: ChannelEnv,
  ) {}

  async send(message: Composed, signal: AbortSignal): Promise<SendResult> {
    const dest = this.dest;
    if (message.kind !== 'slack') {
      return { outcome: 'permanent', code: null, error: `destination ${dest.name} is Slack, not ${message.kind}` };
    }
    if (dest.webhookUrl) return this.sendWebhook(dest, message, signal);
    if (message.channel) return this.sendWebApi(dest, message, signal);
    return {
      outcome: 'permanent',
      code: null,
      error: `Slack destination ${dest.name} has neither a channel nor a webhook_url`,
    };
  }

  private async sendWebApi(dest: SlackDestination, message: SlackPayload, signal: AbortSignal): Promise<SendResult> {
    const token = dest.token ?? this.env.slackBotToken;
    if (!token) {
      return {
        outcome: 'permanent',
        code: 'not_authed',
        error: `Slack destination ${dest.name} has no token: set SLACK_BOT_TOKEN or the destination's token`,
      };
    }
    const timeoutMs = dest.delivery.timeoutMs;
    const d = deadline(signal, timeoutMs);
    const aborted = whenAborted(d.signal);
    const fetchWithDeadline: FetchFunction = (url, init) => fetch(url, { ...(init as RequestInit), signal: d.signal }) as unknown as ReturnType<FetchFunction>;
    // A client per send: it is cheap, and it ties this send's deadline to its requests.
    const { WebClient } = await loadSlack();
    const client = new WebClient(token, {
      ...(this.env.slackApiUrl ? { slackApiUrl: this.env.slackApiUrl } : {}),
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      logger: silentLogger,
      fetch: fetchWithDeadline,
      allowAbsoluteUrls: false,
    });
    const what = `Slack Web API (${dest.name})`;
    try {
      const call = client.apiCall('chat.postMessage', {
        channel: message.channel,
        text: message.text,
        blocks: message.blocks,
        unfurl_links: false,
        unfurl_media: false,
      });
      const outcome = await Promise.race([call.then(() => true), aborted.promise.then(() => null)]);
      if (outcome === null) {
        call.catch(() => {});
        return networkFailure(new Error('aborted'), what, d, timeoutMs);
      }
      return { outcome: 'delivered', code: 'ok' };
    } catch (err) {
      return this.webApiFailure(err, what, d, timeoutMs);
    } finally {
      aborted.dispose();
      d.dispose();
    }
  }

  private webApiFailure(err: unknown, what: string, d: Deadline, timeoutMs: number): SendResult {
    if (d.timedOut() || d.callerAborted()) return networkFailure(err, what, d, timeoutMs);
    const e = (err ?? {}) as SlackErrorLike;
    switch (e.code) {
      case 'slack_webapi_rate_limited_error': {
        const retryAfterMs = secondsToMs(typeof e.retryAfter === 'number' ? e.retryAfter : undefined);
        const r: SendResult = { outcome: 'retry', code: 'ratelimited', error: `Slack rate-limited the call (${what})` };
        if (retryAfterMs !== undefined) r.retryAfterMs = retryAfterMs;
        return r;
      }
      case 'slack_webapi_platform_error': {
        const error = typeof e.data?.error === 'string' ? e.data.error : 'unknown_error';
        const ra = e.data?.response_metadata?.retryAfter;
        return classifySlackError(error, secondsToMs(typeof ra === 'number' ? ra : undefined));
      }
      case 'slack_webapi_http_error': {
        const status = typeof e.statusCode === 'number' ? e.statusCode : 0;
        const body = typeof e.body === 'string' ? oneLine(e.body, 200) : '';
        return classifyStatus(status, { what, retryAfter: e.headers?.['retry-after'] ?? null, detail: body });
      }
      case 'slack_webapi_request_error':
        return networkFailure(e.original ?? err, what, d, timeoutMs);
      default: {
        // e.g. a 429 without a usable Retry-After, which the library reports as a plain Error.
        const msg = typeof e.message === 'string' ? e.message : String(err);
        if (/rate limit|retry header/i.test(msg)) {
          return { outcome: 'retry', code: '429', error: `Slack rate-limited the call (${what}) without a usable Retry-After` };
        }
        return { outcome: 'retry', code: null, error: `${what} failed: ${oneLine(msg, 200)}` };
      }
    }
  }

  private async sendWebhook(dest: SlackDestination, message: SlackPayload, signal: AbortSignal): Promise<SendResult> {
    let url: URL;
    try {
      url = new URL(dest.webhookUrl as string);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme');
    } catch {
      return { outcome: 'permanent', code: null, error: `Slack destination ${dest.name} has an invalid webhook_url` };
    }
    // Never name the URL in an error: for an incoming webhook the URL is the credential.
    const what = `Slack incoming webhook (${dest.name})`;
    const timeoutMs = dest.delivery.timeoutMs;
    const d = deadline(signal, timeoutMs);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'b3os-router' },
        body: JSON.stringify({ text: message.text, blocks: message.blocks, unfurl_links: false, unfurl_media: false }),
        redirect: 'manual',
        signal: d.signal,
      });
      const detail = await readSnippet(res, 1024);
      const result = classifyStatus(res.status, {
        what,
        retryAfter: res.headers.get('retry-after'),
        detail,
      });
      if (result.outcome === 'delivered') return detail ? { ...result, detail } : result;
      return result;
    } catch (err) {
      return networkFailure(err, what, d, timeoutMs);
    } finally {
      d.dispose();
    }
  }

  async close(): Promise<void> {
    // no pooled state: clients are per send
  }
}
