// The web console (contract §10) on the router's own port under /console. Off (404, from the
// router's own not-found handler) while ADMIN_TOKEN is unset. Its plugins (cookies, form bodies,
// security headers, the sign-in limiter) are registered inside its own encapsulated context, so
// the hook path and the rest of the router neither see them nor pay for them.
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CONSOLE_DEFAULTS } from '../config/defaults.js';
import { ASSETS } from './assets.js';
import { MatchCounts } from './data.js';
import { Evaluator } from './evaluate.js';
import * as pages from './pages.js';
import { sameSecret } from '../ops/secret.js';
import { Sessions, type Session } from './session.js';

/** What the router gives the console; the console adds its own evaluation thread. */
export type ConsoleOptions = Omit<pages.ConsoleDeps, 'evaluator' | 'matchCounts'>;

const COOKIE = 'b3os_console';
const HTML = 'text/html; charset=utf-8';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A console route that needs no session (sign-in, assets). */
    consolePublic?: boolean;
  }
  interface FastifyRequest {
    consoleSession?: Session | null;
  }
}

/** Where to go after signing in: a console page, never another site or the sign-in page itself. */
export function safeNext(v: unknown): string {
  if (typeof v !== 'string' || v.length > 2000 || !v.startsWith('/console')) return '/console';
  try {
    const base = 'http://console.invalid';
    const u = new URL(v, base);
    if (u.origin !== base) return '/console';
    if (u.pathname !== '/console' && !u.pathname.startsWith('/console/')) return '/console';
    if (u.pathname.startsWith('/console/sign-')) return '/console';
    return u.pathname + u.search;
  } catch {
    return '/console';
  }
}

const CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'"],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  frameAncestors: ["'none'"],
  formAction: ["'self'"],
};

/**
 * The router's `frameworkErrors`: an address fastify cannot even route (`/console/events/%ZZ`)
 * gets, under /console, the console's own page and headers (no route, so no helmet hook runs);
 * elsewhere the answer fastify gives by default. Returns false when it is not the console's.
 */
export function consoleFrameworkError(on: boolean, err: FastifyError, req: FastifyRequest, reply: FastifyReply): boolean {
  const path = req.url.split('?')[0] ?? '';
  if (!on || (path !== '/console' && !path.startsWith('/console/'))) return false;
  const csp = Object.entries(CSP)
    .map(([k, v]) => `${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${v.join(' ')}`)
    .join(';');
  void reply
    .code(err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400)
    .headers({
      'content-security-policy': csp,
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'same-origin',
      'cache-control': 'no-store',
    })
    .type(HTML)
    .send(
      pages.message({ csrf: null, notice: null }, 'Not accepted', 'This is not a valid address (a % in it is not followed by two hex digits); check the link.'),
    );
  return true;
}

type Form = Record<string, string | undefined>;

/** The form's fields; a repeated field or anything but text counts as absent. */
function form(req: FastifyRequest): Form {
  const body = req.body;
  const out: Form = {};
  if (body === null || typeof body !== 'object' || Buffer.isBuffer(body)) return out;
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) if (typeof v === 'string') out[k] = v;
  return out;
}

