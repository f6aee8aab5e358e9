// The PostgreSQL engine's bounds. Re-exported by config/defaults.ts with every other default; kept
// in store/ because the store stands below config in the layout (README "Layout").
/** The PostgreSQL engine (store/postgres.ts); DB_POOL_MAX overrides poolMax for `serve`. */
export const PG_DEFAULTS = {
  /** Connections at most per pool. serve has two pools (HTTP ingest and the delivery thread)
   * and one LISTEN connection: about 2 × poolMax + 1 per replica. */
  poolMax: 10,
  connectTimeoutMs: 5_000,
  /** No statement runs longer: a stuck lock or a slow server turns into a 503, not a hang. */
  statementTimeoutMs: 10_000,
  idleInTransactionMs: 30_000,
  idleTimeoutMs: 30_000,
  /** The LISTEN connection reconnects after this, doubling up to the max. */
  listenRetryFirstMs: 500,
  listenRetryMaxMs: 10_000,
} as const;
