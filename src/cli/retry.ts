// `b3os-router retry DELIVERY | --dead [--destination D]`: dead deliveries back to pending. Only
// writes to the database; a running server's worker picks them up within a second.
import { retryDead } from '../ops/retry.js';
import type { StoredDelivery } from '../store/store.js';
import { UsageError, bool, parse, str } from './args.js';
import { CommandError, loadConfig, openStore, printJson } from './context.js';
import type { RouterConfig } from '../config/types.js';
import { requeueSilenced } from './retry-silenced.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { dead: { type: 'boolean' }, destination: { type: 'string' } }, 1);
  const id = p.positionals[0];
  if ((id === undefined) === !bool(p, 'dead')) throw new UsageError('say what to retry: retry DELIVERY, or retry --dead [--destination D]');
  const store = openStore(p, 'write');
  try {
    let dead: StoredDelivery[];
    if (id !== undefined) {
      const d = await store.getDelivery(id);
      if (!d) throw new CommandError(`no delivery with id "${id}" (see \`b3os-router deliveries\`)`);
      // Noise control: a silenced one is sent on purpose, decided afresh at send time (policy, silences).
      if (d.status === 'silenced') return requeueSilenced(store, d.id, bool(p, 'json'));
      if (d.status !== 'dead')
        throw new CommandError(
          `delivery ${id} is ${d.status}, not dead; only dead and silenced deliveries are retried (a blocked one needs a grant and \`replay\`)`,
        );
      dead = [d];
    } else {
      dead = await store.listDeliveries({ status: 'dead', destination: str(p, 'destination'), limit: 1_000_000 });
    }
    // The rules say which destinations are privileged now (and hold their grants).
    let config: RouterConfig | null = null;
    const result = await retryDead(store, () => (config ??= loadConfig(p)), dead);
    if (bool(p, 'json')) printJson(result);
    else {
      const n = result.requeued.length;
      process.stdout.write(
        n === 0 && result.refused.length === 0 ? 'no dead deliveries to retry\n' : `${n} dead deliver${n === 1 ? 'y' : 'ies'} put back to pending\n`,
      );
      for (const r of result.refused) process.stdout.write(`not retried: ${r.id} to privileged "${r.destination}": ${r.reason}\n`);
    }
    return result.refused.length > 0 && result.requeued.length === 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}