export function registerConsole(app: FastifyInstance, opts: ConsoleOptions): void {
  if (opts.token === null) return;
  const token = opts.token;
  const deps: pages.ConsoleDeps = {
    ...opts,
    evaluator: new Evaluator(CONSOLE_DEFAULTS.evaluationBudgetMs, CONSOLE_DEFAULTS.evaluationMemoryMb, () => app.log.debug('console evaluation started')),
    matchCounts: new MatchCounts(CONSOLE_DEFAULTS.matchCountsKeptMs),
  };
  app.addHook('onClose', () => deps.evaluator.close());
  const sessions = new Sessions();

  app.register(
    async (c) => {
      await c.register(cookie);
      await c.register(formbody);
      await c.register(helmet, {
        global: true,
        contentSecurityPolicy: { useDefaults: false, directives: CSP },
        strictTransportSecurity: deps.secure ? { maxAge: 180 * 24 * 3600, includeSubDomains: false } : false,
        referrerPolicy: { policy: 'same-origin' },
        xFrameOptions: { action: 'deny' },
      });
      await c.register(rateLimit, { global: false });
      const failedPerIp = c.createRateLimit({ max: CONSOLE_DEFAULTS.failedSignInsPerIp, timeWindow: 60_000 });
      const failedTotal = c.createRateLimit({ max: CONSOLE_DEFAULTS.failedSignInsTotal, timeWindow: 60_000, keyGenerator: () => 'every address' });

      const chrome = (s: Session): pages.Chrome => {
        const notice = s.notice;
        s.notice = null;
        return { csrf: s.csrf, notice };
      };
      const html = (reply: FastifyReply, body: string, status = 200) => reply.code(status).type(HTML).send(body);
      const answer = (reply: FastifyReply, a: pages.Answer) => {
        if (a.busy) reply.header('retry-after', '5');
        return html(reply, a.html, a.busy ? 429 : 200);
      };

      c.addHook('onSend', async (_req, reply, payload) => {
        // Pages show other people's data: never kept by a browser or proxy cache.
        if (String(reply.getHeader('content-type') ?? '').startsWith('text/html')) reply.header('cache-control', 'no-store');
        return payload;
      });

      // Every page and action needs a session; every POST also needs the session's CSRF token.
      c.addHook('preHandler', async (req, reply) => {
        if (req.routeOptions.config.consolePublic) return;
        const s = sessions.get(req.cookies[COOKIE]);
        req.consoleSession = s;
        if (!s) {
          if (req.method === 'GET' || req.method === 'HEAD') return reply.redirect(`/console/sign-in?next=${encodeURIComponent(safeNext(req.url))}`, 303);
          return html(reply, pages.message({ csrf: null, notice: null }, 'Signed out', 'Your session has ended; sign in again and repeat the action.'), 403);
        }
        if (req.method === 'POST' && !sameSecret(form(req)._csrf, s.csrf)) {
          req.log.warn({ path: req.routeOptions.url }, 'console action refused: missing or wrong CSRF token');
          return html(
            reply,
            pages.message(
              { csrf: s.csrf, notice: null },
              'Refused',
              "This action did not carry the page's security token (CSRF). Reload the page and try again.",
            ),
            403,
          );
        }
      });

      c.setErrorHandler((err: FastifyError, req, reply) => {
        const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
        if (status >= 500) req.log.error({ err: { message: err.message, code: err.code } }, 'console request failed');
        const text =
          err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
            ? 'That is more than the router takes in one request (server.max_body_bytes in the rules file).'
            : status >= 500
              ? 'Something went wrong on the router; its log has the details.'
              : err.message;
        const s = req.consoleSession ?? null;
        return html(reply, pages.message({ csrf: s?.csrf ?? null, notice: null }, status >= 500 ? 'Error' : 'Not accepted', text), status);
      });
      c.setNotFoundHandler((req, reply) => {
        const s = sessions.get(req.cookies?.[COOKIE]);
        return html(reply, pages.message({ csrf: s?.csrf ?? null, notice: null }, 'Not found', `There is no console page at ${req.url.split('?')[0]}.`), 404);
      });

      c.get('/assets/:name', { config: { consolePublic: true } }, async (req, reply) => {
        const a = ASSETS[(req.params as { name: string }).name];
        if (!a || !Object.hasOwn(ASSETS, (req.params as { name: string }).name)) return reply.callNotFound();
        reply.header('etag', a.etag).header('cache-control', 'public, max-age=3600');
        if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
        return reply.type(a.type).send(a.body);
      });

      c.get('/sign-in', { config: { consolePublic: true } }, async (req, reply) => {
        const next = safeNext((req.query as pages.Query).next);
        if (sessions.get(req.cookies[COOKIE])) return reply.redirect(next, 303);
        return html(reply, pages.signIn(next, null));
      });

      c.post('/sign-in', { config: { consolePublic: true } }, async (req, reply) => {
        const f = form(req);
        const next = safeNext(f.next);
        // Only failures count; once either bound is used up, even the right token waits.
        const [ip, all] = await Promise.all([failedPerIp(req, { increment: false }), failedTotal(req, { increment: false })]);
        const full = [ip, all].find((l) => !l.isAllowed && l.remaining === 0);
        if (full && !full.isAllowed) {
          const wait = Math.max(1, full.ttlInSeconds);
          reply.header('retry-after', String(wait));
          return html(reply, pages.signIn(next, `Too many failed sign-ins; try again in ${wait} seconds.`), 429);
        }
        if (!sameSecret(f.token, token)) {
          await Promise.all([failedPerIp(req), failedTotal(req)]);
          req.log.warn({ ip: req.ip }, 'console sign-in refused: wrong admin token');
          return html(reply, pages.signIn(next, 'That is not the admin token.'), 401);
        }
        const s = sessions.create();
        reply.setCookie(COOKIE, s.id, {
          path: '/console',
          httpOnly: true,
          sameSite: 'strict',
          secure: deps.secureCookie,
          maxAge: Math.floor(CONSOLE_DEFAULTS.sessionMs / 1000),
        });
        req.log.info({ ip: req.ip }, 'console sign-in');
        return reply.redirect(next, 303);
      });

      c.post('/sign-out', async (req, reply) => {
        sessions.destroy(req.consoleSession!.id);
        reply.clearCookie(COOKIE, { path: '/console', httpOnly: true, sameSite: 'strict', secure: deps.secureCookie });
        return reply.redirect('/console/sign-in', 303);
      });

      const session = (req: FastifyRequest) => req.consoleSession!;
      const back = (req: FastifyRequest) => safeNext(req.url);

      c.get('/', async (req, reply) => html(reply, await pages.overview(deps, chrome(session(req)))));
      c.get('/events', async (req, reply) => html(reply, await pages.events(deps, chrome(session(req)), req.query as pages.Query)));
      c.get('/events/:id', async (req, reply) => {
        const { id } = req.params as { id: string };
        const s = session(req);
        const body = await pages.event(deps, chrome(s), id, back(req));
        if (body === null)
          return html(reply, pages.message({ csrf: s.csrf, notice: null }, 'Not found', `There is no stored event with id or key "${id}".`), 404);
        return html(reply, body);
      });
      c.get('/deliveries', async (req, reply) => html(reply, await pages.deliveries(deps, chrome(session(req)), req.query as pages.Query, back(req))));
      c.post('/deliveries/:id/retry', async (req, reply) => {
        const { id } = req.params as { id: string };
        const notice = await pages.retryOne(deps, id);
        session(req).notice = notice;
        req.log.info({ delivery: id, ok: !notice.bad }, 'console retry');
        const f = form(req);
        return reply.redirect(f.back ? safeNext(f.back) : '/console/deliveries', 303);
      });
      c.get('/silences', async (req, reply) => html(reply, await pages.silencesPage(deps, chrome(session(req)), req.query as pages.Query, back(req))));
      c.post('/silences', async (req, reply) => {
        const f = form(req);
        const input: pages.SilenceForm = { rule: f.rule, destination: f.destination, match: f.match, for: f.for, until: f.until, comment: f.comment };
        const notice = await pages.addSilence(deps, input);
        req.log.info({ ok: !notice.bad }, 'console silence add');
        session(req).notice = notice;
        // Refused: the form again with what was typed, so one wrong field costs no retyping.
        if (notice.bad) return html(reply, await pages.silencesPage(deps, chrome(session(req)), {}, '/console/silences', input), 400);
        return reply.redirect('/console/silences', 303);
      });
      c.post('/silences/:id/expire', async (req, reply) => {
        const { id } = req.params as { id: string };
        const notice = await pages.expireSilence(deps, id);
        session(req).notice = notice;
        req.log.info({ silence: id, ok: !notice.bad }, 'console silence expire');
        const f = form(req);
        return reply.redirect(f.back ? safeNext(f.back) : '/console/silences', 303);
      });
      c.get('/rules', async (req, reply) => html(reply, await pages.rules(deps, chrome(session(req)))));
      c.get('/try', async (req, reply) =>
        answer(reply, await pages.tryPage(deps, chrome(session(req)), { event: pages.qs(req.query as pages.Query, 'event', 1000) })),
      );
      c.post('/try', async (req, reply) => {
        const f = form(req);
        return answer(reply, await pages.tryPage(deps, chrome(session(req)), { event: f.event, json: f.json }));
      });
      c.get('/check', async (req, reply) => answer(reply, await pages.checkPage(deps, chrome(session(req)), undefined)));
      c.post('/check', async (req, reply) => answer(reply, await pages.checkPage(deps, chrome(session(req)), form(req).yaml)));
    },
    { prefix: '/console' },
  );
}
