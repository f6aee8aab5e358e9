// Prometheus metrics, all prefixed b3os_router_. One registry per router instance (tests run
// several in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/store.js';
import { VERSION } from './version.js';

const PREFIX = 'b3os_router_';
/**
 * prom-client's default gauges named `_total`, which `promtool check metrics` refuses (only
 * counters may end in _total). Each repeats the sum of its by-type sibling that stays
 * (`nodejs_active_handles{type}` and so on), so dropping them loses nothing:
 * `sum(b3os_router_nodejs_active_handles)` is the total.
 */
const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export type Metrics = ReturnType<typeof createMetrics>;
/**
 * What the delivery worker counts. It runs in its own thread, which sends these updates to the
 * main thread (delivery/thread.ts); the one registry there serves /metrics.
 */
export interface DeliveryMetrics {
  deliveries: { inc(labels: { destination: string; status: string }): void };
  policyBlocked: { inc(labels: { rule: string; destination: string }): void };
  attempts: { observe(labels: { channel: string; outcome: string }, seconds: number): void };
}

function createDeliveryMetrics(registry: Registry) {
  return {
    deliveries: new Counter({
      name: 'b3os_router_deliveries_total',
      help: 'Notifications by destination and final state (delivered, dead, blocked); one per notification, not per attempt.',
      labelNames: ['destination', 'status'] as const,
      registers: [registry],
    }),
    policyBlocked: new Counter({
      name: 'b3os_router_policy_blocked_total',
      help: 'Deliveries to privileged destinations blocked by policy.',
      labelNames: ['rule', 'destination'] as const,
      registers: [registry],
    }),
    attempts: new Histogram({
      name: 'b3os_router_delivery_attempt_duration_seconds',
      help: 'Duration of each delivery attempt, by channel and outcome (delivered, retry, permanent).',
      labelNames: ['channel', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}

export function createMetrics(store: Store) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(PREFIX + name);
  const m = {
    registry,
    ...createDeliveryMetrics(registry),
    eventsReceived: new Counter({
      name: 'b3os_router_events_received_total',
      help: 'Hook requests by outcome (accepted, duplicate, ignored, rejected) and, when rejected, the reason.',
      labelNames: ['outcome', 'reason'] as const,
      registers: [registry],
    }),
    deliveriesCreated: new Counter({
      name: 'b3os_router_deliveries_created_total',
      help: 'Deliveries created (pending) by destination and origin (ingest, replay).',
      labelNames: ['destination', 'origin'] as const,
      registers: [registry],
    }),
    rulesLoaded: new Gauge({ name: 'b3os_router_rules_loaded', help: 'Rules in the running configuration.', registers: [registry] }),
    reloadSuccess: new Gauge({
      name: 'b3os_router_rules_reload_success',
      help: '1 when the last (re)load of the rules file succeeded, else 0.',
      registers: [registry],
    }),
    reloadTimestamp: new Gauge({
      name: 'b3os_router_rules_last_reload_timestamp_seconds',
      help: 'Unix time of the last (re)load attempt of the rules file.',
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'b3os_router_deliveries_pending',
      help: 'Deliveries waiting to be sent (pending or failed and due for retry).',
      registers: [registry],
      async collect() {
        try {
          const s = await store.stats(Date.now());
          this.set(s.queueDepth);
          oldest.set(s.oldestDueAgeSeconds);
        } catch {
          // The database being unavailable shows on /readyz; metrics keep the last values.
        }
      },
    }),
  };
  const oldest = new Gauge({
    name: 'b3os_router_oldest_due_delivery_age_seconds',
    help: 'How long the oldest due delivery has been waiting to be sent.',
    registers: [registry],
  });
  new Gauge({
    name: 'b3os_router_build_info',
    help: 'Build information; the value is always 1.',
    labelNames: ['version', 'node'] as const,
    registers: [registry],
  }).set({ version: VERSION, node: process.version }, 1);
  return m;
}
