// Retention: events (with their deliveries and attempts) older than `retention` are pruned in the
// background, in small batches with a yield between them, so ingest is never held up for long.
// An event with a delivery still pending or failed is kept whatever its age.
import type { Logger } from 'pino';
import type { RouterConfig } from '../config/types.js';
import type { Store } from '../store/store.js';

export const PRUNE_EVERY_MS = 60_000;
export const PRUNE_BATCH = 200;

export function startRetention(store: Store, rules: () => RouterConfig, log: Logger): { stop(): void; runOnce(): Promise<number> } {
  let stopped = false;
  const runOnce = async (): Promise<number> => {
    let total = 0;
    // retentionMs is at least an hour (config/compile.ts: max_per_hour counts the last hour).
    const before = Date.now() - rules().retentionMs;
    for (;;) {
      if (stopped) break;
      const n = await store.prune(before, PRUNE_BATCH);
      total += n;
      if (n < PRUNE_BATCH) break;
      await new Promise((r) => setImmediate(r));
    }
    if (total > 0) log.info({ pruned: total }, 'pruned events past retention');
    return total;
  };
  const timer = setInterval(() => {
    runOnce().catch((err) => log.warn({ err: { message: (err as Error).message } }, 'pruning failed; will try again'));
  }, PRUNE_EVERY_MS);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
    runOnce,
  };
}
