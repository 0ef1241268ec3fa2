import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  KubeApiError,
  KubeConflictError,
  KubeForbiddenError,
  KubeInvalidError,
  KubeNotFoundError,
  KubeUnavailableError,
} from '../../src/kubernetes/kube-errors';
import { Deadline, DeadlineExceededError, withDeadline } from '../../src/common/deadline';
import { retryTransient, withRetryBudget } from '../../src/kubernetes/retry';

/** A call that fails with the given errors, one per attempt, then answers `value`. */
function flaky<T>(errors: Error[], value: T) {
  let attempts = 0;
  const call = vi.fn(async () => {
    attempts++;
    if (attempts <= errors.length) throw errors[attempts - 1];
    return value;
  });
  return call;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('retryTransient inside withRetryBudget', () => {
  it('answers at once when the call succeeds', async () => {
    const call = flaky([], 'ok');
    expect(await withRetryBudget(1000, () => retryTransient(call))).toBe('ok');
    expect(call).toHaveBeenCalledTimes(1);
  });

  it('retries transient errors until the call succeeds, telling onRetry about each', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.1);
    const errors = [
      new KubeUnavailableError('x', 503),
      new KubeUnavailableError('y', 0, 'Unreachable'),
      new KubeUnavailableError('z', 429),
    ];
    const call = flaky(errors, { name: 'dep' });
    const onRetry = vi.fn();
    const result = await withRetryBudget(5000, () => retryTransient(call, onRetry));
    expect(result).toEqual({ name: 'dep' });
    expect(call).toHaveBeenCalledTimes(4);
    expect(onRetry).toHaveBeenCalledTimes(3);
    expect(onRetry.mock.calls.map(([error]) => (error as Error).message)).toEqual(['x', 'y', 'z']);
  });

  it('retries a stale-resourceVersion Conflict, not an AlreadyExists', async () => {
    const stale = flaky([new KubeConflictError('the object has been modified', 409, 'Conflict')], 'written');
    expect(await withRetryBudget(5000, () => retryTransient(stale))).toBe('written');
    expect(stale).toHaveBeenCalledTimes(2);

    const exists = new KubeConflictError('already exists', 409, 'AlreadyExists');
    const duplicate = flaky([exists], 'never');
    expect(await rejection(withRetryBudget(5000, () => retryTransient(duplicate)))).toBe(exists);
    expect(duplicate).toHaveBeenCalledTimes(1);
  });

  it('waits with a backoff between attempts, at most the first delay (100 ms) on the first retry', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const call = flaky([new KubeUnavailableError('x', 503)], 'ok');
    const started = Date.now();
    expect(await withRetryBudget(5000, () => retryTransient(call))).toBe('ok');
    const elapsed = Date.now() - started;
    // 0.5 * min(1000, 100 * 2^0) = 50 ms.
    expect(elapsed).toBeGreaterThanOrEqual(45);
    expect(elapsed).toBeLessThan(500);
  });

  it('gives up and rethrows the last error once the budget would be exceeded', async () => {
    const budget = 300;
    let attempts = 0;
    const errors: KubeUnavailableError[] = [];
    const call = async () => {
      attempts++;
      const error = new KubeUnavailableError(`attempt ${attempts}`, 503);
      errors.push(error);
      throw error;
    };
    const started = Date.now();
    const error = await rejection(withRetryBudget(budget, () => retryTransient(call)));
    const elapsed = Date.now() - started;

    expect(error).toBeInstanceOf(KubeUnavailableError);
    expect(error).toBe(errors[errors.length - 1]);
    expect((error as Error).message).toBe(`attempt ${attempts}`);
    // The first delay is below 100 ms, so it retried at least once within 300 ms.
    expect(attempts).toBeGreaterThanOrEqual(2);
    // It never sleeps past the deadline: it stops within about the budget.
    expect(elapsed).toBeLessThan(budget + 100);
  });

  it('does not retry when even the shortest wait would exceed the budget', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.99);
    const failure = new KubeUnavailableError('x', 503);
    const call = flaky([failure, failure], 'ok');
    expect(await rejection(withRetryBudget(10, () => retryTransient(call)))).toBe(failure);
    expect(call).toHaveBeenCalledTimes(1);
  });

  it.each([
    ['KubeInvalidError', new KubeInvalidError('spec.replicas: Invalid value', 422, 'Invalid')],
    ['KubeNotFoundError', new KubeNotFoundError('not found', 404, 'NotFound')],
    ['KubeForbiddenError', new KubeForbiddenError('forbidden', 403, 'Forbidden')],
    ['KubeApiError', new KubeApiError('teapot', 418)],
    ['a plain Error', new Error('boom')],
    ['a TypeError', new TypeError('x is undefined')],
  ])('never retries %s', async (_name, failure) => {
    const call = flaky([failure, failure], 'ok');
    const onRetry = vi.fn();
    expect(await rejection(withRetryBudget(5000, () => retryTransient(call, onRetry)))).toBe(failure);
    expect(call).toHaveBeenCalledTimes(1);
    expect(onRetry).not.toHaveBeenCalled();
  });

  it('keeps one budget across several calls of the same work', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const failure = new KubeUnavailableError('x', 503);
    const first = flaky([failure], 'a');
    const second = flaky([failure, failure], 'b');
    const results = await withRetryBudget(5000, async () => [await retryTransient(first), await retryTransient(second)]);
    expect(results).toEqual(['a', 'b']);
    expect(first).toHaveBeenCalledTimes(2);
    expect(second).toHaveBeenCalledTimes(3);
  });
});

