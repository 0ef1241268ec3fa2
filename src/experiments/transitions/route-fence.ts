import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeVersionConflictError } from '../../kubernetes/kube-errors';
import { isAsApplied } from '../../kubernetes/object-diff';
import { APPLIED_FOR_ANNOTATION, EXPERIMENT_LABEL, isManagedByMayday } from '../../naming/labels';
import { labelValue } from '../../naming/names';
import type { ExperimentPlan } from '../plan/experiment-plan';
import { compareTimestamps, isTimestamp } from '../records/experiment-record';
import type { ChangeSet } from './change-set';

/**
 * Writing a rollout's routes and its record at the same time, safely across replicas (the table in
 * docs/architecture.md, "Several replicas"). The record is the order between replicas: it is written
 * naming the resourceVersion read. With the route written at the same time, a route write could land
 * after another replica read this record and moved on; so the route objects that carry the weights
 * are stamped with the state they were written for (APPLIED_FOR_ANNOTATION), every route update
 * names the resourceVersion it was planned from, and a state never writes over a newer one of the
 * same experiment. The route's state then only moves forward, as the record's does.
 */

/**
 * Refuses to write a rollout's routes over route objects a newer state of the same experiment was
 * written for: another replica is applying a later event (its record may still be on its way). A
 * KubeVersionConflictError, so the event is judged again against fresh reads.
 */
export function refuseOvertaken(plan: ExperimentPlan, changes: ChangeSet): void {
  if (plan.kind !== 'rollout' || !plan.lastModified) return;
  const routes = [...(changes.routes?.writes ?? []).map((write) => write.live), ...(changes.routes?.deletes ?? [])];
  for (const route of routes) {
    const appliedFor = appliedForOf(route, plan);
    if (appliedFor !== undefined && compareTimestamps(appliedFor, plan.lastModified)! > 0) {
      throw new KubeVersionConflictError(
        `${route!.kind} ${route!.metadata?.namespace}/${route!.metadata?.name} carries experiment ${plan.experimentId} as of ${appliedFor}, ` +
          `newer than this event's ${plan.lastModified}: another replica is applying it`,
        409,
        'Conflict',
      );
    }
  }
}

/**
 * Whether every route write this ChangeSet makes is an update of a live object, under a precondition
 * on its uid and resourceVersion, stamped with this state (and no route object is deleted): then a route
 * write that lands after a newer state's record was read fails instead (409), and the record may be
 * written at the same time.
 */
export function routeWritesFenced(plan: ExperimentPlan, changes: ChangeSet): boolean {
  if (plan.kind !== 'rollout' || !isTimestamp(plan.lastModified)) return false;
  if ((changes.routes?.deletes.length ?? 0) > 0) return false;
  return (changes.routes?.writes ?? []).every(
    ({ desired, live }) =>
      (live !== undefined && isAsApplied(desired, live)) ||
      (live?.metadata?.uid !== undefined &&
        live.metadata.resourceVersion !== undefined &&
        desired.metadata?.annotations?.[APPLIED_FOR_ANNOTATION] === plan.lastModified),
  );
}

/** The state a live route object of this experiment (Mayday's) was written for, when it says. */
function appliedForOf(route: KubernetesObject | undefined, plan: ExperimentPlan): string | undefined {
  if (!route || !isManagedByMayday(route) || route.metadata?.labels?.[EXPERIMENT_LABEL] !== labelValue(plan.experimentId)) return undefined;
  const appliedFor = route.metadata?.annotations?.[APPLIED_FOR_ANNOTATION];
  return compareTimestamps(appliedFor, plan.lastModified) === undefined ? undefined : appliedFor;
}
