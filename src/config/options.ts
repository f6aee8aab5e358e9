// Process-level options: a flag wins over its environment variable, which wins over the default
// (config/defaults.ts). Resolved once per command.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isPostgresUrl } from '../store/db-url.js';
import { DEFAULT_OPTIONS, HTTP_DEFAULTS, PG_DEFAULTS, WORKER_DEFAULTS } from './defaults.js';

type Env = Record<string, string | undefined>;

function nonEmpty(v: string | undefined): string | null {
  return v === undefined || v === '' ? null : v;
}

/** `--rules`, else RULES_FILE, else ./rules.yaml when it exists, else ./rules.example.yaml. */
export function rulesPath(flag: string | undefined, env: Env = process.env): string {
  const given = nonEmpty(flag) ?? nonEmpty(env.RULES_FILE);
  if (given) return resolve(given);
  const primary = resolve(DEFAULT_OPTIONS.rulesFile);
  return existsSync(primary) ? primary : resolve(DEFAULT_OPTIONS.rulesFallback);
}

/**
 * The database: `--db`, else DATABASE_URL, else DB_PATH, else the default file. A postgres:// or
 * postgresql:// URL is kept as it is (PostgreSQL); anything else is a SQLite file path.
 */
export function dbPath(flag: string | undefined, env: Env = process.env): string {
  const given = nonEmpty(flag);
  if (given !== null) return isPostgresUrl(given) ? given : resolve(given);
  const url = nonEmpty(env.DATABASE_URL?.trim());
  if (url !== null) {
    if (!isPostgresUrl(url)) throw new OptionError('DATABASE_URL must be a postgres:// or postgresql:// URL; for a SQLite file use --db or DB_PATH');
    return url;
  }
  const path = nonEmpty(env.DB_PATH) ?? DEFAULT_OPTIONS.dbPath;
  return isPostgresUrl(path) ? path : resolve(path);
}

/** What the channels read from the environment (`serve` and `ping` alike). */
/** What channels may read from the process environment, resolved once at start. */
export interface ChannelEnv {
  slackBotToken: string | null;
  /** Base URL of the Slack Web API, ending in '/'. */
  slackApiUrl: string | null;
  smtpUrl: string | null;
}

export function channelEnv(env: Env = process.env): ChannelEnv {
  const api = nonEmpty(env.SLACK_API_URL?.trim());
  return {
    slackBotToken: nonEmpty(env.SLACK_BOT_TOKEN?.trim()),
    slackApiUrl: api === null ? null : api.endsWith('/') ? api : `${api}/`,
    smtpUrl: nonEmpty(env.SMTP_URL?.trim()),
  };
}

export interface ServeOptions {
  rulesFile: string;
  dbPath: string;
  port: number;
  host: string;
  secrets: string[];
  logLevel: string;
  adminToken: string | null;
  /** Certificate and key, read at start (a missing file is an OptionError, not a crash). */
  tls: { cert: Buffer; key: Buffer } | null;
  /** SLACK_BOT_TOKEN, SLACK_API_URL, SMTP_URL: what the channels read. */
  channelEnv: ChannelEnv;
  /** Optional cap on the database size (DB_MAX_MB); past it new events get 503, not a full disk. */
  dbMaxBytes: number | null;
  /** REQUEST_TIMEOUT_MS: headers and body must all arrive within it (408 and the connection cut). */
  requestTimeoutMs: number;
  /** MAX_CONNECTIONS: open connections at most; more are closed on arrival. */
  maxConnections: number;
  /** INGEST_BUFFER_MB: hook bodies held at once before their signature is checked. */
  ingestBufferBytes: number;
  /** DB_POOL_MAX: PostgreSQL connections per pool (serve has two, see PG_DEFAULTS). */
  dbPoolMax: number;
  /** LEASE_MARGIN_MS: over a send's timeout, before another replica may take a claimed delivery. */
  leaseMarginMs: number;
  /** CONSOLE_SECURE_COOKIE: the console's session cookie is Secure (default: when serving TLS). */
  consoleSecureCookie: boolean;
}

export class OptionError extends Error {
  readonly code = 'E_OPTION';
}

