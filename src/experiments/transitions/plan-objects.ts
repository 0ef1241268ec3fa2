import type { KubernetesObject, V1Deployment, V1Service } from '@kubernetes/client-node';
import type { VariantDto } from '../../contract/experiment.dto';
import { EXPERIMENT_LABEL, isManagedByMayday, ROLE_LABEL, VARIANT_LABEL } from '../../naming/labels';
import { canaryServiceName, deploymentName, labelValue, mainServiceName, SERVICE_PORT } from '../../naming/names';
import type { RouteScope } from '../../traffic/traffic-router';
import type { ExperimentPlan } from '../plan/experiment-plan';
import type { VariantIdentity } from '../plan/manifests';

/** Whether an object is one of this experiment's canaries (Mayday's own). */
export function isCanaryOf(object: KubernetesObject, plan: ExperimentPlan): boolean {
  const labels = object.metadata?.labels ?? {};
  return isManagedByMayday(object) && labels[ROLE_LABEL] === 'canary' && labels[EXPERIMENT_LABEL] === labelValue(plan.experimentId);
}

export function identity(plan: ExperimentPlan, variant: VariantDto): VariantIdentity {
  return { namespace: plan.namespace, service: plan.service, experimentId: plan.experimentId, variantId: variant.id };
}

export function routeScope(plan: ExperimentPlan, main: V1Service | undefined, stableVariantId: string | undefined): RouteScope {
  return {
    namespace: plan.namespace,
    service: plan.service,
    experimentId: plan.experimentId,
    host: plan.host,
    mainServiceName: mainServiceName(plan.service),
    mainServicePort: main?.spec?.ports?.[0]?.port ?? SERVICE_PORT,
    stableVariantId: stableVariantId ?? main?.metadata?.labels?.[VARIANT_LABEL] ?? plan.control.id,
    controlVariantId: plan.control.id,
    ...(plan.kind === 'rollout' && plan.lastModified ? { appliedFor: plan.lastModified } : {}),
  };
}

export function containerPortOf(deployment: V1Deployment): number {
  return deployment.spec?.template?.spec?.containers?.[0]?.ports?.[0]?.containerPort ?? SERVICE_PORT;
}

export function sameSelector(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const keys = Object.keys(a ?? {});
  return keys.length === Object.keys(b).length && keys.every((key) => a![key] === b[key]);
}

/**
 * The objects a transition may create that are not among Mayday's own in `observed` (by `Kind`
 * and name): they are read by name before it runs, so that a foreign one is refused. The main
 * Service is not among them: it is read anyway.
 */
export function objectsToCheck(
  plan: ExperimentPlan,
  observed: { mainService?: V1Service; deployments: V1Deployment[]; services: V1Service[] },
): { kind: 'Deployment' | 'Service'; name: string }[] {
  const candidates: { kind: 'Deployment' | 'Service'; name: string }[] = [];
  if (plan.kind === 'rollout') {
    if (!observed.mainService) candidates.push({ kind: 'Deployment', name: deploymentName(plan.service, plan.control.id) });
    for (const variant of plan.experimental) {
      candidates.push({ kind: 'Deployment', name: deploymentName(plan.service, variant.id) });
      candidates.push({ kind: 'Service', name: canaryServiceName(plan.service, variant.id) });
    }
  } else if (plan.kind === 'promote') {
    candidates.push({ kind: 'Deployment', name: deploymentName(plan.service, plan.winner!.id) });
  }
  return candidates.filter(({ kind, name }) =>
    (kind === 'Deployment' ? observed.deployments : observed.services).every((object) => object.metadata?.name !== name),
  );
}
