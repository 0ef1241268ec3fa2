import { describe, expect, it } from 'vitest';
import {
  decideRamp,
  maxTrafficPercentage,
  nextStep,
  observeStep,
  stepKey,
  type RampInput,
} from '../../src/experiments/closed-loop/auto-ramp';

const MINUTE = 60_000;
const available = { phase: 'available' as const };

function input(overrides: Partial<RampInput> = {}): RampInput {
  return {
    status: 'INPROGRESS',
    trafficPercentage: 5,
    variants: 2,
    steps: [5, 10, 25, 50],
    canaries: [available],
    pausePending: false,
    health: { step: 'INPROGRESS|5|t', healthySince: 0 },
    intervalMs: 5 * MINUTE,
    now: 5 * MINUTE,
    ...overrides,
  };
}

describe('decideRamp', () => {
  it('ramps to the next step once every canary has been available for the whole interval', () => {
    expect(decideRamp(input())).toEqual({
      ramp: 10,
      changeReason: 'Mayday auto-ramp: every canary available for 300 s at 5%, next step 10% (AUTO_RAMP)',
    });
    expect(decideRamp(input({ now: 5 * MINUTE - 1 }))).toEqual({ hold: 'healthy for 299 s of 300 s' });
  });

  it('ramps from a traffic between steps, or below the first, to the next step', () => {
    expect(decideRamp(input({ trafficPercentage: 12 }))).toMatchObject({ ramp: 25 });
    expect(decideRamp(input({ trafficPercentage: 1 }))).toMatchObject({ ramp: 5 });
  });

  it('never goes past the last step, nor past what Superposition allows per variant, and never concludes', () => {
    expect(decideRamp(input({ trafficPercentage: 50 }))).toEqual({ hold: 'traffic 50 is at or past the last step' });
    expect(decideRamp(input({ trafficPercentage: 60 }))).toEqual({ hold: 'traffic 60 is at or past the last step' });
    // Three variants (control and two experimental): at most 33 each.
    expect(decideRamp(input({ trafficPercentage: 25, variants: 3 }))).toEqual({ hold: 'traffic 25 is at or past the last step' });
    expect(maxTrafficPercentage(1)).toBe(100);
    expect(maxTrafficPercentage(2)).toBe(50);
    expect(maxTrafficPercentage(3)).toBe(33);
    expect(nextStep([5, 10, 60], 10, 2)).toBeUndefined();
  });

  it('holds while the experiment is not INPROGRESS, a pause is being written back, or a canary is not available', () => {
    expect(decideRamp(input({ status: 'PAUSED' }))).toEqual({ hold: 'the experiment is PAUSED' });
    expect(decideRamp(input({ status: 'CREATED' }))).toEqual({ hold: 'the experiment is CREATED' });
    expect(decideRamp(input({ pausePending: true }))).toEqual({ hold: 'a pause is being written back' });
    expect(decideRamp(input({ canaries: [available, { phase: 'waiting', reason: '0 of 1 replicas available' }] }))).toEqual({
      hold: 'a canary is waiting: 0 of 1 replicas available',
    });
    expect(decideRamp(input({ canaries: [{ phase: 'failed', reason: 'CrashLoop' }] }))).toEqual({ hold: 'a canary is failed: CrashLoop' });
    expect(decideRamp(input({ canaries: [] }))).toEqual({ hold: 'no canary to judge' });
    expect(decideRamp(input({ health: undefined }))).toEqual({ hold: 'the canaries have just become available' });
  });
});

describe('observeStep: since when a step has been healthy', () => {
  const step = stepKey({ status: 'INPROGRESS', traffic_percentage: 5, last_modified: '2026-11-29T10:00:00.000001Z' });

  it('starts the interval when every canary is available, and keeps it while they stay so', () => {
    const first = observeStep(undefined, step, true, 1000);
    expect(first).toEqual({ step, healthySince: 1000 });
    expect(observeStep(first, step, true, 9000)).toBe(first);
  });

  it('restarts it when a canary stops being available', () => {
    const first = observeStep(undefined, step, true, 1000);
    const interrupted = observeStep(first, step, false, 2000);
    expect(interrupted).toEqual({ step });
    expect(observeStep(interrupted, step, true, 3000)).toEqual({ step, healthySince: 3000 });
  });

  it('restarts it at every change of the experiment: a ramp, a pause, a resume (each moves last_modified)', () => {
    const first = observeStep(undefined, step, true, 1000);
    const resumed = stepKey({ status: 'INPROGRESS', traffic_percentage: 5, last_modified: '2026-11-29T10:05:00.000001Z' });
    expect(observeStep(first, resumed, true, 4000)).toEqual({ step: resumed, healthySince: 4000 });
    const ramped = stepKey({ status: 'INPROGRESS', traffic_percentage: 10, last_modified: '2026-11-29T10:00:00.000001Z' });
    expect(observeStep(first, ramped, true, 5000)).toEqual({ step: ramped, healthySince: 5000 });
  });
});
