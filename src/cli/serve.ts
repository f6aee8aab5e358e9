// `b3os-router serve`: runs until SIGTERM/SIGINT, then shuts down cleanly and exits 0.
// SIGHUP reloads the rules file.
import { formatProblem, loadRules } from '../config/load.js';
import { OptionError, serveOptions, type ServeOptions } from '../config/options.js';
import { secretsProblem } from '../config/whsec.js';
import { createRouter, type Router } from '../router.js';
import { describeDb } from '../store/open.js';
import { parse, str } from './args.js';
import { CommandError } from './context.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { port: { type: 'string' }, host: { type: 'string' } });

  // Signals are taken from the first moment: a SIGTERM during start-up stops cleanly once the
  // server is up (or at once, before it is), and a SIGHUP never kills the process.
  let router: Router | null = null;
  let stopRequested: string | null = null;
  let wake: (() => void) | null = null;
  const stop = (signal: string) => {
    if (stopRequested) return router?.log.info({ signal }, 'already shutting down');
    stopRequested = signal;
    router?.log.info({ signal }, 'shutting down');
    wake?.();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    const r = router;
    if (!r) return;
    // One reload at a time, in the order the signals came.
    reloading = reloading
      .then(() => r.reload())
      .then(
        () => undefined,
        (err: Error) => r.log.error({ err: { message: err.message } }, 'reload refused: the rules file could not be read'),
      );
  });

  // Failures are thrown as CommandErrors: main.ts prints every command's errors the same way.
  let opts: ServeOptions;
  try {
    opts = serveOptions({ rules: str(p, 'rules'), db: str(p, 'db'), port: str(p, 'port'), host: str(p, 'host') });
  } catch (err) {
    throw err instanceof OptionError ? new CommandError(err.message) : err;
  }

  const { config, problems } = loadRules(opts.rulesFile);
  for (const problem of problems) process.stderr.write(formatProblem(problem) + '\n');
  if (config === null) {
    throw new CommandError(`not starting: ${opts.rulesFile} has the problems above (run \`b3os-router check\` after fixing them)`);
  }
  const badSecret = secretsProblem(config.server.signature, opts.secrets);
  if (badSecret) throw new CommandError(`not starting: ${badSecret}`);

  try {
    router = createRouter(opts, config);
  } catch (err) {
    throw new CommandError(databaseProblem(err, opts.dbPath) ?? `cannot open the database ${describeDb(opts.dbPath)}: ${(err as Error).message}`);
  }
  try {
    await router.listen();
  } catch (err) {
    const e = err as { code?: string; message: string };
    const why = e.code === 'E_SERVER_LOCK' ? e.message : (databaseProblem(err, opts.dbPath) ?? `cannot listen on ${opts.host}:${opts.port}: ${e.message}`);
    await router.close().catch(() => undefined);
    throw new CommandError(why);
  }

  if (!stopRequested) await new Promise<void>((resolve) => (wake = resolve));
  else router.log.info({ signal: stopRequested }, 'shutting down');
  await router.close();
  router.log.info('stopped');
  router.log.flush?.();
  return 0;
}

/** The database's own failures at start-up, said as what they are (not as a failure to listen). */
function databaseProblem(err: unknown, spec: string): string | null {
  const path = describeDb(spec);
  const e = err as { code?: unknown; message?: string; cause?: { code?: unknown; message?: string } };
  // PostgreSQL (store/postgres.ts): the message and its cause are already free of the password.
  // (The delivery thread's start failure arrives as its message only.)
  if (e?.code === 'E_STORE_UNAVAILABLE' || /^database unavailable/.test(e?.message ?? ''))
    return `cannot use the database ${path}: ${e.cause?.message ?? e.message}`;
  const found = typeof e?.code === 'string' && e.code.startsWith('SQLITE_') ? e : e?.cause;
  const code = typeof found?.code === 'string' ? found.code : '';
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return `the database file ${path} is not a valid database (${found?.message}); restore it from a backup, or move it away to start with an empty one`;
  }
  if (code.startsWith('SQLITE_')) return `cannot use the database ${path}: ${found?.message}`;
  return null;
}
