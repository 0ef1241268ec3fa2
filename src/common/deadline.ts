import { AsyncLocalStorage } from 'node:async_hooks';
import { DomainError, type ErrorAnswer } from './errors';

/**
 * The event's deadline (EVENT_DEADLINE_MS) has passed: Mayday stopped before its next step and
 * answers 503, so Superposition delivers again. Every step is idempotent, so the redelivery
 * converges from wherever the work stopped.
 */
export class DeadlineExceededError extends DomainError {
  answer(): ErrorAnswer {
    return { statusCode: 503, message: this.message };
  }
}

/**
 * The moment by which one event's work must be over: set when the event arrives, so it counts the
 * wait behind earlier events as well as the resolves, the Kubernetes calls and their retries.
 * Each step asks it before it starts (and bounds its own timeout by what is left); nothing runs a
 * timer that abandons work half-way.
 */
export class Deadline {
  constructor(
    /** Epoch milliseconds. */
    readonly at: number,
    /** EVENT_DEADLINE_MS, for messages. */
    readonly budgetMs: number,
  ) {}

  static after(budgetMs: number, now = Date.now()): Deadline {
    return new Deadline(now + budgetMs, budgetMs);
  }

  remainingMs(now = Date.now()): number {
    return Math.max(0, this.at - now);
  }

  passed(now = Date.now()): boolean {
    return now >= this.at;
  }

  /** Throws before a step that would start past the deadline. */
  check(step: string, now = Date.now()): void {
    if (this.passed(now)) throw this.exceeded(step);
  }

  exceeded(step: string, cause?: unknown): DeadlineExceededError {
    const last = cause instanceof Error ? ` (last error: ${cause.message})` : '';
    return new DeadlineExceededError(
      `the event's deadline (EVENT_DEADLINE_MS=${this.budgetMs}) passed ${step}${last}; stopped there, deliver again`,
    );
  }
}

const current = new AsyncLocalStorage<Deadline>();

/** Runs one event's work with its deadline, which the calls it makes read with `currentDeadline`. */
export function withDeadline<T>(deadline: Deadline, work: () => Promise<T>): Promise<T> {
  return current.run(deadline, work);
}

/** The deadline of the event being processed; undefined outside one (start-up, probes, the status API). */
export function currentDeadline(): Deadline | undefined {
  return current.getStore();
}

/** A request timeout that does not outlive the current event's deadline. */
export function timeoutWithinDeadline(timeoutMs: number): number {
  const deadline = currentDeadline();
  return deadline ? Math.max(1, Math.min(timeoutMs, deadline.remainingMs())) : timeoutMs;
}
