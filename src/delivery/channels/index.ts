// Channels per configured destination: createChannel builds the one a destination sends through
// (its own HTTP connection pools, its own SMTP pool), and the registry keeps one per destination name,
// replacing it when the destination's settings change on reload and closing the old one once its
// sends have finished. The worker and `b3os-router ping` go through here.
import type { Destination } from '../../config/types.js';
import type { Channel, ChannelEnv } from './channel.js';
import { EmailChannel } from './email.js';
import { SlackChannel } from './slack.js';
import { WebhookChannel } from './webhook.js';

export type { Channel, ChannelEnv, SendResult } from './channel.js';

export function createChannel(destination: Destination, env: ChannelEnv): Channel {
  switch (destination.type) {
    case 'slack':
      return new SlackChannel(destination, env);
    case 'email':
      return new EmailChannel(destination, env);
    case 'webhook':
      return new WebhookChannel(destination);
  }
}

const fingerprints = new WeakMap<Destination, string>();

/** What a channel is built from: a changed fingerprint means a new channel. */
export function fingerprint(destination: Destination): string {
  // A compiled destination never changes (a reload compiles new ones): worked out once, not per send.
  let fp = fingerprints.get(destination);
  if (fp === undefined) {
    // Templates serialise as their source; `line` moves when anything above it is edited.
    const { line: _line, ...settings } = destination;
    fp = JSON.stringify(settings);
    fingerprints.set(destination, fp);
  }
  return fp;
}

interface Entry {
  fingerprint: string;
  channel: Channel;
  inFlight: number;
  /** Replaced or removed: closed when its last send finishes. */
  retired: boolean;
}

/** A channel lent for one send; `release()` when the send is over. */
export interface Lease {
  channel: Channel;
  release(): void;
}

export class ChannelRegistry {
  private readonly current = new Map<string, Entry>();
  private readonly closing = new Set<Promise<void>>();

  constructor(
    private readonly env: ChannelEnv,
    private readonly make: (destination: Destination, env: ChannelEnv) => Channel = createChannel,
  ) {}

  /** The channel for this destination as configured now (a new one if its settings changed). */
  lease(destination: Destination): Lease {
    const fp = fingerprint(destination);
    let e = this.current.get(destination.name);
    if (e && e.fingerprint !== fp) {
      this.retire(e);
      e = undefined;
    }
    if (!e) {
      e = { fingerprint: fp, channel: this.make(destination, this.env), inFlight: 0, retired: false };
      this.current.set(destination.name, e);
    }
    const entry = e;
    entry.inFlight++;
    let released = false;
    return {
      channel: entry.channel,
      release: () => {
        if (released) return;
        released = true;
        entry.inFlight--;
        if (entry.retired && entry.inFlight === 0) this.closeEntry(entry);
      },
    };
  }

  /** After a reload: channels of destinations that are gone or changed are retired now. */
  sync(destinations: ReadonlyMap<string, Destination>): void {
    for (const [name, e] of this.current) {
      const d = destinations.get(name);
      if (!d || fingerprint(d) !== e.fingerprint) this.retire(e);
    }
  }

  private retire(e: Entry): void {
    for (const [name, x] of this.current) if (x === e) this.current.delete(name);
    e.retired = true;
    if (e.inFlight === 0) this.closeEntry(e);
  }

  private closeEntry(e: Entry): void {
    const p = e.channel.close().catch(() => undefined);
    this.closing.add(p);
    void p.finally(() => this.closing.delete(p));
  }

  /** Closes every channel (at shutdown, after the worker has stopped). Idempotent. */
  async close(): Promise<void> {
    const all = [...this.current.values()];
    this.current.clear();
    for (const e of all) {
      e.retired = true;
      this.closeEntry(e);
    }
    await Promise.allSettled([...this.closing]);
  }
}
