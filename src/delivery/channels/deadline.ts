// The sends' deadlines, one scheduler per thread. A send used to make its own AbortController, a
// setTimeout, closures and a listener on the worker's signal (about 4 µs, and a third of what the
// delivery thread promoted per delivery). Here a send is one small record in a queue per timeout
// (deadlines in one queue never decrease, so adding and removing are O(1)), one timer is armed for
// the earliest deadline, and only the sends that reach theirs are aborted. The worker's signal gets
// one listener while any send that carries it is in flight, not one per send.
//
// A record reads like an AbortSignal (`aborted`, `reason`, one 'abort' listener held directly: the
// webhook channel's request listens so); a real AbortSignal is made only when a channel asks for
// `signal` (fetch and nodemailer want one: Slack and email, not the webhook path).

const callerReason = (parent: AbortSignal): unknown => parent.reason ?? new DOMException('The send was aborted', 'AbortError');

type Listener = () => void;

const MAX_TIMER_MS = 2 ** 31 - 1;

export class Deadline {
  /** As an AbortSignal's. */
  aborted = false;
  reason: unknown = undefined;
  private listener: Listener | null = null;
  private ctl: AbortController | null = null;
  private timed = false;
  private byCaller = false;
  // Links in the scheduler's queue for its timeout; queue null once expired, aborted or disposed.
  prev: Deadline | null = null;
  next: Deadline | null = null;
  queue: Queue | null = null;

  constructor(
    readonly at: number,
    readonly timeoutMs: number,
    /** The caller's signal while this send counts as one of its listeners. */
    public parent: AbortSignal | null,
  ) {}

  /** A real AbortSignal that aborts with this deadline, made on first use. */
  get signal(): AbortSignal {
    if (this.ctl === null) {
      this.ctl = new AbortController();
      if (this.aborted) this.ctl.abort(this.reason);
    }
    return this.ctl.signal;
  }

  timedOut(): boolean {
    return this.timed;
  }

  callerAborted(): boolean {
    return this.byCaller;
  }

  /** Ends the send's deadline (and its share of the caller's listener). Always call it. */
  dispose(): void {
    scheduler.remove(this);
  }

  // EventTarget's addEventListener (what a send's request calls): one listener is held here; any
  // further one goes to the real signal.
  addEventListener(_type: 'abort', f: Listener): void {
    if (this.listener === null) this.listener = f;
    else this.signal.addEventListener('abort', f, { once: true });
  }

  /** @internal the scheduler's: first abort wins. */
  abort(reason: unknown, timedOut: boolean): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    if (timedOut) this.timed = true;
    else this.byCaller = true;
    const f = this.listener;
    this.listener = null;
    if (f !== null) f();
    this.ctl?.abort(reason);
  }
}

class Queue {
  head: Deadline | null = null;
  tail: Deadline | null = null;
}

function unlink(d: Deadline): void {
  const q = d.queue;
  if (q === null) return;
  if (d.prev === null) q.head = d.next;
  else d.prev.next = d.next;
  if (d.next === null) q.tail = d.prev;
  else d.next.prev = d.prev;
  d.prev = d.next = d.queue = null;
}

class Scheduler {
  /** One queue per timeout in use (a destination's `timeout_ms`: few). */
  private readonly queues = new Map<number, Queue>();
  private readonly parents = new Map<AbortSignal, { count: number; onAbort: Listener }>();
  private timer: NodeJS.Timeout | null = null;
  private armedAt = Number.POSITIVE_INFINITY;
  private readonly fire = (): void => this.expire();

  add(parent: AbortSignal | undefined, timeoutMs: number): Deadline {
    const ms = Math.max(1, timeoutMs);
    const d = new Deadline(performance.now() + ms, timeoutMs, null);
    if (parent) {
      if (parent.aborted) {
        d.abort(callerReason(parent), false);
        return d;
      }
      this.watch(parent);
      d.parent = parent;
    }
    let q = this.queues.get(ms);
    if (q === undefined) {
      q = new Queue();
      this.queues.set(ms, q);
    }
    // performance.now() does not go back, so the queue stays in deadline order.
    d.queue = q;
    d.prev = q.tail;
    if (q.tail === null) q.head = d;
    else q.tail.next = d;
    q.tail = d;
    if (d.at < this.armedAt) this.arm(d.at);
    return d;
  }

  remove(d: Deadline): void {
    unlink(d);
    const parent = d.parent;
    if (parent === null) return;
    d.parent = null;
    const w = this.parents.get(parent);
    if (w !== undefined && --w.count === 0) {
      parent.removeEventListener('abort', w.onAbort);
      this.parents.delete(parent);
    }
  }

  /** The caller's signal gets one listener while any of its sends is in flight. */
  private watch(parent: AbortSignal): void {
    const w = this.parents.get(parent);
    if (w !== undefined) {
      w.count++;
      return;
    }
    const onAbort = (): void => this.parentAborted(parent);
    parent.addEventListener('abort', onAbort, { once: true });
    this.parents.set(parent, { count: 1, onAbort });
  }

  private parentAborted(parent: AbortSignal): void {
    this.parents.delete(parent);
    const hit: Deadline[] = [];
    for (const q of this.queues.values()) {
      for (let d = q.head; d !== null; d = d.next) if (d.parent === parent) hit.push(d);
    }
    const reason = callerReason(parent);
    for (const d of hit) {
      unlink(d);
      d.abort(reason, false);
    }
  }

  private arm(at: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.armedAt = at;
    // Unref'd: a deadline never keeps the process (or the thread) alive by itself.
    // setTimeout takes at most 2^31 - 1 ms (24.8 days; past that it fires at once): a later
    // deadline is re-armed when this fires early, as expire() does for any early timer.
    this.timer = setTimeout(this.fire, Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(at - performance.now()))));
    this.timer.unref();
  }

  /** Aborts the sends past their deadline; the timer is then armed for the earliest one left. */
  private expire(): void {
    this.timer = null;
    this.armedAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [ms, q] of this.queues) {
      for (let d = q.head; d !== null && d.at <= now; d = q.head) {
        unlink(d);
        d.abort(new DOMException(`no answer within ${d.timeoutMs} ms`, 'TimeoutError'), true);
      }
      if (q.head === null) this.queues.delete(ms);
      else if (q.head.at < next) next = q.head.at;
    }
    if (next < this.armedAt) this.arm(next);
  }
}

const scheduler = new Scheduler();

/**
 * The send's deadline: aborts when the caller's signal aborts or `timeoutMs` passes, whichever is
 * first. Its `signal` is a real AbortSignal (made on first use); the record itself takes one
 * 'abort' listener without one.
 */
export function deadline(parent: AbortSignal | undefined, timeoutMs: number): Deadline {
  return scheduler.add(parent, timeoutMs);
}
