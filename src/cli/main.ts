// The `b3os-router` command: one module per sub-command, each exporting run(argv) → exit status.
// Errors reach the user as one clear line, never a stack trace.
import { UsageError } from './args.js';

const COMMANDS: Record<string, { load: () => Promise<{ run(argv: string[]): Promise<number> }>; about: string }> = {
  serve: { load: () => import('./serve.js'), about: 'receive, verify, dedupe, route and deliver (the default)' },
  check: { load: () => import('./check.js'), about: 'validate a rules file: check [--rules FILE] [--against-recent 7d]' },
  test: { load: () => import('./test-event.js'), about: 'dry-run an event through the rules: test --event FILE [--rules FILE] [--json]' },
  events: { load: () => import('./events.js'), about: 'list stored events: events [--type T] [--since 1h] [--limit N] | events --types [--since 1d]' },
  deliveries: { load: () => import('./deliveries.js'), about: 'list deliveries: deliveries [--status S] [--destination D] [--since 1h]' },
  explain: { load: () => import('./explain.js'), about: 'why an event was (not) routed, and what happened: explain EVENT' },
  retry: { load: () => import('./retry.js'), about: 'put dead deliveries back to pending: retry DELIVERY | --dead [--destination D]' },
  replay: { load: () => import('./replay.js'), about: 'run the current rules on stored events: replay EVENT | --since 1h [--dry-run]' },
  diff: { load: () => import('./diff.js'), about: 'what a rules change would change: diff --rules NEW.yaml [--last N]' },
  ping: { load: () => import('./ping.js'), about: 'send a test message to one destination: ping DESTINATION' },
  silence: { load: () => import('./silence.js'), about: 'hold notifications back for a while: silence add [--rule R] [--destination D] [--match F=V] --for 2h | list [--all] | expire ID' },
  subscription: { load: () => import('./subscription.js'), about: 'the body and curl line to register with B3OS: subscription [--url URL] [--name NAME] [--json]' },
};

function usage(): string {
  const lines = ['usage: b3os-router <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(13)} ${c.about}`);
  lines.push('', 'every command accepts --rules FILE (RULES_FILE), --db FILE (DB_PATH) and --json');
  return lines.join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  let [name, ...rest] = argv;
  if (name === undefined || name.startsWith('-')) {
    if (name === '--help' || name === '-h') {
      process.stdout.write(usage());
      return 0;
    }
    rest = argv;
    name = 'serve';
  }
  if (name === 'help') {
    process.stdout.write(usage());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`b3os-router: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    const mod = await command.load();
    return await mod.run(rest);
  } catch (err) {
    const message = (err as { message?: string }).message ?? String(err);
    // --json promises exactly one JSON document on stdout, failures included.
    if (rest.includes('--json')) process.stdout.write(JSON.stringify({ error: message }) + '\n');
    process.stderr.write(`b3os-router ${name}: ${message}\n`);
    if (process.env.B3OS_ROUTER_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

const code = await main(process.argv.slice(2));
// serve keeps running until it is asked to stop; it sets the exit code itself.
if (code !== -1) process.exitCode = code;
