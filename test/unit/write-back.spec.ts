import { describe, expect, it } from 'vitest';
import {
  afterAttempt,
  backoffMs,
  changeReasonFor,
  isDue,
  parseWriteBack,
  writeBackAfter,
  type WriteBackState,
} from '../../src/experiments/closed-loop/write-back';

const T0 = new Date('2026-11-29T10:00:00.000Z');
const later = (ms: number) => new Date(T0.getTime() + ms);
const crash = { variantId: '7350-test1', reason: 'CrashLoop: container c of pod p restarted 4 times' };
const deadline = { variantId: '7350-test2', reason: 'ProgressDeadlineExceeded: ReplicaSet x has timed out progressing.' };
const running = (failures = [crash]) => ({ enabled: true, status: 'INPROGRESS' as const, failures });

describe('writeBackAfter: which pause is due', () => {
  it('makes a pause due for a failed canary of a running experiment, naming the variant and the reason', () => {
    const state = writeBackAfter(undefined, running(), T0);
    expect(state).toEqual({
      pending: {
        action: 'pause',
        failures: [`${crash.variantId}: ${crash.reason}`],
        changeReason: `Mayday paused: canary 7350-test1 failed (${crash.reason})`,
        since: T0.toISOString(),
        attempts: 0,
        nextAttemptAt: T0.toISOString(),
      },
      reported: [],
    });
  });

  it('keeps nothing when nothing failed, or write-back is off', () => {
    expect(writeBackAfter(undefined, running([]), T0)).toBeUndefined();
    expect(writeBackAfter(undefined, { ...running(), enabled: false }, T0)).toBeUndefined();
    const pending = writeBackAfter(undefined, running(), T0);
    expect(writeBackAfter(pending, { ...running(), enabled: false }, later(1000))).toBeUndefined();
  });

  it('keeps a pending pause as it is (attempts, backoff) while the same failures are due: a repeated convergence changes nothing', () => {
    const first = writeBackAfter(undefined, running(), T0)!;
    const failed = afterAttempt(first, first.pending!, { done: false, error: 'unreachable' }, later(10));
    expect(writeBackAfter(failed, running(), later(500))).toEqual(failed);
  });

  it('asks for a new pause when another canary fails too', () => {
    const first = writeBackAfter(undefined, running(), T0)!;
    const both = writeBackAfter(first, running([crash, deadline]), later(100))!;
    expect(both.pending!.failures).toHaveLength(2);
    expect(both.pending!.changeReason).toContain('canary 7350-test2 failed');
    expect(both.pending!.since).toBe(later(100).toISOString());
  });

  it('is not due on an experiment that is not INPROGRESS, and a pending one becomes handled once the experiment is paused', () => {
    expect(writeBackAfter(undefined, { ...running(), status: 'PAUSED' }, T0)).toBeUndefined();
    const pending = writeBackAfter(undefined, running(), T0);
    const paused = writeBackAfter(pending, { ...running(), status: 'PAUSED' }, later(100));
    expect(paused).toEqual({ reported: [`${crash.variantId}: ${crash.reason}`] });
    // A person resumes: the same failure is not paused for again.
    expect(writeBackAfter(paused, running(), later(200))).toEqual(paused);
  });

  it('pauses for a failure that happened while paused once the experiment is resumed (it was never reported)', () => {
    const whilePaused = writeBackAfter(undefined, { ...running(), status: 'PAUSED' }, T0);
    expect(writeBackAfter(whilePaused, running(), later(100))?.pending?.failures).toEqual([`${crash.variantId}: ${crash.reason}`]);
  });

  it('drops a pending pause on a conclusion or discard', () => {
    const pending = writeBackAfter(undefined, running(), T0);
    expect(writeBackAfter(pending, { ...running(), status: 'DISCARDED', failures: [] }, later(1))?.pending).toBeUndefined();
  });
});

describe('afterAttempt: what one request did', () => {
  const pending = writeBackAfter(undefined, running(), T0)!;

  it('remembers the failures as reported once Superposition accepted the pause: exactly one pause per failure', () => {
    const done = afterAttempt(pending, pending.pending!, { done: true }, later(50));
    expect(done).toEqual({ reported: [`${crash.variantId}: ${crash.reason}`] });
    expect(writeBackAfter(done, running(), later(60))).toEqual(done);
  });

  it('tries again after a backoff of 1 s doubling to 30 s, with the error', () => {
    let state: WriteBackState | undefined = pending;
    const waits: number[] = [];
    for (let attempt = 0; attempt < 7; attempt++) {
      const now = later(attempt * 100_000);
      state = afterAttempt(state, state!.pending!, { done: false, error: `connection refused ${attempt}` }, now);
      waits.push(Date.parse(state!.pending!.nextAttemptAt) - now.getTime());
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(state!.pending).toMatchObject({ attempts: 7, lastError: 'connection refused 6' });
    expect(isDue(state!.pending, later(600_000 + 29_999))).toBe(false);
    expect(isDue(state!.pending, later(600_000 + 30_000))).toBe(true);
    expect(backoffMs(0)).toBe(1000);
  });

  it('only remembers a success when the pause was overtaken meanwhile (ExperimentPaused applied first)', () => {
    const paused = writeBackAfter(pending, { ...running(), status: 'PAUSED' }, later(10));
    expect(afterAttempt(paused, pending.pending!, { done: true }, later(20))).toEqual(paused);
    expect(afterAttempt(paused, pending.pending!, { done: false, error: 'x' }, later(20))).toEqual(paused);
  });

  it('does not count a failure against a newer pending pause', () => {
    const newer = writeBackAfter(pending, running([crash, deadline]), later(10))!;
    expect(afterAttempt(newer, pending.pending!, { done: false, error: 'x' }, later(20))).toEqual(newer);
    const accepted = afterAttempt(newer, pending.pending!, { done: true }, later(20))!;
    expect(accepted.pending).toEqual(newer.pending);
    expect(accepted.reported).toEqual([`${crash.variantId}: ${crash.reason}`]);
  });
});

describe('the change_reason and the stored form', () => {
  it('stays within the 255 bytes Superposition accepts', () => {
    const reason = changeReasonFor([{ variantId: 'v-é'.repeat(40), reason: 'r'.repeat(300) }]);
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(255);
    expect(reason.endsWith('...')).toBe(true);
    expect(reason.startsWith('Mayday paused: canary v-é')).toBe(true);
  });

  it('is one line of plain text whatever the reason holds', () => {
    expect(changeReasonFor([{ variantId: 'v', reason: 'a\nb\u0000c\u007fd' }])).toBe('Mayday paused: canary v failed (a b c d)');
  });

  it('reads back what it stored, and nothing from a damaged field', () => {
    const state = writeBackAfter(undefined, running(), T0)!;
    expect(parseWriteBack(JSON.stringify(state))).toEqual(state);
    expect(parseWriteBack('{not json')).toBeUndefined();
    expect(parseWriteBack(JSON.stringify({ reported: 'x' }))).toBeUndefined();
    expect(parseWriteBack(JSON.stringify({ reported: ['a'], pending: { action: 'explode' } }))).toEqual({ reported: ['a'] });
    expect(parseWriteBack(undefined)).toBeUndefined();
  });
});
