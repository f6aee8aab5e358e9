// `b3os-router check [--rules FILE] [--against-recent 7d [--db FILE]] [--json]`: validates a rules
// file without starting anything. --against-recent also warns about enabled rules whose types no
// event stored in that time had (read-only on the database).
// Every problem is printed on stdout as `FILE:LINE:COL: message` (warnings as
// `FILE:LINE:COL: warning: message`), then one summary line. Exit 0 valid (warnings allowed),
// 1 invalid. It runs the same loader as `serve` and a reload, so it accepts and refuses exactly
// the same files.
import ms from 'ms';
import { formatProblem, loadRules, shownPath } from '../config/load.js';
import { rulesPath } from '../config/options.js';
import { countProblems } from '../config/problems.js';
import type { RouterConfig } from '../config/types.js';
import { receivedTypes, unseenTypeWarnings } from '../ops/received-types.js';
import { UsageError, bool, parse, str } from './args.js';
import { openStore } from './context.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { 'against-recent': { type: 'string' } });
  const recent = str(p, 'against-recent');
  const window = recent === undefined ? null : recentWindow(recent);
  const file = rulesPath(str(p, 'rules'));
  const { config, problems: found } = loadRules(file);
  let problems = found;
  if (config && window !== null) {
    const store = openStore(p, 'read');
    try {
      const counts = await receivedTypes(store, Date.now(), window.ms);
      problems = [...found, ...unseenTypeWarnings(config, counts, window.label)].sort((a, b) => a.line - b.line || a.col - b.col);
    } finally {
      await store.close();
    }
  }
  const { errors, warnings } = countProblems(problems);

  if (bool(p, 'json')) {
    process.stdout.write(
      JSON.stringify({ file, valid: config !== null, errors, warnings, problems, summary: summary(file, config, errors, warnings) }, null, 2) + '\n',
    );
    return config ? 0 : 1;
  }
  for (const problem of problems) process.stdout.write(formatProblem(problem) + '\n');
  process.stdout.write(summary(file, config, errors, warnings) + '\n');
  return config ? 0 : 1;
}

/** `7d`, `12h`, or a whole number of days. */
function recentWindow(text: string): { ms: number; label: string } {
  const days = /^\d+$/.test(text);
  const d = days ? Number(text) * 24 * 3600_000 : (ms(text as ms.StringValue) as number | undefined);
  if (typeof d !== 'number' || !Number.isFinite(d) || d <= 0) {
    throw new UsageError(`--against-recent takes how far back to look, like 7d, 24h or 7 (days), not "${text}"`);
  }
  return { ms: d, label: days ? `${text}d` : text };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function summary(file: string, config: RouterConfig | null, errors: number, warnings: number): string {
  const name = shownPath(file);
  if (!config) {
    return (
      `${name}: ${plural(errors, 'error')}${warnings ? `, ${plural(warnings, 'warning')}` : ''}; ` +
      'the router refuses this file until the errors above are fixed'
    );
  }
  const examples = config.rules.reduce((n, r) => n + r.examples.length, 0);
  const parts = [plural(config.rules.length, 'rule'), plural(config.destinations.size, 'destination'), plural(config.grants.length, 'grant')];
  const tail = examples === 0 ? '' : `; ${examples === 1 ? 'its example passes' : examples === 2 ? 'both examples pass' : `all ${examples} examples pass`}`;
  return `${name}: valid (${parts.join(', ')})${tail}${warnings ? `, with ${plural(warnings, 'warning')} above` : ''}`;
}
