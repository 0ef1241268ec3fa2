import type { TransitionEvent } from '../../kubernetes/kube-events.service';
import type { ObjectAction } from '../../kubernetes/object-diff';
import type { WorkloadState } from '../../workloads/workload-state';
import type { ExperimentPlan } from './experiment-plan';

/** The Kubernetes Events that tell a transition's story, as pure functions of what it did. */

export interface CanaryTransition {
  variantId: string;
  /** The canary Deployment as this event left it (its action carries the uid). */
  deployment: ObjectAction;
  previousWeight: number;
  weight: number;
  state: WorkloadState;
  /** Whether this event took it out of traffic (it was not marked failed before). */
  newlyFailed: boolean;
}

/** CanaryCreated, CanaryFailed, and WeightChanged or Paused, on each canary Deployment. */
export function rolloutEvents(plan: ExperimentPlan, canaries: CanaryTransition[]): TransitionEvent[] {
  const events: TransitionEvent[] = [];
  for (const canary of canaries) {
    const regarding = regardingOf(canary.deployment, 'apps/v1');
    if (canary.deployment.action === 'created') {
      events.push({
        regarding,
        reason: 'CanaryCreated',
        type: 'Normal',
        note: `canary of experiment ${plan.experimentId} for variant ${canary.variantId}`,
        variantId: canary.variantId,
      });
    }
    if (canary.newlyFailed && canary.state.phase === 'failed') {
      events.push({
        regarding,
        reason: 'CanaryFailed',
        type: 'Warning',
        note: `taken out of traffic: ${canary.state.reason}`,
        variantId: canary.variantId,
      });
    }
    if (canary.previousWeight !== canary.weight) {
      const why = canary.state.phase === 'available' ? '' : ` (${canary.state.phase}: ${canary.state.reason})`;
      events.push({
        regarding,
        reason: plan.canaryWeight === 0 && canary.previousWeight > 0 ? 'Paused' : 'WeightChanged',
        type: 'Normal',
        note: `weight ${canary.previousWeight} -> ${canary.weight}${why}`,
        variantId: canary.variantId,
        weight: canary.weight,
      });
    }
  }
  return events;
}

/** What a promotion deletes later, and when (SCALE_DOWN_DELAY_SECONDS after the switch). */
export interface ScheduledScaleDown {
  at: string;
  /** "Kind name" of each object to delete. */
  objects: string[];
}

/** Promoted, on the winner's Deployment and on the main Service (with the scale-down to come, if any). */
export function promotionEvents(
  plan: ExperimentPlan,
  winner: ObjectAction,
  main: ObjectAction,
  scaleDown?: ScheduledScaleDown,
): TransitionEvent[] {
  const later = scaleDown ? `; ${scaleDown.objects.join(', ')} keep running until ${scaleDown.at}, then are deleted` : '';
  const variantId = plan.winner!.id;
  const note = `experiment ${plan.experimentId} concluded: variant ${variantId} is the stable release`;
  return [
    { regarding: regardingOf(winner, 'apps/v1'), reason: 'Promoted', type: 'Normal', note: `${note}${later}${metricsOf(plan)}`, variantId },
    {
      regarding: regardingOf(main, 'v1'),
      reason: 'Promoted',
      type: 'Normal',
      note: `${note}; the Service selects ${winner.name}${later}${metricsOf(plan)}`,
      variantId,
    },
  ];
}

/** ScaledDown, on the winner's Deployment, when the delayed deletion after a promotion removed something. */
export function scaledDownEvents(winner: ObjectAction, deleted: ObjectAction[]): TransitionEvent[] {
  if (deleted.length === 0) return [];
  const names = deleted.map((action) => `${action.kind} ${action.name}`).join(', ');
  return [
    { regarding: regardingOf(winner, 'apps/v1'), reason: 'ScaledDown', type: 'Normal', note: `deleted after the promotion: ${names}` },
  ];
}

/** PromotionPending, on the winner's Deployment (of variant `variantId`). */
export function pendingPromotionEvents(
  winner: ObjectAction,
  why: string,
  type: 'Normal' | 'Warning' = 'Normal',
  variantId?: string,
): TransitionEvent[] {
  return [{ regarding: regardingOf(winner, 'apps/v1'), reason: 'PromotionPending', type, note: why, ...(variantId ? { variantId } : {}) }];
}

/** RolledBack, on the main Service, when the rollback removed something. */
export function rollbackEvents(plan: ExperimentPlan, main: ObjectAction | undefined, actions: ObjectAction[]): TransitionEvent[] {
  if (!main || !actions.some((action) => action.action === 'deleted')) return [];
  const why = plan.winner ? `CONTROL ${plan.winner.id} won` : 'it was discarded';
  return [
    {
      regarding: regardingOf(main, 'v1'),
      reason: 'RolledBack',
      type: 'Normal',
      note: `experiment ${plan.experimentId} rolled back (${why}): its canaries were removed${metricsOf(plan)}`,
      ...(plan.winner ? { variantId: plan.winner.id } : {}),
    },
  ];
}

/** Where people find the experiment's dashboard (Superposition's metrics_url), when it has one. */
function metricsOf(plan: ExperimentPlan): string {
  return plan.metricsUrl ? `; metrics: ${plan.metricsUrl}` : '';
}

function regardingOf(action: ObjectAction, apiVersion: string): TransitionEvent['regarding'] {
  return { apiVersion, kind: action.kind, namespace: action.namespace, name: action.name, ...(action.uid ? { uid: action.uid } : {}) };
}
