import type { V1Deployment } from '@kubernetes/client-node';
import { actionFor } from '../../kubernetes/object-diff';
import { APP_LABEL, isManagedByMayday, ROLE_LABEL } from '../../naming/labels';
import { deploymentName } from '../../naming/names';
import type { ExperimentPlan } from '../plan/experiment-plan';
import { mainService, variantDeployment } from '../plan/manifests';
import { unservedPort } from '../plan/service-ports';
import { pendingPromotionEvents, promotionEvents, scaledDownEvents } from '../plan/transition-events';
import type { ChangeSet, Observed, TransitionRules } from './change-set';
import { containerPortOf, identity, isCanaryOf, routeScope } from './plan-objects';
import { liveOrRefuse, requireConsent } from './refusals';

/**
 * CONCLUDED with an experimental winner, in two steps, like Argo Rollouts' scaleDownDelaySeconds.
 * The switch, once the winner is fully available (with the readiness gate on:
 * PROMOTION_MIN_AVAILABLE_PERCENT of its replicas, of its current generation): the winner is the
 * stable Deployment, the main Service selects its pods, the main route carries everything. Until
 * then the promotion is pending. The scale-down, SCALE_DOWN_DELAY_SECONDS after the switch (so
 * that routers and endpoints catch up while the old pods still serve): canary Services, losing
 * and formerly stable Deployments (Mayday's only) go. Every run converges from wherever the last
 * one stopped; the deadline comes from the record once it was set (`observed.scaleDownAt`).
 */
export function promotion(plan: ExperimentPlan, observed: Observed, rules: TransitionRules): ChangeSet {
  requireConsent(plan, observed.mainService);
  const winner = plan.winner!;
  const winnerIdentity = identity(plan, winner);
  const winnerName = deploymentName(plan.service, winner.id);
  const winnerLive = observed.deployments.find((deployment) => deployment.metadata?.name === winnerName);
  const switched = observed.scaleDownAt !== undefined;

  // A winner whose Deployment never arrived (its Started event was lost) is deployed from its config.
  let winnerToCreate: V1Deployment | undefined;
  if (!winnerLive) {
    winnerToCreate = variantDeployment(winnerIdentity, observed.settings.get(winner.id)!, rules.readinessGate ? 'canary' : 'stable');
    liveOrRefuse(winnerToCreate, observed);
  }
  const workloads = winnerToCreate ? [{ desired: winnerToCreate }] : [];
  const winnerDeployment = (winnerLive ?? winnerToCreate)!;
  const liveMain = observed.mainService;
  if (!switched) {
    const winnerState = observed.workloadStates.get(winnerName)!;
    // A Service of the user's keeps its ports: switching it to pods that do not serve them is an outage.
    const unserved = liveMain && !isManagedByMayday(liveMain) ? unservedPort(liveMain, winnerDeployment) : undefined;
    if (winnerState.phase !== 'available' || unserved) {
      const pendingReason =
        winnerState.phase !== 'available'
          ? `Deployment ${plan.namespace}/${winnerName} is not ready to take all traffic (${winnerState.reason}); the promotion completes when it is`
          : `${unserved}; the promotion completes once they match`;
      return {
        workloads,
        relabels: [],
        failures: [],
        deletes: [],
        canaries: [],
        record: { phase: 'promotion-pending', pendingReason },
        events: (written) =>
          pendingPromotionEvents(
            written.actions[0] ?? actionFor(winnerLive!, 'unchanged'),
            pendingReason,
            unserved ? 'Warning' : 'Normal',
            winner.id,
          ),
      };
    }
  }

  const desiredMain = mainService(winnerIdentity, containerPortOf(winnerDeployment));
  const routes = rules.router.planRoutes(routeScope(plan, liveMain ?? desiredMain, winner.id), [], observed.routes);
  const relabels =
    winnerLive && winnerLive.metadata?.labels?.[ROLE_LABEL] !== 'stable'
      ? [{ object: winnerLive, labels: { [ROLE_LABEL]: 'stable' } }]
      : [];

  // After the switch, never what the main Service selects (another experiment's winner, if one was promoted meanwhile).
  const serving = switched ? liveMain?.spec?.selector?.[APP_LABEL] : winnerName;
  const retiring = [
    ...observed.services.filter((service) => isCanaryOf(service, plan)),
    ...observed.deployments.filter(
      (deployment) =>
        deployment.metadata?.name !== winnerName &&
        deployment.metadata?.name !== serving &&
        (isCanaryOf(deployment, plan) || deployment.metadata?.labels?.[ROLE_LABEL] === 'stable'),
    ),
  ];
  const scaleDownAt = observed.scaleDownAt ?? new Date(rules.now + rules.scaleDownDelaySeconds * 1000).toISOString();
  const due = retiring.length === 0 || Date.parse(scaleDownAt) <= rules.now;
  const scaleDown = due ? undefined : { at: scaleDownAt, objects: retiring.map((object) => `${object.kind} ${object.metadata?.name}`) };

  return {
    workloads,
    relabels,
    failures: [],
    mainService:
      !liveMain || isManagedByMayday(liveMain)
        ? { desired: desiredMain, live: liveMain }
        : { service: liveMain, deploymentName: winnerName },
    routes,
    deletes: due ? retiring : [],
    canaries: [],
    record: due ? { phase: 'applied' } : { phase: 'scale-down-pending', scaleDownAt },
    events: (written) => {
      const winnerAction =
        written.actions.find((action) => action.kind === 'Deployment' && action.name === winnerName) ?? actionFor(winnerLive!, 'updated');
      const mainAction = written.actions.find((action) => action.kind === 'Service' && action.name === desiredMain.metadata!.name)!;
      const events = switched ? [] : promotionEvents(plan, winnerAction, mainAction, scaleDown);
      if (due && switched) events.push(...scaledDownEvents(winnerAction, written.deleted));
      return events;
    },
  };
}
