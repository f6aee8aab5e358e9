// `b3os-router check [--rules FILE] [--json]`: validates a rules file without starting anything.
// Every problem is printed on stdout as `FILE:LINE:COL: message` (warnings as
// `FILE:LINE:COL: warning: message`), then one summary line. Exit 0 valid (warnings allowed),
// 1 invalid. It runs the same loader as `serve` and a reload, so it accepts and refuses exactly
// the same files.
import { formatProblem, loadRules, shownPath } from '../config/load.js';
import { rulesPath } from '../config/options.js';
import type { RouterConfig } from '../config/types.js';
import { bool, parse, str } from './args.js';

const USAGE = 'usage: b3os-router check [--rules FILE] [--json]\n';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv);
  if (bool(p, 'help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const file = rulesPath(str(p, 'rules'));
  const { config, problems } = loadRules(file);
  const errors = problems.filter((x) => x.severity === 'error').length;
  const warnings = problems.length - errors;

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
  const parts = [
    plural(config.rules.length, 'rule'),
    plural(config.destinations.size, 'destination'),
    plural(config.grants.length, 'grant'),
  ];
  const tail = examples === 0 ? '' : `; ${examples === 1 ? 'its example passes' : examples === 2 ? 'both examples pass' : `all ${examples} examples pass`}`;
  return `${name}: valid (${parts.join(', ')})${tail}${warnings ? `, with ${plural(warnings, 'warning')} above` : ''}`;
}
