// `b3os-router explain EVENT [--json]`: why an event was (or was not) routed, and what happened.
import { explainEvent } from '../ops/explain.js';
import { UsageError, bool, parse } from './args.js';
import { CommandError, loadConfig, openStore, printJson } from './context.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, {}, 1);
  const id = p.positionals[0];
  if (id === undefined) throw new UsageError('name the event: explain EVENT (its id as B3OS sent it, or its key from `events`)');
  const config = loadConfig(p);
  const store = openStore(p, 'read');
  try {
    const report = await explainEvent(store, config, id);
    if (report === null) throw new CommandError(`no stored event with id or key "${id}" (see \`b3os-router events\`)`);
    if (bool(p, 'json')) printJson(report);
    else process.stdout.write(report.sentences.join('\n') + '\n');
    return 0;
  } finally {
    await store.close();
  }
}
