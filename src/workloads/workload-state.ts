import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { canonicalJson } from '../common/canonical-json';
import { FAILED_ANNOTATION, FAILED_SPEC_ANNOTATION } from '../naming/labels';

export type WorkloadState = { phase: 'available' } | { phase: 'waiting'; reason: string } | { phase: 'failed'; reason: string };

/**
 * Whether a Deployment may receive traffic. Failed: Mayday marked it failed at its current
 * generation, or it is failing now (see `failureOf`). Available: the controller has seen the
 * current generation, at least one replica is available, and nothing is failing. Otherwise waiting.
 */
export function workloadState(deployment: V1Deployment | undefined, pods: readonly V1Pod[], maxRestarts: number): WorkloadState {
  if (!deployment) return { phase: 'waiting', reason: 'the Deployment does not exist yet' };
  const marked = markedFailure(deployment);
  if (marked) return { phase: 'failed', reason: marked };
  // Conditions of a generation the controller has not seen yet describe the previous spec.
  const generation = deployment.metadata?.generation ?? 0;
  const observed = deployment.status?.observedGeneration ?? 0;
  if (observed < generation) return { phase: 'waiting', reason: `generation ${generation} not yet observed by the controller` };
  const failure = failureOf(deployment, pods, maxRestarts);
  if (failure) return { phase: 'failed', reason: failure };
  const available = deployment.status?.availableReplicas ?? 0;
  if (available < 1) {
    const desired = deployment.spec?.replicas ?? 1;
    return { phase: 'waiting', reason: `0 of ${desired} replicas available` };
  }
  return { phase: 'available' };
}

/**
 * Whether a winner may take all of the traffic: as `workloadState` says it is available, and at
 * least `minAvailablePercent` of its desired replicas (at least one) are available pods of its
 * current pod template. The controller counts available pods of every ReplicaSet, so while older
 * pods remain they are assumed to be the available ones. One ready pod out of five is not a release.
 */
export function promotionState(
  deployment: V1Deployment | undefined,
  pods: readonly V1Pod[],
  maxRestarts: number,
  minAvailablePercent: number,
): WorkloadState {
  const state = workloadState(deployment, pods, maxRestarts);
  if (state.phase !== 'available') return state;
  const desired = deployment!.spec?.replicas ?? 1;
  const needed = Math.max(1, Math.ceil((desired * minAvailablePercent) / 100));
  const { replicas = 0, updatedReplicas = 0, availableReplicas = 0 } = deployment!.status ?? {};
  const availableUpdated = availableReplicas - Math.max(0, replicas - updatedReplicas);
  if (availableUpdated >= needed) return state;
  const share = minAvailablePercent === 100 ? '' : ` (PROMOTION_MIN_AVAILABLE_PERCENT=${minAvailablePercent})`;
  return {
    phase: 'waiting',
    reason: `the promotion needs ${needed} of ${desired} replicas of the current generation available${share}`,
  };
}

/**
 * A failure happening now: the rollout exceeded its progress deadline, a ReplicaSet cannot
 * create pods, or a container of its pods restarted more than `maxRestarts` times.
 */
export function failureOf(deployment: V1Deployment, pods: readonly V1Pod[], maxRestarts: number): string | undefined {
  for (const condition of deployment.status?.conditions ?? []) {
    if (condition.type === 'Progressing' && condition.status === 'False' && condition.reason === 'ProgressDeadlineExceeded') {
      return `ProgressDeadlineExceeded: ${condition.message ?? 'the rollout made no progress within its deadline'}`;
    }
    if (condition.type === 'ReplicaFailure' && condition.status === 'True') {
      return `ReplicaFailure: ${condition.message ?? condition.reason ?? 'pods cannot be created'}`;
    }
  }
  for (const pod of currentPods(deployment, pods)) {
    for (const container of pod.status?.containerStatuses ?? []) {
      if (container.restartCount > maxRestarts) {
        const waiting = container.state?.waiting?.reason ? ` (${container.state.waiting.reason})` : '';
        return `CrashLoop: container ${container.name} of pod ${pod.metadata?.name} restarted ${container.restartCount} times${waiting}, more than CANARY_MAX_RESTARTS=${maxRestarts}`;
      }
    }
  }
  return undefined;
}

/**
 * Pods of the current pod template: old ReplicaSets' pods carry the same `app` label while a rollout
 * replaces them, and their crashes say nothing about the new spec. A pod is current when each of the
 * template's containers is in it with the same image and env. Containers an admission webhook added
 * (a mesh sidecar) are ignored, and so is an env variable only the pod has: a webhook may inject it.
 */
function currentPods(deployment: V1Deployment, pods: readonly V1Pod[]): readonly V1Pod[] {
  const wanted = deployment.spec?.template?.spec?.containers ?? [];
  return pods.filter((pod) =>
    wanted.every((container) => {
      const running = pod.spec?.containers?.find((candidate) => candidate.name === container.name);
      return (
        running !== undefined &&
        running.image === container.image &&
        (container.env ?? []).every((variable) =>
          running.env?.some((candidate) => candidate.name === variable.name && candidate.value === variable.value),
        )
      );
    }),
  );
}

/** The failure Mayday recorded on this Deployment, if it still applies to its current spec. */
export function markedFailure(deployment: V1Deployment): string | undefined {
  const annotations = deployment.metadata?.annotations ?? {};
  const reason = annotations[FAILED_ANNOTATION];
  if (!reason) return undefined;
  return annotations[FAILED_SPEC_ANNOTATION] === specHash(deployment) ? reason : undefined;
}

/** The annotations that mark a Deployment failed with its current spec. */
export function failureMark(deployment: V1Deployment, reason: string): Record<string, string> {
  return { [FAILED_ANNOTATION]: reason, [FAILED_SPEC_ANNOTATION]: specHash(deployment) };
}

function specHash(deployment: V1Deployment): string {
  const spec = { replicas: deployment.spec?.replicas, template: deployment.spec?.template };
  return createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 16);
}
