import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
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
 */
export async function retryTransient<T>(call: () => Promise<T>, onRetry?: (error: KubeApiError) => void): Promise<T> {
  const deadline = deadlines.getStore();
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof KubeApiError) || !error.transient || deadline === undefined) throw error;
      const delay = Math.random() * Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempt);
      if (Date.now() + delay >= deadline) throw error;
      onRetry?.(error);
      await sleep(delay);
    }
  }
}
