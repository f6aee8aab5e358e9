// The idempotency key of an event, first that exists (contract §2): the event id; else run id +
// type; else execution id + type; else the SHA-256 of the body. Keys are prefixed by kind so that
// one kind's value can never collide with another's. Under Standard Webhooks (contract §11) the
// verified webhook-id header stands in for the event id when the body has none.
import { createHash } from 'node:crypto';
import { eventId, executionId, runId } from './accessors.js';
import type { EventFields, EventObject, KeyKind } from './model.js';

export interface IdempotencyKey {
  key: string;
  kind: KeyKind;
  eventId: string | null;
  runId: string | null;
  executionId: string | null;
}

export function idempotencyKey(event: EventObject, type: string | null, body: Buffer, fields: EventFields, headerId: string | null = null): IdempotencyKey {
  const id = eventId(event, fields) ?? headerId;
  const run = runId(event, fields);
  const exec = executionId(event, fields);
  const ids = { eventId: id, runId: run, executionId: exec };
  if (id !== null) return { key: `id:${id}`, kind: 'event_id', ...ids };
  if (run !== null && type !== null) return { key: `run:${run}:${type}`, kind: 'run_type', ...ids };
  if (exec !== null && type !== null) return { key: `exec:${exec}:${type}`, kind: 'execution_type', ...ids };
  return { key: `sha256:${createHash('sha256').update(body).digest('hex')}`, kind: 'body_hash', ...ids };
}
