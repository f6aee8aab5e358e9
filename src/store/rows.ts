// Rows as both engines read them back: the same column names on SQLite and PostgreSQL. The one
// difference, how a boolean comes back (1 on SQLite, true on PostgreSQL), is read either way.
import type { DeliveryStatus, StoredAttempt, StoredDelivery, StoredEvent, StoredSilence } from './store.js';

export type Row = Record<string, unknown>;

export function toEvent(r: Row): StoredEvent {
  return {
    seq: r.seq as number,
    key: r.key as string,
    keyKind: r.key_kind as StoredEvent['keyKind'],
    eventId: r.event_id as string | null,
    runId: r.run_id as string | null,
    executionId: r.execution_id as string | null,
    type: r.type as string | null,
    receivedAt: r.received_at as number,
    lastSeenAt: r.last_seen_at as number,
    duplicates: r.duplicates as number,
    payload: r.payload as string,
    routing: r.routing as string | null,
  };
}

export function toDelivery(r: Row): StoredDelivery {
  return {
    id: r.id as string,
    eventSeq: r.event_seq as number,
    rule: r.rule as string,
    destination: r.destination as string,
    status: r.status as DeliveryStatus,
    reason: r.reason as string | null,
    privileged: r.privileged === 1 || r.privileged === true,
    attempts: r.attempts as number,
    roundAttempts: r.round_attempts as number,
    nextAttemptAt: r.next_attempt_at as number | null,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
    origin: r.origin as StoredDelivery['origin'],
    eventCount: (r.event_count as number | undefined) ?? 1,
  };
}

export function toSilence(r: Row): StoredSilence {
  return {
    id: r.id as string,
    rule: r.rule as string | null,
    destination: r.destination as string | null,
    matchers: JSON.parse(r.matchers as string) as Record<string, string[]>,
    comment: r.comment as string,
    createdBy: r.created_by as string,
    createdAt: r.created_at as number,
    endsAt: r.ends_at as number,
  };
}

export function toAttempt(r: Row): StoredAttempt {
  return {
    deliveryId: r.delivery_id as string,
    attempt: r.attempt as number,
    startedAt: r.started_at as number,
    durationMs: r.duration_ms as number,
    outcome: r.outcome as StoredAttempt['outcome'],
    code: r.code as string | null,
    error: r.error as string | null,
  };
}
