// `b3os-router serve`: runs until SIGTERM/SIGINT, then shuts down cleanly and exits 0.
// SIGHUP reloads the rules file.
import { formatProblem, loadRules } from '../config/load.js';
import { OptionError, serveOptions } from '../config/options.js';
import { createRouter } from '../router.js';
import { parse, str } from './args.js';

export async function run(argv: string[]): Promise<number> {
  const p = parse(argv, { port: { type: 'string' }, host: { type: 'string' } });
  let opts;
  try {
    opts = serveOptions({ rules: str(p, 'rules'), db: str(p, 'db'), port: str(p, 'port'), host: str(p, 'host') });
  } catch (err) {
    if (err instanceof OptionError) {
      process.stderr.write(`b3os-router: ${err.message}\n`);
      return 1;
    }
    throw err;
  }

  const { config, problems } = loadRules(opts.rulesFile);
  for (const problem of problems) process.stderr.write(formatProblem(problem) + '\n');
  if (config === null) {
    process.stderr.write(`b3os-router: not starting: ${opts.rulesFile} has the problems above (run \`b3os-router check\` after fixing them)\n`);
    return 1;
  }

  let router;
  try {
    router = createRouter(opts, config);
  } catch (err) {
    process.stderr.write(`b3os-router: cannot open the database ${opts.dbPath}: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    await router.listen();
  } catch (err) {
    process.stderr.write(`b3os-router: cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}\n`);
    await router.close();
    return 1;
  }

  process.on('SIGHUP', () => router.reload());
  await new Promise<void>((resolve) => {
    let stopping = false;
    // A repeated signal during shutdown is logged, not fatal: the bounded shutdown finishes anyway.
    const stop = (signal: string) => {
      if (stopping) return router.log.info({ signal }, 'already shutting down');
      stopping = true;
      router.log.info({ signal }, 'shutting down');
      resolve();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  await router.close();
  router.log.info('stopped');
  router.log.flush?.();
  return 0;
}
