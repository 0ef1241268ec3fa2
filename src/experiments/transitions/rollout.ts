import type { KubernetesObject, V1Service } from '@kubernetes/client-node';
import { isAsApplied } from '../../kubernetes/object-diff';
import { canaryServiceName } from '../../naming/names';
import { failureMark, markedFailure, type WorkloadState } from '../../workloads/workload-state';
import type { ExperimentPlan } from '../plan/experiment-plan';
import { canaryService, mainService, variantDeployment } from '../plan/manifests';
import { rolloutEvents } from '../plan/transition-events';
import type { ChangeSet, FailureMark, Observed, TransitionRules } from './change-set';
import { identity, isCanaryOf, routeScope } from './plan-objects';
import { liveOrRefuse, refuseConcurrentExperiment, requireConsent } from './refusals';

/**
 * INPROGRESS / PAUSED: main path present, every experimental variant deployed. A canary gets the
 * plan's weight only when its Deployment is available (with the readiness gate on); a failing
 * one is marked failed and gets 0 until its variant changes. This experiment's other canaries
 * (variants it no longer has) are deleted.
 */
export function rollout(plan: ExperimentPlan, observed: Observed, rules: TransitionRules): ChangeSet {
  refuseConcurrentExperiment(plan, observed);
  requireConsent(plan, observed.mainService);

  // The CONTROL config (resolved only then) is needed to create the main path, when it is missing.
  const needsMainPath = observed.mainService === undefined;
  const settings = observed.settings;

  const desired: KubernetesObject[] = [];
  let newMainService: V1Service | undefined;
  if (needsMainPath) {
    const control = settings.get(plan.control.id)!;
    newMainService = mainService(identity(plan, plan.control), control.port);
    desired.push(variantDeployment(identity(plan, plan.control), control, 'stable'), newMainService);
  }
  const canaryDeployments = plan.experimental.map((variant) =>
    variantDeployment(identity(plan, variant), settings.get(variant.id)!, 'canary'),
  );
  for (const [index, variant] of plan.experimental.entries()) {
    desired.push(canaryDeployments[index], canaryService(identity(plan, variant), settings.get(variant.id)!.port));
  }
  const workloads = desired.map((object) => ({ desired: object, live: liveOrRefuse(object, observed) }));

  const canaries = plan.experimental.map((variant, index) => {
    const name = canaryDeployments[index].metadata!.name!;
    const liveDeployment = observed.deployments.find((item) => item.metadata?.name === name);
    // A Deployment this event changes runs a new generation that no controller has seen yet.
    const changes = !isAsApplied(canaryDeployments[index], liveDeployment);
    const state: WorkloadState =
      changes && rules.readinessGate
        ? { phase: 'waiting', reason: 'the Deployment is being created or updated' }
        : observed.workloadStates.get(name)!;
    const weight = state.phase === 'available' ? plan.canaryWeight : 0;
    return { variantId: variant.id, serviceName: canaryServiceName(plan.service, variant.id), weight, state, liveDeployment, name };
  });
  const scope = routeScope(plan, observed.mainService ?? newMainService, needsMainPath ? plan.control.id : undefined);
  const routes = rules.router.planRoutes(scope, canaries, observed.routes);

  // Marked once per reason: a canary already marked for this reason is not newly failed.
  const failures: FailureMark[] = canaries.flatMap(({ state, liveDeployment }) =>
    state.phase === 'failed' && liveDeployment !== undefined && markedFailure(liveDeployment) !== state.reason
      ? [{ deployment: liveDeployment, annotations: failureMark(liveDeployment, state.reason), reason: state.reason }]
      : [],
  );
  const desiredNames = new Set(desired.map((object) => object.metadata?.name));
  const stale = [...observed.services, ...observed.deployments].filter(
    (object) => isCanaryOf(object, plan) && !desiredNames.has(object.metadata?.name),
  );

  return {
    workloads,
    relabels: [],
    failures,
    routes,
    deletes: stale,
    canaries: canaries.map(({ variantId, weight, state }) => ({ variantId, weight, state })),
    record: { phase: 'applied' },
    events: (written) =>
      rolloutEvents(
        plan,
        canaries.map((canary) => ({
          variantId: canary.variantId,
          deployment: written.actions.find((action) => action.kind === 'Deployment' && action.name === canary.name)!,
          previousWeight: routes.previousWeights.get(canary.serviceName) ?? 0,
          weight: canary.weight,
          state: canary.state,
          newlyFailed: failures.some((failure) => failure.deployment === canary.liveDeployment),
        })),
      ),
  };
}
