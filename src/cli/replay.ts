// `b3os-router replay EVENT | --since 1h [--limit N] [--dry-run] [--json]`. Only writes to the
// database; a running server's worker picks the new deliveries up within a second.
import { replay } from '../ops/replay.js';
import type { StoredEvent } from '../store/store.js';
import { UsageError, bool, int, parse } from './args.js';
import { CommandError, loadConfig, openStore, printJson, printTable, since } from './context.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { since: { type: 'string' }, limit: { type: 'string' }, 'dry-run': { type: 'boolean' } }, 1);
  const id = p.positionals[0];
  const from = since(p);
  if ((id === undefined) === (from === undefined)) throw new UsageError('say what to replay: replay EVENT, or replay --since 1h [--dry-run]');
  const limit = int(p, 'limit', 10_000);
  const config = loadConfig(p);
  const dryRun = bool(p, 'dry-run');
  const store = openStore(p, dryRun ? 'read' : 'write');
  try {
    let events: StoredEvent[];
    if (id !== undefined) {
      const e = await store.findEvent(id);
      if (!e) throw new CommandError(`no stored event with id or key "${id}" (see \`b3os-router events\`)`);
      events = [e];
    } else {
      events = await store.eventsSince(from!, limit);
    }
    const lines = await replay(store, config, events, { dryRun });
    const created = lines.filter((l) => l.action === 'create').length;
    if (bool(p, 'json')) {
      printJson({ dryRun, events: events.length, created, lines });
      return 0;
    }
    if (lines.length > 0)
      printTable(
        ['EVENT', 'RULE', 'DESTINATION', dryRun ? 'WOULD' : 'DID', 'WHY'],
        lines.map((l) => [l.event, l.rule, l.destination, l.action, l.reason]),
      );
    process.stdout.write(
      `${events.length} event(s) replayed${dryRun ? ' (dry run: nothing written)' : ''}: ${created} deliver${created === 1 ? 'y' : 'ies'} ${dryRun ? 'would be' : ''} created, ` +
        `${lines.filter((l) => l.action === 'skip').length} pair(s) left alone, ${lines.filter((l) => l.action === 'blocked').length} blocked by policy\n`.replace(
          '  ',
          ' ',
        ),
    );
    return 0;
  } finally {
    await store.close();
  }
}
