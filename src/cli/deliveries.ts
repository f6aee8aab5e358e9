// `b3os-router deliveries [--status S] [--destination D] [--since 1h] [--limit N] [--json]`.
import { DELIVERY_STATUSES, type DeliveryStatus } from '../store/store.js';
import { UsageError, bool, int, parse, str } from './args.js';
import { iso, openStore, printJson, printTable, since } from './context.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { status: { type: 'string' }, destination: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' } });
  const status = str(p, 'status');
  if (status !== undefined && !DELIVERY_STATUSES.includes(status as DeliveryStatus)) {
    throw new UsageError(`--status is one of ${DELIVERY_STATUSES.join(', ')}, not "${status}"`);
  }
  // Flags are read before the database is opened: a usage error is said first.
  const from = since(p);
  const limit = int(p, 'limit', 100);
  const store = openStore(p, 'read');
  try {
    const list = await store.listDeliveries({ status: status as DeliveryStatus | undefined, destination: str(p, 'destination'), since: from, limit });
    if (bool(p, 'json')) {
      printJson({
        deliveries: list.map((d) => ({
          id: d.id,
          eventSeq: d.eventSeq,
          rule: d.rule,
          destination: d.destination,
          status: d.status,
          reason: d.reason,
          privileged: d.privileged,
          attempts: d.attempts,
          nextAttemptAt: iso(d.nextAttemptAt),
          createdAt: iso(d.createdAt),
          updatedAt: iso(d.updatedAt),
          origin: d.origin,
          events: d.eventCount ?? 1,
        })),
      });
    } else if (list.length === 0) {
      process.stdout.write('no deliveries\n');
    } else {
      printTable(
        ['UPDATED', 'STATUS', 'DESTINATION', 'RULE', 'EVENTS', 'ATTEMPTS', 'ID', 'REASON'],
        list.map((d) => [
          iso(d.updatedAt),
          d.status,
          d.destination,
          d.rule,
          (d.eventCount ?? 1) > 1 ? `${d.eventCount} (digest)` : 1,
          d.attempts,
          d.id,
          d.reason,
        ]),
      );
    }
    return 0;
  } finally {
    await store.close();
  }
}
