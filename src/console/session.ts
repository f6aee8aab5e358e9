// Console sessions, kept in the router's memory: the cookie holds only a random id (256 bits), so
// there is nothing in it to forge or read. Each session has its own CSRF token. A restart signs
// everyone out, which is fine for a page a few people use.
import { randomBytes } from 'node:crypto';
import { CONSOLE_DEFAULTS } from '../config/defaults.js';

export interface Session {
  id: string;
  csrf: string;
  expiresAt: number;
  /** A message for the next page shown (after a redirect), then cleared. */
  notice: { text: string; bad: boolean } | null;
}

export class Sessions {
  private readonly map = new Map<string, Session>();

  create(now = Date.now()): Session {
    this.sweep(now);
    // Past the cap the oldest session goes (Map keeps insertion order).
    while (this.map.size >= CONSOLE_DEFAULTS.maxSessions) this.map.delete(this.map.keys().next().value!);
    const s: Session = {
      id: randomBytes(32).toString('base64url'),
      csrf: randomBytes(32).toString('base64url'),
      expiresAt: now + CONSOLE_DEFAULTS.sessionMs,
      notice: null,
    };
    this.map.set(s.id, s);
    return s;
  }

  get(id: string | undefined, now = Date.now()): Session | null {
    if (!id) return null;
    const s = this.map.get(id);
    if (!s) return null;
    if (s.expiresAt <= now) {
      this.map.delete(id);
      return null;
    }
    return s;
  }

  destroy(id: string): void {
    this.map.delete(id);
  }

  private sweep(now: number): void {
    for (const [id, s] of this.map) if (s.expiresAt <= now) this.map.delete(id);
  }
}
