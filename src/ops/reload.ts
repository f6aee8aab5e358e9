// The rules in force, and their reload (SIGHUP). An invalid file is refused with the `check`
// messages, and the last good rules keep running.
import type { Logger } from 'pino';
import { formatProblem, loadRules } from '../config/load.js';
import type { Problem, RouterConfig } from '../config/types.js';
import { secretsProblem } from '../config/whsec.js';
import type { Metrics } from './metrics.js';

export class RulesHolder {
  constructor(
    private config: RouterConfig,
    /** Readies the rest of the router for a new good version (the delivery thread compiles the same text). */
    private readonly prepare: (next: RouterConfig) => Promise<void> = async () => undefined,
    /** The signing secrets in force (current, then previous), as serve read them at start. */
    private readonly secrets: readonly string[] = [],
    private readonly env: Record<string, string | undefined> = process.env,
  ) {}

  /** When the rules in force were loaded (ms). */
  loadedAt = Date.now();
  /** The last reload attempt (SIGHUP), for the console; null until the first. */
  lastReload: { at: number; ok: boolean } | null = null;

  get current(): RouterConfig {
    return this.config;
  }

  /** Re-reads the file; swaps only when it is valid. */
  async reload(log: Logger, metrics: Metrics): Promise<{ ok: boolean; problems: Problem[] }> {
    const { config, problems } = loadRules(this.config.file, this.env);
    const at = Date.now();
    metrics.reloadTimestamp.set(at / 1000);
    this.lastReload = { at, ok: false };
    if (config === null) {
      metrics.reloadSuccess.set(0);
      log.error({ problems: problems.map(formatProblem) }, `reload refused\n${problems.map(formatProblem).join('\n')}`);
      return { ok: false, problems };
    }
    // A switch to server.signature.scheme: standard-webhooks needs whsec_ secrets, as at start.
    const badSecret = secretsProblem(config.server.signature, this.secrets);
    if (badSecret) {
      metrics.reloadSuccess.set(0);
      log.error(`reload refused\n${badSecret}`);
      return { ok: false, problems };
    }
    const old = this.config;
    if (old.server.path !== config.server.path || old.server.maxBodyBytes !== config.server.maxBodyBytes) {
      log.warn('server.path and server.max_body_bytes changes take effect at the next restart');
    }
    try {
      await this.prepare(config);
    } catch (err) {
      metrics.reloadSuccess.set(0);
      log.error({ err: { message: (err as Error).message } }, `reload refused\n${(err as Error).message}`);
      return { ok: false, problems };
    }
    this.config = config;
    this.loadedAt = at;
    this.lastReload = { at, ok: true };
    metrics.reloadSuccess.set(1);
    metrics.rulesLoaded.set(config.rules.length);
    for (const p of problems) log.warn(formatProblem(p));
    log.info({ rules: config.rules.length, destinations: config.destinations.size, hash: config.hash.slice(0, 12) }, 'rules reloaded');
    return { ok: true, problems };
  }
}
