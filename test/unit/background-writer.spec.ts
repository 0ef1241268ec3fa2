import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { BackgroundWriter } from '../../src/kubernetes/background-writer';

/** A write that finishes only when the test says so. */
function gatedWrites() {
  const started: number[] = [];
  const gates: (() => void)[] = [];
  const write = (item: number) =>
    new Promise<void>((resolve) => {
      started.push(item);
      gates.push(resolve);
    });
  const releaseNext = async () => {
    gates.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { started, write, releaseNext };
}

describe('BackgroundWriter (the Kubernetes Events queue)', () => {
  it('returns at once and writes one item at a time, in the order queued', async () => {
    const { started, write, releaseNext } = gatedWrites();
    const writer = new BackgroundWriter<number>(write, 10, () => undefined);
    writer.enqueue([1, 2]);
    writer.enqueue([3]);
    expect(started).toEqual([1]);
    expect(writer.waiting).toBe(3);
    await releaseNext();
    expect(started).toEqual([1, 2]);
    await releaseNext();
    await releaseNext();
    expect(started).toEqual([1, 2, 3]);
    expect(writer.waiting).toBe(0);
  });

  it('drops what comes past the limit of waiting items, and says which', async () => {
    const { started, write, releaseNext } = gatedWrites();
    const dropped: number[] = [];
    const writer = new BackgroundWriter<number>(write, 2, (item) => dropped.push(item));
    writer.enqueue([1]);
    writer.enqueue([2, 3, 4]);
    // 1 is being written (no longer waiting), 2 and 3 wait, 4 is one too many.
    expect(dropped).toEqual([4]);
    for (let index = 0; index < 3; index++) await releaseNext();
    expect(started).toEqual([1, 2, 3]);
  });

  it('goes on after a failed write', async () => {
    const written: number[] = [];
    const writer = new BackgroundWriter<number>(
      async (item) => {
        if (item === 1) throw new Error('API server said no');
        written.push(item);
      },
      10,
      () => undefined,
    );
    writer.enqueue([1, 2]);
    expect(await writer.flush(1000)).toBe(true);
    expect(written).toEqual([2]);
  });

  it('flushes what was queued (also what is queued meanwhile), or gives up after the timeout', async () => {
    const { write, releaseNext } = gatedWrites();
    const writer = new BackgroundWriter<number>(write, 10, () => undefined);
    expect(await writer.flush(10)).toBe(true);
    writer.enqueue([1]);
    expect(await writer.flush(20)).toBe(false);
    const flushed = writer.flush(5000);
    writer.enqueue([2]);
    await releaseNext();
    await releaseNext();
    expect(await flushed).toBe(true);
    expect(writer.waiting).toBe(0);
  });

  it('writes outside the context of whoever queued (the deadline of an event must not bound the writes queued behind it)', async () => {
    const eventContext = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    const writer = new BackgroundWriter<number>(
      async () => {
        await new Promise((resolve) => setImmediate(resolve));
        seen.push(eventContext.getStore());
      },
      10,
      () => undefined,
    );
    await eventContext.run('event 1', async () => writer.enqueue([1, 2]));
    await eventContext.run('event 2', async () => writer.enqueue([3]));
    expect(await writer.flush(1000)).toBe(true);
    expect(seen).toEqual([undefined, undefined, undefined]);
  });
});
