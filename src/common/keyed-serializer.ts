import type { Deadline } from './deadline';

/**
 * Runs work for the same key strictly one after another, and work for different keys in
 * parallel. A failure does not block the work queued behind it. Work given a deadline that passes
 * while it waits for its turn is answered at once with the deadline error and never started.
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, work: () => Promise<T>, deadline?: Deadline): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let started = false;
    const result = previous.then(() => {
      deadline?.check(`while waiting for earlier work on ${key}`);
      started = true;
      return work();
    });
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    if (!deadline) return result;
    // The wait ends at the deadline; once the work has started, it ends at its own next step.
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!started) reject(deadline.exceeded(`while waiting for earlier work on ${key}`));
      }, deadline.remainingMs());
      timer.unref();
      result.then(resolve, reject).finally(() => clearTimeout(timer));
    });
  }

  /** Keys with work queued or running. */
  get busyKeys(): number {
    return this.tails.size;
  }

  /** Resolves once everything queued so far has finished. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }
}
