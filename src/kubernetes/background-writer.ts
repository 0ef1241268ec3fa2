import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Writes items one at a time, in the order they were queued, in the background: what client-go's
 * event recorder does for Kubernetes Events, which are best effort. The queue is bounded: past
 * `limit` waiting items a new one is dropped (and reported), so a slow API server costs Events, never
 * memory or the answers to webhooks. A write that fails is the writer's own business (it logs and
 * counts); the queue goes on with the next item. The writes run in the context the writer was made in,
 * not in that of whoever queued them: an event's deadline, retry budget or fresh reads (AsyncLocalStorage)
 * end with the event, and must not bound the writes queued behind it.
 */
export class BackgroundWriter<T> {
  private readonly queue: T[] = [];
  private draining: Promise<void> | undefined;
  /** Runs a function in the context of the writer's construction (start-up: no event's). */
  private readonly outsideAnyEvent = AsyncLocalStorage.snapshot();

  constructor(
    private readonly write: (item: T) => Promise<void>,
    private readonly limit: number,
    private readonly dropped: (item: T) => void,
  ) {}

  /** Queues the items (in order) and returns at once. */
  enqueue(items: readonly T[]): void {
    for (const item of items) {
      if (this.queue.length >= this.limit) this.dropped(item);
      else this.queue.push(item);
    }
    if (this.queue.length > 0) this.draining ??= this.outsideAnyEvent(() => this.drain());
  }

  /** Items queued and not written yet (the one being written included). */
  get waiting(): number {
    return this.queue.length + (this.draining ? 1 : 0);
  }

  /** Waits until everything queued so far is written, or `timeoutMs` passed; says whether it all was. */
  async flush(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const idle = (async () => {
      while (this.draining) await this.draining;
      return true as const;
    })();
    try {
      return await Promise.race([idle, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const item = this.queue.shift()!;
      try {
        await this.write(item);
      } catch {
        // The writer reports its own failures; the next item is written all the same.
      }
    }
    this.draining = undefined;
  }
}
