// `b3os-router events [--type T] [--since 1h] [--limit N] [--json]`: stored events, newest first.
// `events --types [--since 1d]`: the types received (default: the last day), with counts.
import { RECENT_TYPES_WINDOW_MS } from '../config/defaults.js';
import { receivedTypes } from '../ops/received-types.js';
import type { Store } from '../store/store.js';
import { UsageError, int, parse, str, bool, type Parsed } from './args.js';
import { iso, openStore, printJson, printTable, since } from './context.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { type: { type: 'string' }, types: { type: 'boolean' }, since: { type: 'string' }, limit: { type: 'string' } });
  if (bool(p, 'types') && str(p, 'type') !== undefined)
    throw new UsageError('--types counts every type; leave out --type, or drop --types to list events of one type');
  // Flags are read before the database is opened: a usage error is said first.
  const now = Date.now();
  const from = since(p, now);
  const limit = int(p, 'limit', 100);
  const store = openStore(p, 'read');
  try {
    if (bool(p, 'types')) return await types(p, store, now, from ?? now - RECENT_TYPES_WINDOW_MS);
    const events = await store.listEvents({ type: str(p, 'type'), since: from, limit });
    if (bool(p, 'json')) {
      printJson({
        events: events.map((e) => ({
          key: e.key,
          keyKind: e.keyKind,
          eventId: e.eventId,
          runId: e.runId,
          executionId: e.executionId,
          type: e.type,
          receivedAt: iso(e.receivedAt),
          lastSeenAt: iso(e.lastSeenAt),
          duplicates: e.duplicates,
        })),
      });
    } else if (events.length === 0) {
      process.stdout.write('no events\n');
    } else {
      printTable(
        ['RECEIVED', 'TYPE', 'EVENT', 'DUPLICATES', 'KEY'],
        events.map((e) => [iso(e.receivedAt), e.type, e.eventId ?? e.runId ?? e.executionId, e.duplicates, e.key]),
      );
    }
    return 0;
  } finally {
    await store.close();
  }
}

async function types(p: Parsed, store: Store, now: number, from: number): Promise<number> {
  const counts = await receivedTypes(store, now, now - from);
  if (bool(p, 'json')) {
    printJson({ since: iso(from), types: counts.map((c) => ({ type: c.type, count: c.count, lastReceivedAt: iso(c.lastReceivedAt) })) });
  } else if (counts.length === 0) {
    process.stdout.write(`no events received since ${iso(from)}\n`);
  } else {
    process.stdout.write(`types received since ${iso(from)}:\n`);
    printTable(
      ['TYPE', 'COUNT', 'LAST RECEIVED'],
      counts.map((c) => [c.type ?? '(no type)', c.count, iso(c.lastReceivedAt)]),
    );
  }
  return 0;
}
