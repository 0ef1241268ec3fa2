import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import {
  AppsV1Api,
  CoreV1Api,
  makeInformer,
  type Informer,
  type ObjectCache,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { MaydayConfig } from '../config/mayday-config';
import { KubeClients } from '../kubernetes/kube-client';
import { APP_LABEL, MANAGED_BY, MANAGED_BY_LABEL } from '../naming/labels';
import { workloadState, type WorkloadState } from './workload-state';

/** A Mayday Deployment whose state (available, waiting, failed and why) changed. */
export interface WorkloadChange {
  deployment: V1Deployment;
  state: WorkloadState;
}

const RESTART_DELAY_MS = 2000;

/**
 * Watches the Deployments and pods Mayday manages (client-node informers: one list, then a watch;
 * no polling) and tells its listeners when a Deployment becomes available, stops being available or
 * starts failing. Runs only with CANARY_READINESS_GATE on.
 */
@Injectable()
export class WorkloadWatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WorkloadWatcher.name);
  private deployments?: Informer<V1Deployment> & ObjectCache<V1Deployment>;
  private pods?: Informer<V1Pod> & ObjectCache<V1Pod>;
  private readonly lastStates = new Map<string, string>();
  private readonly listeners: ((change: WorkloadChange) => void)[] = [];
  private stopped = false;

  constructor(
    private readonly clients: KubeClients,
    private readonly config: MaydayConfig,
  ) {}

  get enabled(): boolean {
    return this.config.safety.readinessGate;
  }

  onChange(listener: (change: WorkloadChange) => void): void {
    this.listeners.push(listener);
  }

  /** The pods of one Mayday Deployment, from the informer's cache. */
  podsOf(namespace: string, deploymentName: string): V1Pod[] {
    return (this.pods?.list(namespace) ?? []).filter((pod) => pod.metadata?.labels?.[APP_LABEL] === deploymentName);
  }

  stateOf(deployment: V1Deployment | undefined): WorkloadState {
    if (!this.enabled) return { phase: 'available' };
    const pods = deployment ? this.podsOf(deployment.metadata!.namespace!, deployment.metadata!.name!) : [];
    return workloadState(deployment, pods, this.config.safety.maxRestarts);
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.enabled) return;
    const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
    const apps = this.clients.kubeConfig.makeApiClient(AppsV1Api);
    const core = this.clients.kubeConfig.makeApiClient(CoreV1Api);
    this.pods = makeInformer(this.clients.kubeConfig, '/api/v1/pods', () => core.listPodForAllNamespaces({ labelSelector: selector }), selector);
    this.deployments = makeInformer(
      this.clients.kubeConfig,
      '/apis/apps/v1/deployments',
      () => apps.listDeploymentForAllNamespaces({ labelSelector: selector }),
      selector,
    );
    for (const verb of ['add', 'update'] as const) {
      this.deployments.on(verb, (deployment) => this.evaluate(deployment));
      this.pods.on(verb, (pod) => this.evaluatePod(pod));
    }
    this.deployments.on('delete', (deployment) => this.lastStates.delete(key(deployment)));
    this.keepRunning('pods', this.pods);
    this.keepRunning('deployments', this.deployments);
    // Not awaited: Mayday answers webhooks while the informers fill; their first list raises the events.
    void this.start('pods', this.pods);
    void this.start('deployments', this.deployments);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.deployments?.stop(), this.pods?.stop()]);
  }

  private evaluatePod(pod: V1Pod): void {
    const deploymentName = pod.metadata?.labels?.[APP_LABEL];
    const deployment = deploymentName ? this.deployments?.get(deploymentName, pod.metadata?.namespace) : undefined;
    if (deployment) this.evaluate(deployment);
  }

  private evaluate(deployment: V1Deployment): void {
    const state = this.stateOf(deployment);
    const summary = state.phase === 'available' ? 'available' : `${state.phase}: ${state.reason}`;
    const previous = this.lastStates.get(key(deployment));
    this.lastStates.set(key(deployment), summary);
    if (previous === summary) return;
    for (const listener of this.listeners) listener({ deployment, state });
  }

  /** An informer stops on a watch error (e.g. the API server restarted): start it again. */
  private keepRunning(name: string, informer: Informer<V1Deployment> | Informer<V1Pod>): void {
    informer.on('error', (error) => this.restartLater(name, informer, error));
  }

  private async start(name: string, informer: Informer<V1Deployment> | Informer<V1Pod>): Promise<void> {
    if (this.stopped) return;
    try {
      await informer.start();
    } catch (error) {
      this.restartLater(name, informer, error);
    }
  }

  private readonly restarting = new Set<string>();

  /** One restart at a time per informer, however many ways its failure was reported. */
  private restartLater(name: string, informer: Informer<V1Deployment> | Informer<V1Pod>, error: unknown): void {
    if (this.stopped || this.restarting.has(name)) return;
    this.restarting.add(name);
    this.logger.warn(`${name} watch stopped (${(error as Error)?.message ?? String(error)}); restarting in ${RESTART_DELAY_MS} ms`);
    void sleep(RESTART_DELAY_MS).then(() => {
      this.restarting.delete(name);
      return this.start(name, informer);
    });
  }
}

function key(deployment: V1Deployment): string {
  return `${deployment.metadata?.namespace}/${deployment.metadata?.name}`;
}