describe('retryTransient outside withRetryBudget', () => {
  it('does not retry a transient error at all', async () => {
    const failure = new KubeUnavailableError('x', 503);
    const call = flaky([failure], 'ok');
    const onRetry = vi.fn();
    expect(await rejection(retryTransient(call, onRetry))).toBe(failure);
    expect(call).toHaveBeenCalledTimes(1);
    expect(onRetry).not.toHaveBeenCalled();
  });

  it('still answers a successful call', async () => {
    expect(await retryTransient(async () => 7)).toBe(7);
  });

  it('gets no retries once the budgeted work has returned', async () => {
    const failure = new KubeUnavailableError('x', 503);
    const later = flaky([failure], 'ok');
    await withRetryBudget(5000, async () => 'done');
    expect(await rejection(retryTransient(later))).toBe(failure);
    expect(later).toHaveBeenCalledTimes(1);
  });
});

describe('withRetryBudget', () => {
  it('answers what the work answers and rethrows what it throws', async () => {
    expect(await withRetryBudget(100, async () => 'value')).toBe('value');
    await expect(withRetryBudget(100, async () => Promise.reject(new Error('nope')))).rejects.toThrow('nope');
  });

  it('gives concurrent works their own budgets', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const failure = new KubeUnavailableError('x', 503);
    const short = flaky([failure], 'short');
    const long = flaky([failure], 'long');
    // 50 ms of backoff does not fit in 20 ms, but does in 5 s.
    const [shortOutcome, longOutcome] = await Promise.all([
      rejection(withRetryBudget(20, () => retryTransient(short))),
      withRetryBudget(5000, () => retryTransient(long)),
    ]);
    expect(shortOutcome).toBe(failure);
    expect(longOutcome).toBe('long');
    expect(short).toHaveBeenCalledTimes(1);
    expect(long).toHaveBeenCalledTimes(2);
  });
});

describe('retryTransient inside an event deadline (EVENT_DEADLINE_MS)', () => {
  it('starts no call once the deadline has passed', async () => {
    const call = vi.fn(async () => 'never');
    const error = await rejection(
      withDeadline(new Deadline(Date.now() - 1, 8000), () => withRetryBudget(5000, () => retryTransient(call))),
    );
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as Error).message).toMatch(/EVENT_DEADLINE_MS=8000\) passed before a Kubernetes call/);
    expect(call).not.toHaveBeenCalled();
  });

  it('makes no retry that would end past the deadline, even with budget left', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const failure = new KubeUnavailableError('x', 503);
    const call = flaky([failure], 'ok');
    // 50 ms of backoff fits the 5 s budget but not the 20 ms left of the deadline.
    const error = await rejection(withDeadline(Deadline.after(20), () => withRetryBudget(5000, () => retryTransient(call))));
    expect(error).toBe(failure);
    expect(call).toHaveBeenCalledTimes(1);
  });

  it('turns a transient failure that ends past the deadline into the deadline error, naming the failure', async () => {
    const call = vi.fn(async () => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      throw new KubeUnavailableError('connection reset', 0);
    });
    const error = await rejection(withDeadline(Deadline.after(5), () => withRetryBudget(5000, () => retryTransient(call))));
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as Error).message).toContain('last error: connection reset');
    expect(call).toHaveBeenCalledTimes(1);
  });

  it('still retries within the deadline', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const call = flaky([new KubeUnavailableError('x', 503)], 'ok');
    expect(await withDeadline(Deadline.after(5000), () => withRetryBudget(5000, () => retryTransient(call)))).toBe('ok');
    expect(call).toHaveBeenCalledTimes(2);
  });
});
