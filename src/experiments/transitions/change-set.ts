import type { KubernetesObject, V1Deployment, V1Service } from '@kubernetes/client-node';
import type { TransitionEvent } from '../../kubernetes/kube-events.service';
import type { ObjectAction } from '../../kubernetes/object-diff';
import type { RouteChange, RouteState, TrafficRouter } from '../../traffic/traffic-router';
import type { WorkloadState } from '../../workloads/workload-state';
import type { DeploymentSettings } from '../plan/variant-config';

/**
 * What one transition (rollout, promotion, rollback) changes, decided before anything is written
 * (docs/architecture.md, "Transitions"). The ChangeWriter carries it out in this order, so that no
 * route ever points at nothing: the workloads, then the main Service and the routes, then the
 * deletions.
 */
export interface ChangeSet {
  /** Deployments and the Services in front of them, applied in parallel (skipped when as applied). */
  workloads: Apply[];
  /** Labels set on live objects once the workloads are written (reported as `updated`). */
  relabels: Relabel[];
  /** Canaries taken out of traffic: the failure is marked on their Deployment (not reported as a change). */
  failures: FailureMark[];
  /** The main Service, once what it is to select exists: applied (Mayday's own) or its selector switched (the user's). */
  mainService?: Apply | SelectorSwitch;
  /** Route objects written in order, then route objects deleted. */
  routes?: Pick<RouteChange, 'writes' | 'deletes'>;
  /** Mayday's own objects this transition retires, deleted last (each guarded by its uid). */
  deletes: KubernetesObject[];
  /** The weight each experimental variant gets, and why (rollouts only). */
  canaries: CanaryOutcome[];
  /** What the experiment's record says once this is written. */
  record: RecordChange;
  /** The Kubernetes Events that tell the transition, from what the writer reports it did (a created object's uid). */
  events(written: Written): TransitionEvent[];
}

/** A desired object, with what is live now (undefined: it is created). */
export interface Apply {
  desired: KubernetesObject;
  live?: KubernetesObject;
}

export interface Relabel {
  object: KubernetesObject;
  labels: Record<string, string>;
}

export interface FailureMark {
  deployment: V1Deployment;
  /** Annotations that record the failure (workloads/workload-state.ts failureMark). */
  annotations: Record<string, string>;
  reason: string;
}

/**
 * A Service Mayday did not make, switched by replacing its whole selector (server-side apply would
 * merge the keys into the owner's selector: docs/contract.md §8); nothing is written when it already
 * selects this.
 */
export interface SelectorSwitch {
  service: V1Service;
  /** The Deployment whose pods (label `app: <its name>`) the Service is to select. */
  deploymentName: string;
}

/** One experimental variant's route as this event left it. */
export interface CanaryOutcome {
  variantId: string;
  weight: number;
  state: WorkloadState;
}

/** The record's phase after the transition: done, a promotion waiting for its winner, or a scale-down to come. */
export type RecordChange =
  { phase: 'applied' } | { phase: 'promotion-pending'; pendingReason: string } | { phase: 'scale-down-pending'; scaleDownAt: string };

/** What the ChangeWriter did: every object's action in the order written, and, apart, what the last step deleted. */
export interface Written {
  actions: ObjectAction[];
  /** The retired objects that were deleted (already-gone ones are left out). */
  deleted: ObjectAction[];
}

/** What a transition needs to see of one service (workspace) in one namespace, read before any write. */
export interface Observed {
  /** The main Service `{service}`, Mayday's or not. */
  mainService?: V1Service;
  /** Mayday's Deployments and Services of this workspace in this namespace. */
  deployments: V1Deployment[];
  services: V1Service[];
  /**
   * Objects the transition would create that are not among Mayday's own above, read by name (so that
   * a foreign one is refused): key `Kind/name`, undefined when absent.
   */
  named: ReadonlyMap<string, KubernetesObject | undefined>;
  /** The provider's live routes. */
  routes: RouteState;
  /** Resolved configs: the experimental variants' and CONTROL's (rollouts), the winner's when its Deployment is missing (promotions). */
  settings: ReadonlyMap<string, DeploymentSettings>;
  /**
   * The states the transition judges, by Deployment name: each canary's (rollouts), the winner's
   * readiness to take all traffic (promotions). Read from the workload watcher's caches.
   */
  workloadStates: ReadonlyMap<string, WorkloadState>;
  /** From the record: this conclusion already switched the main Service and scales down at this time. */
  scaleDownAt?: string;
}

/** The rules a transition decides by, besides the plan and what it observed. */
export interface TransitionRules {
  /** Plans the route objects (pure). */
  router: Pick<TrafficRouter, 'planRoutes' | 'planFinalize'>;
  /** CANARY_READINESS_GATE: weights follow the canaries' availability, and a promotion waits for its winner. */
  readinessGate: boolean;
  /** SCALE_DOWN_DELAY_SECONDS. */
  scaleDownDelaySeconds: number;
  /** Epoch milliseconds. */
  now: number;
}

/** `Kind/name`, the key of Observed.named. */
export function namedKey(kind: string, name: string): string {
  return `${kind}/${name}`;
}
