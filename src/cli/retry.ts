// `b3os-router retry DELIVERY | --dead [--destination D]`: dead deliveries back to pending. Only
// writes to the database; a running server's worker picks them up within a second.
import { UsageError, bool, parse, str } from './args.js';
import { CommandError, openStore, printJson } from './context.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { dead: { type: 'boolean' }, destination: { type: 'string' } }, 1);
  const id = p.positionals[0];
  if ((id === undefined) === !bool(p, 'dead')) throw new UsageError('say what to retry: retry DELIVERY, or retry --dead [--destination D]');
  const store = openStore(p, 'write');
  try {
    if (id !== undefined) {
      const d = await store.getDelivery(id);
      if (!d) throw new CommandError(`no delivery with id "${id}" (see \`b3os-router deliveries\`)`);
      if (d.status !== 'dead') throw new CommandError(`delivery ${id} is ${d.status}, not dead; only dead deliveries are retried (a blocked one needs a grant and \`replay\`)`);
    }
    const moved = await store.requeueDead({ id, destination: str(p, 'destination') }, Date.now());
    if (bool(p, 'json')) printJson({ requeued: moved });
    else process.stdout.write(moved.length === 0 ? 'no dead deliveries to retry\n' : `${moved.length} dead deliver${moved.length === 1 ? 'y' : 'ies'} put back to pending\n`);
    return 0;
  } finally {
    await store.close();
  }
}
