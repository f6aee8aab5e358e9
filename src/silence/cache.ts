// The silences a running process honours, read from the store every NOISE_DEFAULTS.silenceRefreshMs
// (so one added by `silence add`, by any process or replica, holds within a second) and matched in
// memory: ingest asks inside its transaction, which must not wait for I/O. A refresh that fails
// keeps the last list (the database being unavailable shows on /readyz). Expiry is checked at each
// match, not only at refresh, so a silence ends on time.
import type { Logger } from 'pino';
import { NOISE_DEFAULTS } from '../config/defaults.js';
import type { EventFields, EventObject } from '../config/types.js';
import type { Store, StoredSilence } from '../store/store.js';
import { compileSilence, type CompiledSilence } from './model.js';

export class SilenceCache {
  private list: CompiledSilence[] = [];
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly fields: () => EventFields,
    private readonly log: Logger,
  ) {}

  /** Reads the silences once, then keeps them fresh. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), NOISE_DEFAULTS.silenceRefreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        // Every active one (silence add keeps them to NOISE_DEFAULTS.activeSilences): a silence left out
        // here would not hold.
        const active = await this.store.listSilences({ now: Date.now(), all: false, limit: Number.MAX_SAFE_INTEGER });
        const fields = this.fields();
        this.list = active.map((s) => compileSilence(s, fields));
      } catch (err) {
        this.log.warn({ err: { message: (err as Error).message } }, 'could not read the silences; keeping the last ones');
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** The first active silence that matches this delivery, or null. */
  find(event: EventObject, rule: string, destination: string, now: number): StoredSilence | null {
    for (const c of this.list) if (c.silence.endsAt > now && c.matches(event, rule, destination)) return c.silence;
    return null;
  }
}
