import type { Status } from './payloads';

/** One step of an experiment as Superposition sends it: the event, the state, and its last_modified. */
export interface Step {
  event: string;
  status: Status;
  traffic: number;
  chosen?: string;
  lastModified: string;
}

/** How a lifecycle ends: a winner or CONTROL concluded, discarded, still running, or paused. */
export type Ending = 'winner' | 'control' | 'discard' | 'running' | 'paused';

/** A last_modified `step` seconds after `base`, with microsecond precision as Superposition writes it (1.000123 s apart). */
export function timestamp(base: number, step: number): string {
  const millis = base + step * 1000;
  return new Date(millis).toISOString().replace('Z', `${String(123 + step).padStart(3, '0')}Z`);
}

/** Start, ramp, pause, resume at 35 %, then the ending (from CREATED first when `created`). */
export function lifecycleSteps(ending: Ending, base: number, created = false): Step[] {
  const steps: Step[] = [
    ...(created ? [{ event: 'ExperimentCreated', status: 'CREATED' as const, traffic: 0, lastModified: timestamp(base, 0) }] : []),
    { event: 'ExperimentStarted', status: 'INPROGRESS', traffic: 10, lastModified: timestamp(base, 1) },
    { event: 'ExperimentInprogress', status: 'INPROGRESS', traffic: 20, lastModified: timestamp(base, 2) },
    { event: 'ExperimentPaused', status: 'PAUSED', traffic: 20, lastModified: timestamp(base, 3) },
    { event: 'ExperimentInprogress', status: 'INPROGRESS', traffic: 35, lastModified: timestamp(base, 4) },
  ];
  const last = timestamp(base, 5);
  if (ending === 'winner')
    steps.push({ event: 'ExperimentConcluded', status: 'CONCLUDED', traffic: 35, chosen: 'test1', lastModified: last });
  if (ending === 'control')
    steps.push({ event: 'ExperimentConcluded', status: 'CONCLUDED', traffic: 35, chosen: 'control', lastModified: last });
  if (ending === 'discard') steps.push({ event: 'ExperimentDiscarded', status: 'DISCARDED', traffic: 35, lastModified: last });
  if (ending === 'paused') steps.push({ event: 'ExperimentPaused', status: 'PAUSED', traffic: 35, lastModified: last });
  return steps;
}
