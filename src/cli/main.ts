// The `b3os-router` command: one module per sub-command, each exporting run(argv) → exit status.
// Help and errors are handled here, the same way for every command: `CMD --help` prints that
// command's usage and exits 0 without running it; an error is one line `b3os-router CMD: message`
// on stderr (exit 1), a usage error adds the command's usage line (exit 2), and with --json stdout
// still holds exactly one JSON document. Never a stack trace (B3OS_ROUTER_DEBUG=1 shows it).
import { UsageError } from './args.js';

interface Command {
  load: () => Promise<{ run(argv: string[]): Promise<number> }>;
  /** After `b3os-router `; alternatives separated by ` | `. */
  usage: string;
  about: string;
}

const COMMANDS: Record<string, Command> = {
  serve: {
    load: () => import('./serve.js'),
    usage: 'serve [--rules FILE] [--db FILE] [--port N] [--host ADDR]',
    about: 'receive, verify, dedupe, route and deliver (the default command); runs until SIGTERM or SIGINT, reloads the rules on SIGHUP',
  },
  check: {
    load: () => import('./check.js'),
    usage: 'check [--rules FILE] [--against-recent 7d [--db FILE]] [--json]',
    about: 'validate a rules file without starting anything; every problem as FILE:LINE:COL: message',
  },
  test: {
    load: () => import('./test-event.js'),
    usage: 'test --event FILE [--rules FILE] [--json]',
    about: 'dry-run one event through the rules: what matches, what each destination would receive, each policy decision',
  },
  events: {
    load: () => import('./events.js'),
    usage: 'events [--type T] [--since 1h] [--limit N] [--json] | events --types [--since 1d] [--json]',
    about: 'list stored events, newest first; --types: the types received, with counts',
  },
  deliveries: {
    load: () => import('./deliveries.js'),
    usage: 'deliveries [--status S] [--destination D] [--since 1h] [--limit N] [--json]',
    about: 'list deliveries, newest first',
  },
  explain: {
    load: () => import('./explain.js'),
    usage: 'explain EVENT [--json]',
    about: 'why an event was (or was not) routed, and what happened to each delivery',
  },
  retry: {
    load: () => import('./retry.js'),
    usage: 'retry DELIVERY [--json] | retry --dead [--destination D] [--json]',
    about: 'put dead deliveries back to pending (a running server sends them within a second)',
  },
  replay: {
    load: () => import('./replay.js'),
    usage: 'replay EVENT [--dry-run] [--json] | replay --since 1h [--limit N] [--dry-run] [--json]',
    about: 'run the current rules on stored events; creates only the deliveries that were never made or were blocked',
  },
  diff: {
    load: () => import('./diff.js'),
    usage: 'diff --rules NEW.yaml [--current FILE] [--last N] [--json]',
    about: 'what a rules change would change, on the last N stored events',
  },
  ping: {
    load: () => import('./ping.js'),
    usage: 'ping DESTINATION [--json]',
    about: 'send a test message straight to one destination (no server needed)',
  },
  silence: {
    load: () => import('./silence.js'),
    usage:
      'silence add [--rule R] [--destination D] [--match FIELD=VALUE …] (--for DURATION|--until TIME) [--comment TEXT] [--by NAME] | silence list [--all] | silence expire ID',
    about: 'hold notifications back for a while, without editing the rules file (stored in the database; a running server honours it within a second)',
  },
  subscription: {
    load: () => import('./subscription.js'),
    usage: 'subscription [--url URL] [--name NAME] [--json]',
    about: 'print the body and curl line that register this router with B3OS (sends nothing)',
  },
  status: {
    load: () => import('./status.js'),
    usage: 'status [--json]',
    about: 'the live servers on this database (one on SQLite, the replicas on PostgreSQL) and the queue',
  },
};

const COMMON = 'every command accepts --rules FILE (RULES_FILE), --db FILE|postgres://URL (DATABASE_URL, DB_PATH), --json and --help';

function usageLines(name: string): string {
  return COMMANDS[name]!.usage.split(' | ')
    .map((u, i) => `${i === 0 ? 'usage:' : '      '} b3os-router ${u}`)
    .join('\n');
}

function commandHelp(name: string): string {
  return `${usageLines(name)}\n\n${COMMANDS[name]!.about}\n\n${COMMON}\n`;
}

function usage(): string {
  const lines = ['usage: b3os-router <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(13)} ${c.about}`);
  lines.push('', `${COMMON}; \`b3os-router CMD --help\` shows one command's options`);
  return lines.join('\n') + '\n';
}

/** --help or -h anywhere before a `--`. */
function wantsHelp(argv: string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
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
    const about = rest[0];
    if (about !== undefined && COMMANDS[about]) process.stdout.write(commandHelp(about));
    else process.stdout.write(usage());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`b3os-router: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (wantsHelp(rest)) {
    process.stdout.write(commandHelp(name));
    return 0;
  }
  try {
    const mod = await command.load();
    return await mod.run(rest);
  } catch (err) {
    const message = (err as { message?: string }).message ?? String(err);
    // --json promises exactly one JSON document on stdout, failures included.
    if (rest.includes('--json')) process.stdout.write(JSON.stringify({ error: message }) + '\n');
    process.stderr.write(`b3os-router ${name}: ${message}\n`);
    if (err instanceof UsageError) process.stderr.write(`${usageLines(name)}\n`);
    if (process.env.B3OS_ROUTER_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

const code = await main(process.argv.slice(2));
// serve keeps running until it is asked to stop; it sets the exit code itself.
if (code !== -1) process.exitCode = code;
