// Schema migrations for the PostgreSQL engine, applied in order under a session advisory lock (so
// that replicas starting together migrate once); b3os_router_schema records those that have run.
// Append only: never edit a migration that has shipped. Times are unix milliseconds (bigint), as
// in the SQLite engine, so both engines read and write the same values.
export const PG_MIGRATIONS: readonly string[] = [
  // 1: events, deliveries, attempts, the replicas' heartbeats.
  `
  CREATE TABLE events (
    seq           bigserial PRIMARY KEY,
    key           text    NOT NULL UNIQUE,
    key_kind      text    NOT NULL,
    event_id      text,
    run_id        text,
    execution_id  text,
    type          text,
    received_at   bigint  NOT NULL,
    last_seen_at  bigint  NOT NULL,
    duplicates    integer NOT NULL DEFAULT 0,
    payload       text    NOT NULL,
    routing       text
  );
  CREATE INDEX events_event_id ON events(event_id) WHERE event_id IS NOT NULL;
  CREATE INDEX events_received ON events(received_at);
  CREATE INDEX events_type_received ON events(type, received_at);

  CREATE TABLE deliveries (
    id              text    PRIMARY KEY,
    event_seq       bigint  NOT NULL,
    rule            text    NOT NULL,
    destination     text    NOT NULL,
    status          text    NOT NULL,
    reason          text,
    privileged      boolean NOT NULL DEFAULT false,
    attempts        integer NOT NULL DEFAULT 0,
    round_attempts  integer NOT NULL DEFAULT 0,
    next_attempt_at bigint,
    lease_until     bigint,
    -- The replica holding the lease: a restarted replica releases only its own.
    lease_owner     text,
    created_at      bigint  NOT NULL,
    updated_at      bigint  NOT NULL,
    origin          text    NOT NULL DEFAULT 'ingest',
    allowed_at      bigint
  );
  CREATE INDEX deliveries_due_destination ON deliveries(destination, next_attempt_at) WHERE status IN ('pending', 'failed');
  CREATE INDEX deliveries_event ON deliveries(event_seq);
  CREATE INDEX deliveries_status ON deliveries(status, updated_at);
  CREATE INDEX deliveries_destination ON deliveries(destination, updated_at);
  CREATE INDEX deliveries_allowed ON deliveries(rule, destination, allowed_at) WHERE allowed_at IS NOT NULL;

  CREATE TABLE attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  text    NOT NULL,
    attempt      integer NOT NULL,
    started_at   bigint  NOT NULL,
    duration_ms  integer NOT NULL,
    outcome      text    NOT NULL,
    code         text,
    error        text
  );
  CREATE INDEX attempts_delivery ON attempts(delivery_id, attempt);

  CREATE TABLE replicas (
    id            text    PRIMARY KEY,
    host          text    NOT NULL,
    pid           integer NOT NULL,
    version       text    NOT NULL,
    rules_hash    text    NOT NULL,
    started_at    bigint  NOT NULL,
    last_seen_at  bigint  NOT NULL
  );
  `,
  // 2: noise control (contract §9), as SQLite's migration 7. Silences, read by every replica;
  // groups with their gathered events (rows: a kill -9 loses none, and the replica that flushes
  // a group need not be the one that gathered its events); a delivery's event count and group.
  `
  CREATE TABLE silences (
    id           text    PRIMARY KEY,
    rule         text,
    destination  text,
    matchers     text    NOT NULL,
    comment      text    NOT NULL DEFAULT '',
    created_by   text    NOT NULL DEFAULT '',
    created_at   bigint  NOT NULL,
    ends_at      bigint  NOT NULL
  );
  CREATE INDEX silences_ends ON silences(ends_at);

  CREATE TABLE groups (
    id            text    PRIMARY KEY,
    rule          text    NOT NULL,
    destination   text    NOT NULL,
    key           text    NOT NULL,
    group_values  text    NOT NULL,
    opened_at     bigint  NOT NULL,
    last_sent_at  bigint,
    flush_at      bigint,
    UNIQUE (rule, destination, key)
  );
  CREATE INDEX groups_flush ON groups(flush_at) WHERE flush_at IS NOT NULL;

  CREATE TABLE group_events (
    group_id     text    NOT NULL,
    event_seq    bigint  NOT NULL,
    gathered_at  bigint  NOT NULL,
    delivery_id  text,
    PRIMARY KEY (group_id, event_seq)
  );
  CREATE INDEX group_events_event ON group_events(event_seq);
  CREATE INDEX group_events_delivery ON group_events(delivery_id) WHERE delivery_id IS NOT NULL;

  ALTER TABLE deliveries ADD COLUMN event_count integer NOT NULL DEFAULT 1;
  ALTER TABLE deliveries ADD COLUMN group_id text;
  `,
  // 3: each rules file version's text, once, by its hash, as SQLite's migration 9: a stored
  // decision names its version and the rules that matched; explain re-evaluates the others.
  `
  CREATE TABLE rules_versions (
    hash     text    PRIMARY KEY,
    text     text    NOT NULL,
    saved_at bigint  NOT NULL
  );
  `,
];
