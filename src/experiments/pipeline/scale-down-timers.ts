import { Injectable, type OnApplicationShutdown } from '@nestjs/common';

export type DueListener = (namespace: string, experimentId: string) => void;

/**
 * One timer per experiment whose promotion waits to delete the previous stable (the deadline is
 * in its record; these timers only wake Mayday up then, and are armed again from the records at
 * start-up). Armed by whoever wrote the deadline, fired to whoever listens (the reconciler).
 */
@Injectable()
export class ScaleDownTimers implements OnApplicationShutdown {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private listener?: DueListener;

  onDue(listener: DueListener): void {
    this.listener = listener;
  }

  /** Wakes the listener for this experiment at `at` (ISO 8601), replacing an earlier timer. */
  arm(namespace: string, experimentId: string, at: string): void {
    const key = `${namespace}/${experimentId}`;
    clearTimeout(this.timers.get(key));
    // A few ms late rather than early: the deletion checks the deadline against its own clock.
    const delay = Math.max(0, Date.parse(at) - Date.now()) + 20;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.listener?.(namespace, experimentId);
    }, delay);
    timer.unref();
    this.timers.set(key, timer);
  }

  get armed(): number {
    return this.timers.size;
  }

  onApplicationShutdown(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
