// Rejected hooks are logged a few lines per reason per window, then counted and summed up in one
// "suppressed" line when the window ends: a flood of bad signatures must not become a flood of log
// lines (disk, log bills, and the lines that matter scrolled away). The metrics stay exact.
import type { FastifyBaseLogger } from 'fastify';
import { REJECT_LOG_DEFAULTS } from '../config/defaults.js';

export interface RejectLogOptions {
  /** Lines logged per reason per window. */
  linesPerReason: number;
  windowMs: number;
}

export class RejectLog {
  private readonly opts: RejectLogOptions;
  private readonly logged = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();
  private windowStart = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: FastifyBaseLogger,
    opts: Partial<RejectLogOptions> = {},
  ) {
    this.opts = { ...REJECT_LOG_DEFAULTS, ...opts };
  }

  /** Logs one rejection at warn, unless this reason already used its lines in this window. */
  warn(log: FastifyBaseLogger, fields: { reason: string; status: number }, message: string, now = Date.now()): void {
    if (now - this.windowStart >= this.opts.windowMs) {
      this.flush();
      this.windowStart = now;
    }
    const n = this.logged.get(fields.reason) ?? 0;
    if (n < this.opts.linesPerReason) {
      this.logged.set(fields.reason, n + 1);
      log.warn(fields, message);
      return;
    }
    this.suppressed.set(fields.reason, (this.suppressed.get(fields.reason) ?? 0) + 1);
    // Said when the window ends even if no rejection comes after it.
    if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), Math.max(1, this.windowStart + this.opts.windowMs - now));
      this.timer.unref();
    }
  }

  /** Writes the "suppressed" line for the window so far and starts counting afresh. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.logged.clear();
    if (this.suppressed.size === 0) return;
    const byReason = Object.fromEntries(this.suppressed);
    const total = [...this.suppressed.values()].reduce((a, b) => a + b, 0);
    this.suppressed.clear();
    this.log.warn(
      { suppressed: total, byReason, windowMs: this.opts.windowMs },
      `suppressed ${total} more rejected-hook log lines (events_received_total counts every one)`,
    );
  }
}
