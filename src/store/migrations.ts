// Schema migrations for the SQLite engine, applied in order; PRAGMA user_version records how many
// have run. Append only: never edit a migration that has shipped.
export const MIGRATIONS: readonly string[] = [
  // 1: events, deliveries, attempts.
  `
  CREATE TABLE events (
    seq           INTEGER PRIMARY KEY,
    key           TEXT    NOT NULL UNIQUE,
    key_kind      TEXT    NOT NULL,
    event_id      TEXT,
    run_id        TEXT,
    execution_id  TEXT,
    type          TEXT,
    received_at   INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL DEFAULT 0,
    payload       TEXT    NOT NULL,
    routing       TEXT
  );
  CREATE INDEX events_event_id ON events(event_id) WHERE event_id IS NOT NULL;
  CREATE INDEX events_received ON events(received_at);
  CREATE INDEX events_type_received ON events(type, received_at);

  CREATE TABLE deliveries (
    id              TEXT    PRIMARY KEY,
    event_seq       INTEGER NOT NULL,
    rule            TEXT    NOT NULL,
    destination     TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    reason          TEXT,
    privileged      INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    round_attempts  INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    origin          TEXT    NOT NULL DEFAULT 'ingest'
  );
  CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status IN ('pending', 'failed');
  CREATE INDEX deliveries_event ON deliveries(event_seq);
  CREATE INDEX deliveries_status ON deliveries(status, updated_at);
  CREATE INDEX deliveries_destination ON deliveries(destination, updated_at);
  CREATE INDEX deliveries_grant_use ON deliveries(rule, destination, created_at)
    WHERE privileged = 1 AND status <> 'blocked';

  CREATE TABLE attempts (
    id           INTEGER PRIMARY KEY,
    delivery_id  TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    outcome      TEXT    NOT NULL,
    code         TEXT,
    error        TEXT
  );
  CREATE INDEX attempts_delivery ON attempts(delivery_id, attempt);
  `,
  // 2: the serving process's claim on the database (one server per database).
  `
  CREATE TABLE server_lock (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    pid          INTEGER NOT NULL,
    host         TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
  );
  `,
  // 3: claims read one destination's due deliveries at a time, in due order.
  `CREATE INDEX deliveries_due_destination ON deliveries(destination, next_attempt_at) WHERE status IN ('pending', 'failed');`,
  // 4: claims, the queue depth and the next due time all read deliveries_due_destination now; one
  // index fewer to maintain on every insert.
  `DROP INDEX deliveries_due;`,
  // 5: max_per_hour counts by when policy let a delivery out (allowed_at), not by when the row was
  // created: a delivery queued before its destination became privileged, or a dead one retried,
  // is counted as of the moment it was allowed. Rows counted until now were counted by created_at.
  `
  ALTER TABLE deliveries ADD COLUMN allowed_at INTEGER;
  UPDATE deliveries SET allowed_at = created_at WHERE privileged = 1 AND status <> 'blocked';
  DROP INDEX deliveries_grant_use;
  CREATE INDEX deliveries_allowed ON deliveries(rule, destination, allowed_at) WHERE allowed_at IS NOT NULL;
  `,
  // 6: what `status` shows of the serving process (the same fields as PostgreSQL's replicas).
  `
  ALTER TABLE server_lock ADD COLUMN version TEXT;
  ALTER TABLE server_lock ADD COLUMN rules_hash TEXT;
  `,
  // 7: noise control (contract §9). Silences, read by every process; groups with their gathered
  // events (rows, so a kill -9 loses none); a delivery says how many events it carries (a digest)
  // and the group it came from.
  `
  CREATE TABLE silences (
    id           TEXT    PRIMARY KEY,
    rule         TEXT,
    destination  TEXT,
    matchers     TEXT    NOT NULL,
    comment      TEXT    NOT NULL DEFAULT '',
    created_by   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    ends_at      INTEGER NOT NULL
  );
  CREATE INDEX silences_ends ON silences(ends_at);

  CREATE TABLE groups (
    id            TEXT    PRIMARY KEY,
    rule          TEXT    NOT NULL,
    destination   TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    group_values  TEXT    NOT NULL,
    opened_at     INTEGER NOT NULL,
    last_sent_at  INTEGER,
    flush_at      INTEGER,
    UNIQUE (rule, destination, key)
  );
  CREATE INDEX groups_flush ON groups(flush_at) WHERE flush_at IS NOT NULL;

  CREATE TABLE group_events (
    group_id     TEXT    NOT NULL,
    event_seq    INTEGER NOT NULL,
    gathered_at  INTEGER NOT NULL,
    delivery_id  TEXT,
    PRIMARY KEY (group_id, event_seq)
  );
  CREATE INDEX group_events_event ON group_events(event_seq);
  CREATE INDEX group_events_delivery ON group_events(delivery_id) WHERE delivery_id IS NOT NULL;

  ALTER TABLE deliveries ADD COLUMN event_count INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE deliveries ADD COLUMN group_id TEXT;
  `,
  // 8: the queue's length kept as a counter, so /metrics reads one row instead of counting the
  // queue on every scrape. SqliteStore adds each transaction's change to it in that transaction
  // (every write to deliveries.status is in store/sqlite.ts); triggers measured 9 µs per event.
  `
  CREATE TABLE queue_depth (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
  );
  INSERT INTO queue_depth (id, n) SELECT 1, count(*) FROM deliveries WHERE status IN ('pending', 'failed');
  `,
  // 9: each rules file version's text, once, by its hash: an event's stored decision names the
  // version and the rules that matched, and explain re-evaluates the others from this text.
  `
  CREATE TABLE rules_versions (
    hash     TEXT    PRIMARY KEY,
    text     TEXT    NOT NULL,
    saved_at INTEGER NOT NULL
  );
  `,
];
