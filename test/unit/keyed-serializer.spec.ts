import { describe, expect, it, vi } from 'vitest';
import { Deadline, DeadlineExceededError } from '../../src/common/deadline';
import { KeyedSerializer } from '../../src/common/keyed-serializer';

interface Deferred<T = void> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Work that logs when it starts and ends, and finishes when its gate is opened. */
function gatedWork<T>(log: string[], name: string, gate: Deferred<T>): () => Promise<T> {
  return async () => {
    log.push(`start ${name}`);
    try {
      return await gate.promise;
    } finally {
      log.push(`end ${name}`);
    }
  };
}

describe('KeyedSerializer', () => {
  it('runs work for the same key strictly in order, one at a time', async () => {
    const serializer = new KeyedSerializer();
    const log: string[] = [];
    const gates = [deferred<string>(), deferred<string>(), deferred<string>()];
    const results = gates.map((gate, index) => serializer.run('exp-1', gatedWork(log, `w${index}`, gate)));

    await settle();
    expect(log).toEqual(['start w0']);

    // Finishing out of order does not let later work start first.
    gates[2].resolve('c');
    gates[1].resolve('b');
    await settle();
    expect(log).toEqual(['start w0']);

    gates[0].resolve('a');
    await settle();
    expect(log).toEqual(['start w0', 'end w0', 'start w1', 'end w1', 'start w2', 'end w2']);
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c']);
  });

  it('starts the next work only after the previous one has ended', async () => {
    const serializer = new KeyedSerializer();
    const log: string[] = [];
    const first = deferred();
    const second = deferred();
    const a = serializer.run('k', gatedWork(log, 'a', first));
    const b = serializer.run('k', gatedWork(log, 'b', second));
    await settle();
    expect(log).toEqual(['start a']);
    first.resolve();
    await a;
    await settle();
    expect(log).toEqual(['start a', 'end a', 'start b']);
    second.resolve();
    await b;
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b']);
  });

  it('runs work for different keys in parallel', async () => {
    const serializer = new KeyedSerializer();
    const log: string[] = [];
    const gateA = deferred<number>();
    const gateB = deferred<number>();
    const a = serializer.run('exp-a', gatedWork(log, 'a', gateA));
    const b = serializer.run('exp-b', gatedWork(log, 'b', gateB));
    await settle();
    expect(log).toEqual(['start a', 'start b']);

    gateB.resolve(2);
    expect(await b).toBe(2);
    expect(log).toEqual(['start a', 'start b', 'end b']);

    gateA.resolve(1);
    expect(await a).toBe(1);
    expect(log).toEqual(['start a', 'start b', 'end b', 'end a']);
  });

  it('passes a failure to its caller without blocking the work queued behind it', async () => {
    const serializer = new KeyedSerializer();
    const log: string[] = [];
    const failing = deferred<string>();
    const next = deferred<string>();
    const first = serializer.run('k', gatedWork(log, 'failing', failing));
    const second = serializer.run('k', gatedWork(log, 'next', next));
    const firstOutcome = first.then(
      () => 'resolved',
      (error: Error) => error.message,
    );

    failing.reject(new Error('kube down'));
    expect(await firstOutcome).toBe('kube down');
    await settle();
    expect(log).toEqual(['start failing', 'end failing', 'start next']);

    next.resolve('ok');
    expect(await second).toBe('ok');
    expect(log).toEqual(['start failing', 'end failing', 'start next', 'end next']);
  });

  it('passes a synchronous throw in the work as a rejection, and goes on', async () => {
    const serializer = new KeyedSerializer();
    const failed = serializer.run('k', () => {
      throw new Error('sync');
    });
    await expect(failed).rejects.toThrow('sync');
    await expect(serializer.run('k', async () => 42)).resolves.toBe(42);
  });

  it('counts busy keys and forgets a key once its work is done', async () => {
    const serializer = new KeyedSerializer();
    expect(serializer.busyKeys).toBe(0);
    const gateA1 = deferred();
    const gateA2 = deferred();
    const gateB = deferred();
    const log: string[] = [];
    const a1 = serializer.run('a', gatedWork(log, 'a1', gateA1));
    const a2 = serializer.run('a', gatedWork(log, 'a2', gateA2));
    const b = serializer.run('b', gatedWork(log, 'b', gateB));
    expect(serializer.busyKeys).toBe(2);

    gateB.resolve();
    await b;
    await settle();
    expect(serializer.busyKeys).toBe(1);

    gateA1.resolve();
    await a1;
    await settle();
    expect(serializer.busyKeys).toBe(1);

    gateA2.resolve();
    await a2;
    await settle();
    expect(serializer.busyKeys).toBe(0);
  });

  it('forgets a key after a failure too', async () => {
    const serializer = new KeyedSerializer();
    await expect(serializer.run('k', async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await settle();
    expect(serializer.busyKeys).toBe(0);
  });

  it('idle() resolves only once everything queued has finished, including work queued meanwhile', async () => {
    const serializer = new KeyedSerializer();
    const log: string[] = [];
    const gateA = deferred();
    const gateB = deferred();
    const gateC = deferred();
    void serializer.run('a', gatedWork(log, 'a', gateA));
    void serializer.run('b', gatedWork(log, 'b', gateB)).catch(() => undefined);

    let idle = false;
    const idlePromise = serializer.idle().then(() => {
      idle = true;
    });

    gateA.resolve();
    await settle();
    expect(idle).toBe(false);

    // Work queued on a key while idle() waits is waited for as well.
    void serializer.run('b', gatedWork(log, 'c', gateC));
    gateB.reject(new Error('b failed'));
    await settle();
    expect(idle).toBe(false);
    expect(log).toEqual(['start a', 'start b', 'end a', 'end b', 'start c']);

    gateC.resolve();
    await idlePromise;
    expect(idle).toBe(true);
    expect(serializer.busyKeys).toBe(0);
    expect(log).toEqual(['start a', 'start b', 'end a', 'end b', 'start c', 'end c']);
  });

  it('idle() resolves at once when nothing is queued', async () => {
    const serializer = new KeyedSerializer();
    await expect(serializer.idle()).resolves.toBeUndefined();
    expect(serializer.busyKeys).toBe(0);
  });
});

describe('KeyedSerializer with a deadline', () => {
  it('answers work whose deadline passes while it waits, at once, and never starts it', async () => {
    const serializer = new KeyedSerializer();
    const log: string[] = [];
    const first = deferred<string>();
    const running = serializer.run('exp-1', gatedWork(log, 'first', first));
    const held = serializer.run('exp-1', gatedWork(log, 'held', deferred<string>()), Deadline.after(20));
    const afterGate = deferred<string>();
    const after = serializer.run('exp-1', gatedWork(log, 'after', afterGate));

    // Answered while the first work still runs.
    const error = await held.catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as Error).message).toMatch(/passed while waiting for earlier work on exp-1/);
    expect(log).toEqual(['start first']);

    first.resolve('a');
    expect(await running).toBe('a');
    await settle();
    // The held work was skipped; the work behind it runs.
    expect(log).toEqual(['start first', 'end first', 'start after']);
    afterGate.resolve('b');
    expect(await after).toBe('b');
  });

  it('does not abandon work that started in time: its caller gets what it answers, even after the deadline', async () => {
    const serializer = new KeyedSerializer();
    const gate = deferred<string>();
    const result = serializer.run('exp-1', async () => gate.promise, Deadline.after(10));
    await new Promise((resolve) => setTimeout(resolve, 40));
    gate.resolve('done');
    expect(await result).toBe('done');
  });

  it('starts nothing for work whose deadline has already passed', async () => {
    const serializer = new KeyedSerializer();
    const work = vi.fn(async () => 'never');
    await expect(serializer.run('exp-1', work, new Deadline(Date.now() - 1, 100))).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(work).not.toHaveBeenCalled();
  });
});
