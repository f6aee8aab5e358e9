// `subscription`: the registration body for B3OS's `POST /v1/execution-webhooks`, subscribed to
// exactly the types the enabled rules and `server.accept_types` can match. Wildcards are expanded
// over the known names of both B3OS vocabularies (config/b3os-types.ts); a rule with no type
// condition can take anything, so it subscribes every known type.
import { basename } from 'node:path';
import { expandTypes, KNOWN_TYPES } from '../config/b3os-types.js';
import { DEFAULT_SUBSCRIPTION } from '../config/defaults.js';
import type { RouterConfig } from '../config/types.js';
import { typeFilter } from '../route/accept-types.js';
import { isWildcard } from '../rules/match.js';

export interface SubscriptionBody {
  name: string;
  url: string;
  description: string;
  subscribedEventTypes: string[];
  maxRetries: number;
}

export function subscribedTypes(config: RouterConfig): { types: string[]; notes: string[] } {
  const accept = config.server.acceptTypes;
  const accepts = typeFilter(accept);
  const literals = (list: readonly string[] | null | undefined) => (list ?? []).filter((p) => !isWildcard(p));
  const universe = [...new Set([...KNOWN_TYPES, ...literals(accept), ...config.rules.flatMap((r) => literals(r.typePatterns))])];
  const types = new Set<string>();
  const notes: string[] = [];
  let expanded = false;
  const untyped: string[] = [];
  const narrowed = accept ? ' that server.accept_types accepts' : '';

  for (const rule of config.rules) {
    const label = `rule "${rule.name}"`;
    if (!rule.enabled) {
      notes.push(`${label} is disabled (enabled: false), so its types are left out`);
      continue;
    }
    // A rule that sends nowhere (a `stop` filter) only drops events: no reason to ask B3OS for them.
    if (rule.sendTo.length === 0) continue;
    const patterns = rule.typePatterns ?? null;
    if (patterns === null) {
      for (const t of universe) if (accepts(t)) types.add(t);
      untyped.push(label);
      continue;
    }
    for (const p of patterns) {
      const matched = isWildcard(p) ? expandTypes([p], universe) : [p];
      if (isWildcard(p)) {
        expanded = true;
        if (matched.length === 0)
          notes.push(`${label}: "${p}" matches none of the known B3OS types, so it adds nothing; write out the type names it should take`);
      }
      for (const t of matched) {
        if (accepts(t)) types.add(t);
        else if (!isWildcard(p))
          notes.push(
            `${label} takes "${t}", which server.accept_types does not accept, so the router would ignore it: it is left out (add it to accept_types if the rule should get it)`,
          );
      }
    }
  }
  if (untyped.length > 0) {
    const [they, their] = untyped.length === 1 ? [`${untyped[0]} has`, 'it'] : [`${untyped.join(', ')} have`, 'them'];
    notes.push(
      `${they} no type in match (only a "when", or no condition), so ${their === 'it' ? 'it' : 'they'} can take any event: every known B3OS type${narrowed} is subscribed; give ${their} a match.type to narrow the list`,
    );
  }
  if (expanded || accept?.some(isWildcard)) {
    notes.push(
      'wildcards are expanded over the types B3OS is known to send (both run.succeeded/execution.* and run.completed/node.* names); a type outside them must be written out to be subscribed',
    );
  }
  if (types.size === 0) notes.push('no enabled rule can match an accepted type, so subscribedEventTypes is empty; B3OS would send nothing the rules use');
  return { types: [...types].sort(), notes };
}

/** The URL B3OS posts to: `url` with server.path added when it has no path of its own. */
export function hookUrl(config: RouterConfig, url: string | undefined): { url: string; notes: string[] } {
  const path = config.server.path;
  if (url === undefined) {
    return {
      url: DEFAULT_SUBSCRIPTION.placeholderOrigin + path,
      notes: [`the url is a placeholder: pass --url with the router's public HTTPS address (its hook path is ${path})`],
    };
  }
  const u = new URL(url); // the caller has checked it parses
  const notes: string[] = [];
  if (u.pathname === '/' || u.pathname === '') u.pathname = path;
  else if (u.pathname !== path)
    notes.push(`the url's path is ${u.pathname}, but the router receives on ${path} (server.path); unless a proxy rewrites it, use ${u.origin}${path}`);
  if (u.protocol !== 'https:')
    notes.push('B3OS delivers to HTTPS endpoints: serve TLS (TLS_CERT_FILE, TLS_KEY_FILE) or put a TLS proxy in front, and give its https:// address');
  return { url: u.toString(), notes };
}

export function subscriptionBody(config: RouterConfig, opts: { url?: string; name?: string }): { body: SubscriptionBody; notes: string[] } {
  const { types, notes } = subscribedTypes(config);
  const where = hookUrl(config, opts.url);
  const enabled = config.rules.filter((r) => r.enabled).length;
  return {
    body: {
      name: opts.name ?? DEFAULT_SUBSCRIPTION.name,
      url: where.url,
      description: `b3os-router: events for ${enabled} enabled rule${enabled === 1 ? '' : 's'} of ${basename(config.file)}`,
      subscribedEventTypes: types,
      maxRetries: DEFAULT_SUBSCRIPTION.maxRetries,
    },
    notes: [...where.notes, ...notes],
  };
}

/** The command that sends it, with the API key read from the environment by the shell, never printed. */
export function curlLine(body: SubscriptionBody): string {
  const quoted = `'${JSON.stringify(body).replace(/'/g, `'\\''`)}'`;
  return [
    `curl -sS -X POST ${DEFAULT_SUBSCRIPTION.endpoint}`,
    `  -H "Authorization: Bearer $${DEFAULT_SUBSCRIPTION.apiKeyVariable}"`,
    `  -H 'Content-Type: application/json'`,
    `  --data-raw ${quoted}`,
  ].join(' \\\n');
}
