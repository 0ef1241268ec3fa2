import type { WorkloadState } from '../../workloads/workload-state';
import type { ExperimentStatus } from '../../contract/experiment.dto';

/**
 * Automatic ramps (AUTO_RAMP, AUTO_RAMP_INTERVAL_SECONDS): pure decisions; ClosedLoopService
 * observes and calls Superposition.
 */

/**
 * Since when one step has been healthy: the same experiment state (status, traffic, last_modified:
 * a ramp, a pause and a resume each change it) with every canary available. Kept in memory: after a
 * restart (or a new leader) the interval starts again, which can only delay a ramp.
 */
export interface StepHealth {
  /** The experiment state it was observed in. */
  step: string;
  /** When every canary was first seen available at this step (ms); undefined while one is not. */
  healthySince?: number;
}

export function stepKey(experiment: { status: string; traffic_percentage: number; last_modified?: string }): string {
  return `${experiment.status}|${experiment.traffic_percentage}|${experiment.last_modified ?? ''}`;
}

/** The step health after observing `step` with the canaries in `allAvailable` state at `now`. */
export function observeStep(previous: StepHealth | undefined, step: string, allAvailable: boolean, now: number): StepHealth {
  if (!allAvailable) return { step };
  if (previous?.step === step && previous.healthySince !== undefined) return previous;
  return { step, healthySince: now };
}

/** Superposition's limit on a per-variant share: 100 / number of variants, control included (ramp answers 400 above). */
export function maxTrafficPercentage(variants: number): number {
  return variants < 2 ? 100 : Math.floor(100 / variants);
}

/** The step after `current`, or undefined at (or past) the last step this experiment may take. */
export function nextStep(steps: readonly number[], current: number, variants: number): number | undefined {
  const next = steps.find((step) => step > current);
  return next !== undefined && next <= maxTrafficPercentage(variants) ? next : undefined;
}

export interface RampInput {
  status: ExperimentStatus;
  trafficPercentage: number;
  /** Number of variants, control included. */
  variants: number;
  steps: readonly number[];
  canaries: readonly WorkloadState[];
  /** A pause is being written back: never ramp past it. */
  pausePending: boolean;
  health: StepHealth | undefined;
  intervalMs: number;
  now: number;
}

export type RampDecision = { ramp: number; changeReason: string } | { hold: string };

/**
 * Ramp to the next step once the experiment is INPROGRESS and every canary has been available
 * (hence not failing) for the whole interval at the current step; never past the last step (nor
 * Superposition's per-variant limit), never a conclusion.
 */
export function decideRamp(input: RampInput): RampDecision {
  if (input.status !== 'INPROGRESS') return { hold: `the experiment is ${input.status}` };
  if (input.pausePending) return { hold: 'a pause is being written back' };
  const next = nextStep(input.steps, input.trafficPercentage, input.variants);
  if (next === undefined) return { hold: `traffic ${input.trafficPercentage} is at or past the last step` };
  const unhealthy = input.canaries.find((canary) => canary.phase !== 'available');
  if (unhealthy && 'reason' in unhealthy) return { hold: `a canary is ${unhealthy.phase}: ${unhealthy.reason}` };
  if (input.canaries.length === 0) return { hold: 'no canary to judge' };
  const since = input.health?.healthySince;
  if (since === undefined) return { hold: 'the canaries have just become available' };
  const healthyMs = input.now - since;
  if (healthyMs < input.intervalMs) {
    return { hold: `healthy for ${Math.floor(healthyMs / 1000)} s of ${input.intervalMs / 1000} s` };
  }
  return {
    ramp: next,
    changeReason: `Mayday auto-ramp: every canary available for ${Math.round(input.intervalMs / 1000)} s at ${input.trafficPercentage}%, next step ${next}% (AUTO_RAMP)`,
  };
}
