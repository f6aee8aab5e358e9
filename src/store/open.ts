// The one place an engine is chosen: a postgres:// or postgresql:// URL is PostgreSQL (several
// replicas may share it), anything else is a SQLite file (one server).
import { isPostgresUrl } from './db-url.js';
import { PostgresStore, type PostgresOptions } from './postgres.js';
import { SqliteStore, type SqliteOptions } from './sqlite.js';
import type { Store } from './store.js';

export interface OpenOptions {
  sqlite?: SqliteOptions;
  postgres?: PostgresOptions;
}

/** Opens the database `spec` names. PostgreSQL connects (and migrates) on first use. */
export function openStore(spec: string, opts: OpenOptions = {}): Store {
  return isPostgresUrl(spec) ? new PostgresStore(spec, opts.postgres) : new SqliteStore(spec, opts.sqlite);
}

export { describeDb, isPostgresUrl } from './db-url.js';
