// `b3os-router replay EVENT | --since 1h [--limit N] [--dry-run] [--json]`. Only writes to the
// database; a running server's worker picks the new deliveries up within a second.
import { REPLAY_CHUNK, replay } from '../ops/replay.js';
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
    let count = 0;
    let next: StoredEvent | null = null;
    let events: StoredEvent[] | AsyncIterable<StoredEvent[]>;
    if (id !== undefined) {
      const e = await store.findEvent(id);
      if (!e) throw new CommandError(`no stored event with id or key "${id}" (see \`b3os-router events\`)`);
      events = [e];
      count = 1;
    } else {
      // A page at a time (events can be up to the body limit each): what is held stays one page.
      events = (async function* () {
        let after = 0;
        while (count < limit) {
          const page = await store.eventsSince(from!, Math.min(REPLAY_CHUNK, limit - count), after);
          if (page.length === 0) return;
          count += page.length;
          after = page.at(-1)!.seq;
          yield page;
        }
        next = (await store.eventsSince(from!, 1, after))[0] ?? null;
      })();
    }
    const lines = await replay(store, config, events, { dryRun });
    const created = lines.filter((l) => l.action === 'create').length;
    // Past --limit: say where the rest starts, so that it can be replayed too.
    // (whole minutes, rounded up: the events at the edge that were replayed are left alone again).
    const more =
      next === null
        ? null
        : `more events after the limit of ${limit}: replay them with --since ${Math.ceil((Date.now() - (next as StoredEvent).receivedAt) / 60_000)}m`;
    if (bool(p, 'json')) {
      printJson({ dryRun, events: count, created, lines, more });
      return 0;
    }
    if (lines.length > 0)
      printTable(
        ['EVENT', 'RULE', 'DESTINATION', dryRun ? 'WOULD' : 'DID', 'WHY'],
        lines.map((l) => [l.event, l.rule, l.destination, l.action, l.reason]),
      );
    if (more) process.stdout.write(`${more}\n`);
    process.stdout.write(
      `${count} event(s) replayed${dryRun ? ' (dry run: nothing written)' : ''}: ${created} deliver${created === 1 ? 'y' : 'ies'} ${dryRun ? 'would be' : ''} created, ` +
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
