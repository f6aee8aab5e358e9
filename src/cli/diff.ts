// `b3os-router diff --rules NEW.yaml [--current FILE] [--last N] [--json]`: what a rules change
// would change, on the last N stored events. The current rules come from --current, else
// RULES_FILE, else the default path.
import { rulesPath } from '../config/options.js';
import { DIFF_MAX_BYTES } from '../config/defaults.js';
import { diffRules, recentEventsWithin } from '../ops/diff.js';
import { UsageError, bool, int, parse, str } from './args.js';
import { loadConfig, openStore, printJson } from './context.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { current: { type: 'string' }, last: { type: 'string' } });
  const newFile = str(p, 'rules');
  if (newFile === undefined) throw new UsageError('name the new rules file: diff --rules NEW.yaml [--current FILE] [--last N]');
  const last = int(p, 'last', 1000);
  const next = loadConfig(p, newFile);
  const current = loadConfig(p, rulesPath(str(p, 'current')));
  const store = openStore(p, 'read');
  try {
    const { events, cut } = await recentEventsWithin(store, last, DIFF_MAX_BYTES);
    const report = diffRules(current, next, events);
    if (bool(p, 'json')) printJson(report);
    else {
      const within = cut ? ` (as many of the last ${last} as fit in ${DIFF_MAX_BYTES / 1024 / 1024} MiB)` : '';
      process.stdout.write(`Compared ${current.file} with ${next.file} on the last ${report.events} event(s)${within}:\n`);
      for (const line of report.sentences) process.stdout.write(`  ${line}\n`);
    }
    return 0;
  } finally {
    await store.close();
  }
}
