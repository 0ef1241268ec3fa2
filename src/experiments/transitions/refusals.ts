import type { KubernetesObject, V1Service } from '@kubernetes/client-node';
import { ConsentRequiredError, ForeignObjectError, hasConsent, UnprocessableEventError } from '../../common/errors';
import { EXPERIMENT_LABEL, isManagedByMayday, ROLE_LABEL } from '../../naming/labels';
import { labelValue } from '../../naming/names';
import type { ExperimentPlan } from '../plan/experiment-plan';
import { namedKey, type Observed } from './change-set';

/** What a transition refuses before anything is written (422): each throws, or returns what it found. */

/** A main Service Mayday did not make is used (routed to, switched) only with its owner's consent for this workspace. */
export function requireConsent(plan: ExperimentPlan, main: V1Service | undefined): void {
  if (main && !isManagedByMayday(main) && !hasConsent(main, plan.service)) {
    throw new ConsentRequiredError('Service', plan.namespace, main.metadata!.name!, plan.service);
  }
}

/** ingress-nginx and a single main route cannot serve two experiments on one service at once. */
export function refuseConcurrentExperiment(plan: ExperimentPlan, observed: Observed): void {
  const other = observed.deployments.find(
    (deployment) =>
      deployment.metadata?.labels?.[ROLE_LABEL] === 'canary' &&
      deployment.metadata?.labels?.[EXPERIMENT_LABEL] !== labelValue(plan.experimentId),
  );
  if (other) {
    throw new UnprocessableEventError(
      `experiment ${other.metadata?.labels?.[EXPERIMENT_LABEL]} still runs a canary for service "${plan.service}" in namespace ${plan.namespace} ` +
        `(Deployment ${other.metadata?.name}); conclude or discard it first`,
    );
  }
}

/** The live object for a desired one: Mayday's own from the lists, else the one read by name (refused if foreign). */
export function liveOrRefuse(desired: KubernetesObject, observed: Observed): KubernetesObject | undefined {
  const name = desired.metadata!.name!;
  const owned: KubernetesObject[] = desired.kind === 'Deployment' ? observed.deployments : observed.services;
  const mine = owned.find((object) => object.metadata?.name === name);
  if (mine) return mine;
  const live = observed.named.get(namedKey(desired.kind!, name));
  if (live && !isManagedByMayday(live)) throw new ForeignObjectError(desired.kind!, desired.metadata!.namespace!, name);
  return live;
}
