// `b3os-router events [--type T] [--since 1h] [--limit N] [--json]`: stored events, newest first.
import { int, parse, str, bool } from './args.js';
import { iso, openStore, printJson, printTable, since } from './context.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { type: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' } });
  const store = openStore(p, 'read');
  try {
    const events = await store.listEvents({ type: str(p, 'type'), since: since(p), limit: int(p, 'limit', 100) });
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
