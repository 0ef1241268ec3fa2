import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { KubernetesObject, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { MaydayConfig } from '../config/mayday-config';
import { ClusterCache } from '../kubernetes/cluster-cache.service';
import { APP_LABEL, podSelector } from '../naming/labels';
import { promotionState, workloadState, type WorkloadState } from './workload-state';

/** A Mayday Deployment whose state (available, waiting, failed and why) changed. */
export interface WorkloadChange {
  deployment: V1Deployment;
  state: WorkloadState;
}

/**
 * Follows the Deployments and pods Mayday manages (through the cluster cache's informers: one list,
 * then a watch; no polling) and tells its listeners when a Deployment becomes available, stops
 * being available, starts failing, or becomes ready to be promoted. Only with CANARY_READINESS_GATE on.
 */
@Injectable()
export class WorkloadWatcher implements OnApplicationBootstrap {
  private readonly lastStates = new Map<string, string>();
  private readonly listeners: ((change: WorkloadChange) => void)[] = [];

  constructor(
    private readonly cache: ClusterCache,
    private readonly config: MaydayConfig,
  ) {
    // The pods are what says whether a Deployment is available or failing.
    if (this.enabled) cache.keep({ apiVersion: 'v1', kind: 'Pod', apiPath: '/api/v1', resource: 'pods' });
  }

  get enabled(): boolean {
    return this.config.safety.readinessGate;
  }

  onChange(listener: (change: WorkloadChange) => void): void {
    this.listeners.push(listener);
  }

  /** The pods of one Mayday Deployment, from the cache (none while it fills). */
  podsOf(namespace: string, deploymentName: string): V1Pod[] {
    return this.cache.list<V1Pod>('v1', 'Pod', namespace, podSelector(deploymentName)) ?? [];
  }

  stateOf(deployment: V1Deployment | undefined): WorkloadState {
    if (!this.enabled) return { phase: 'available' };
    const pods = deployment ? this.podsOf(deployment.metadata!.namespace!, deployment.metadata!.name!) : [];
    return workloadState(deployment, pods, this.config.safety.maxRestarts);
  }

  /** Whether a winner may take all the traffic (PROMOTION_MIN_AVAILABLE_PERCENT of its replicas available). */
  promotionStateOf(deployment: V1Deployment | undefined): WorkloadState {
    if (!this.enabled) return { phase: 'available' };
    const pods = deployment ? this.podsOf(deployment.metadata!.namespace!, deployment.metadata!.name!) : [];
    return promotionState(deployment, pods, this.config.safety.maxRestarts, this.config.safety.promotionMinAvailablePercent);
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    this.cache.on('apps/v1', 'Deployment', (verb, deployment) => {
      if (verb === 'delete') this.lastStates.delete(key(deployment));
      else this.evaluate(deployment as V1Deployment);
    });
    this.cache.on('v1', 'Pod', (verb, pod) => {
      const deploymentName = pod.metadata?.labels?.[APP_LABEL];
      const namespace = pod.metadata?.namespace;
      if (!deploymentName || !namespace) return;
      const deployment = this.cache.get<V1Deployment>('apps/v1', 'Deployment', namespace, deploymentName);
      if (deployment) this.evaluate(deployment);
    });
  }

  /** Tells the listeners when the Deployment's state, or its readiness to be promoted, changed. */
  private evaluate(deployment: V1Deployment): void {
    const state = this.stateOf(deployment);
    const promotion = this.promotionStateOf(deployment);
    const summary = [state, promotion]
      .map((item) => (item.phase === 'available' ? 'available' : `${item.phase}: ${item.reason}`))
      .join(' | ');
    const previous = this.lastStates.get(key(deployment));
    this.lastStates.set(key(deployment), summary);
    if (previous === summary) return;
    for (const listener of this.listeners) listener({ deployment, state });
  }
}

function key(object: KubernetesObject): string {
  return `${object.metadata?.namespace}/${object.metadata?.name}`;
}
