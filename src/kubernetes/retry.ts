import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { currentDeadline } from '../common/deadline';
import { KubeApiError } from './kube-errors';

/**
 * How long the work in progress (one webhook event) may still spend retrying transient
 * Kubernetes faults. Set per event with `withRetryBudget`; calls outside any event get no retries.
 */
const deadlines = new AsyncLocalStorage<number>();

export function withRetryBudget<T>(budgetMs: number, work: () => Promise<T>): Promise<T> {
  return deadlines.run(Date.now() + budgetMs, work);
}

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 1000;

/**
 * Runs a Kubernetes call, retrying transient failures (5xx, 429, no answer, stale
 * resourceVersion) with full-jitter exponential backoff until the current budget would run out;
 * then the last error goes to the caller (a 503 for the webhook, so Superposition retries).
 * Inside an event with a deadline (EVENT_DEADLINE_MS), no attempt starts past it, and a retry
 * that would end past it is not made.
 */
export async function retryTransient<T>(call: () => Promise<T>, onRetry?: (error: KubeApiError) => void): Promise<T> {
  const eventDeadline = currentDeadline();
  const budget = deadlines.getStore();
  const retryUntil = eventDeadline && budget !== undefined ? Math.min(budget, eventDeadline.at) : budget;
  for (let attempt = 0; ; attempt++) {
    eventDeadline?.check('before a Kubernetes call');
    try {
      return await call();
    } catch (error) {
      if (eventDeadline?.passed() && error instanceof KubeApiError && error.transient) {
        throw eventDeadline.exceeded('during a Kubernetes call', error);
      }
      if (!(error instanceof KubeApiError) || !error.transient || retryUntil === undefined) throw error;
      const delay = Math.random() * Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempt);
      if (Date.now() + delay >= retryUntil) throw error;
      onRetry?.(error);
      await sleep(delay);
    }
  }
}
