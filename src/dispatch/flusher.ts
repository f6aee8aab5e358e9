// The flush of due groups into notifications (Store.flushGroups), on a timer in the delivery
// thread, where the worker that sends them runs: every NOISE_DEFAULTS.flushEveryMs, and once at
// start (a group that fell due while the server was down, kill -9 included, is flushed at once).
// Each flush is one transaction, so a crash leaves either the gathered events or the digest,
// never both and never neither; on PostgreSQL every replica runs one and SKIP LOCKED shares them.
import type { Logger } from 'pino';
import { NOISE_DEFAULTS } from '../config/defaults.js';
import type { FlushedNotification, Store } from '../store/store.js';

export class GroupFlusher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly onFlushed: (made: FlushedNotification[]) => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.tick();
  }

  private tick(): void {
    if (this.stopped) return;
    this.running = this.flush().finally(() => {
      this.running = null;
      if (this.stopped) return;
      this.timer = setTimeout(() => this.tick(), NOISE_DEFAULTS.flushEveryMs);
      this.timer.unref();
    });
  }

  private async flush(): Promise<void> {
    try {
      for (;;) {
        const made = await this.store.flushGroups(Date.now(), NOISE_DEFAULTS.flushBatch);
        if (made.length > 0) {
          this.log.debug({ notifications: made.length, events: made.reduce((n, m) => n + m.eventCount, 0) }, 'groups flushed');
          this.onFlushed(made);
        }
        if (made.length < NOISE_DEFAULTS.flushBatch || this.stopped) return;
      }
    } catch (err) {
      this.log.error({ err: { message: (err as Error).message } }, 'could not flush groups; will try again');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
