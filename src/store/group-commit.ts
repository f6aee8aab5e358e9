// Group commit: requests that arrive together share one transaction (one fsync), and each is
// answered only after that transaction commits. Items queued during one turn of the event loop
// are flushed together on the next (setImmediate), up to `maxBatch` per transaction.
//
// One batch at a time, in order, and a batch is formed when it starts, not when its items arrive:
// with an async engine (PostgreSQL) whatever came while a commit was waiting on the server goes
// into the next commit, rather than into a chain of tiny batches that each wait for their own
// commit in turn (that chain had one replica committing 2 events per transaction under load).
export class GroupCommit<I, R> {
  private queue: { item: I; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  private running: Promise<void> | null = null;

  constructor(
    private readonly commit: (items: I[]) => Promise<R[]>,
    private readonly maxBatch = 512,
  ) {}

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    if (this.running || this.queue.length === 0) return;
    this.running = this.run(this.queue.splice(0, this.maxBatch));
  }

  private async run(batch: typeof this.queue): Promise<void> {
    try {
      const results = await this.commit(batch.map((b) => b.item));
      for (const [i, b] of batch.entries()) b.resolve(results[i]!);
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
    this.running = null;
    // What queued meanwhile goes now: it has waited for this commit already, not for another turn.
    this.flush();
  }

  /** Resolves when everything submitted so far has been committed (or failed). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.scheduled || this.running) {
      if (this.running) await this.running;
      else await new Promise((r) => setImmediate(r));
    }
  }
}