export function serveOptions(flags: { rules?: string; db?: string; port?: string; host?: string }, env: Env = process.env): ServeOptions {
  const secret = nonEmpty(env.B3OS_WEBHOOK_SECRET);
  if (!secret) {
    throw new OptionError(
      'B3OS_WEBHOOK_SECRET is not set: serve needs the shared secret B3OS signs its hooks with (e.g. B3OS_WEBHOOK_SECRET=change-me npm start)',
    );
  }
  const previous = nonEmpty(env.B3OS_WEBHOOK_SECRET_PREVIOUS);
  const portText = nonEmpty(flags.port) ?? nonEmpty(env.PORT) ?? String(DEFAULT_OPTIONS.port);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new OptionError(`port "${portText}" is not a port number (0 to 65535)`);
  const certFile = nonEmpty(env.TLS_CERT_FILE);
  const keyFile = nonEmpty(env.TLS_KEY_FILE);
  if ((certFile === null) !== (keyFile === null)) {
    throw new OptionError('set both TLS_CERT_FILE and TLS_KEY_FILE to serve HTTPS, or neither');
  }
  const maxMb = nonEmpty(env.DB_MAX_MB);
  if (maxMb !== null && !(Number(maxMb) > 0)) throw new OptionError(`DB_MAX_MB "${maxMb}" is not a positive number`);
  const requestTimeoutMs = positiveInt(env, 'REQUEST_TIMEOUT_MS', HTTP_DEFAULTS.requestTimeoutMs);
  const maxConnections = positiveInt(env, 'MAX_CONNECTIONS', HTTP_DEFAULTS.maxConnections);
  const bufferMb = nonEmpty(env.INGEST_BUFFER_MB);
  if (bufferMb !== null && !(Number(bufferMb) > 0)) throw new OptionError(`INGEST_BUFFER_MB "${bufferMb}" is not a positive number`);
  const tls = certFile && keyFile ? { cert: readTlsFile('TLS_CERT_FILE', certFile), key: readTlsFile('TLS_KEY_FILE', keyFile) } : null;
  return {
    rulesFile: rulesPath(flags.rules, env),
    dbPath: dbPath(flags.db, env),
    port,
    host: nonEmpty(flags.host) ?? nonEmpty(env.HOST) ?? DEFAULT_OPTIONS.host,
    secrets: previous ? [secret, previous] : [secret],
    logLevel: nonEmpty(env.LOG_LEVEL) ?? DEFAULT_OPTIONS.logLevel,
    adminToken: nonEmpty(env.ADMIN_TOKEN),
    tls,
    channelEnv: channelEnv(env),
    dbMaxBytes: maxMb === null ? null : Math.floor(Number(maxMb) * 1024 * 1024),
    requestTimeoutMs,
    maxConnections,
    ingestBufferBytes: bufferMb === null ? HTTP_DEFAULTS.ingestBufferBytes : Math.floor(Number(bufferMb) * 1024 * 1024),
    dbPoolMax: positiveInt(env, 'DB_POOL_MAX', PG_DEFAULTS.poolMax),
    leaseMarginMs: positiveInt(env, 'LEASE_MARGIN_MS', WORKER_DEFAULTS.leaseMarginMs),
    consoleSecureCookie: flag(env, 'CONSOLE_SECURE_COOKIE', tls !== null),
  };
}

/** 1/true/yes or 0/false/no; unset or empty: the default. */
function flag(env: Env, variable: string, dflt: boolean): boolean {
  const text = nonEmpty(env[variable]?.trim().toLowerCase());
  if (text === null) return dflt;
  if (['1', 'true', 'yes'].includes(text)) return true;
  if (['0', 'false', 'no'].includes(text)) return false;
  throw new OptionError(`${variable} "${env[variable]}" is neither 1 nor 0`);
}

function positiveInt(env: Env, variable: string, dflt: number): number {
  const text = nonEmpty(env[variable]?.trim());
  if (text === null) return dflt;
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1) throw new OptionError(`${variable} "${text}" is not a whole number above 0 (default ${dflt})`);
  return Number(text);
}

function readTlsFile(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new OptionError(`${variable} is ${file}, which cannot be read (${(err as { code?: string }).code ?? 'error'})`);
  }
}
