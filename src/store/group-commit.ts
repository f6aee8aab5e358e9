// Group commit: requests that arrive together share one transaction (one fsync), and each is
// answered only after that transaction commits. Items queued during one turn of the event loop
// are flushed together on the next (setImmediate), up to `maxBatch` per transaction.
export class GroupCommit<I, R> {
  private queue: { item: I; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  private running: Promise<void> = Promise.resolve();

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
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      // The engine is synchronous underneath; chaining keeps batches in order for async engines too.
      this.running = this.running.then(async () => {
        try {
          const results = await this.commit(batch.map((b) => b.item));
          for (const [i, b] of batch.entries()) b.resolve(results[i]!);
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      });
    }
  }

  /** Resolves when everything submitted so far has been committed (or failed). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.scheduled) await new Promise((r) => setImmediate(r));
    await this.running;
  }
}
