/**
 * Convergence checks, read straight from the API server with client-node (never through Mayday),
 * outside any timed window.
 */
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  NetworkingV1Api,
  type KubernetesObject,
  type V1Deployment,
  type V1Ingress,
  type V1Service,
} from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { CANARY_ANNOTATION, CANARY_WEIGHT_ANNOTATION, names, workspaceSelector, type ExperimentIdentity } from './shapes';

export type Expectation = { kind: 'rollout'; weight: number } | { kind: 'promoted' };

export interface CheckOutcome {
  /** Undefined when converged; otherwise what was wrong at the last look. */
  problem?: string;
  /** How many looks it took (1 when the cluster had converged by the time the answer arrived). */
  attempts: number;
}

export class ClusterChecker {
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly networking: NetworkingV1Api;
  private readonly objects: KubernetesObjectApi;

  constructor(kubeconfigPath: string) {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
    this.networking = kc.makeApiClient(NetworkingV1Api);
    this.objects = KubernetesObjectApi.makeApiClient(kc);
  }

  /**
   * Deletes what an experiment left behind (Deployments, Services, Ingresses, its record), untimed.
   * The local control plane gives Services a /24 (254 cluster IPs): without this, a few hundred
   * experiments exhaust it ("failed to allocate a serviceIP: range is full").
   */
  async removeLeftovers(id: ExperimentIdentity): Promise<void> {
    const labelSelector = workspaceSelector(id.managedBy, id.service);
    const kinds: [string, string][] = [
      ['apps/v1', 'Deployment'],
      ['v1', 'Service'],
      ['networking.k8s.io/v1', 'Ingress'],
      ['v1', 'ConfigMap'],
    ];
    const lists = await Promise.all(
      kinds.map(([apiVersion, kind]) =>
        this.objects.list<KubernetesObject>(apiVersion, kind, id.namespace, undefined, undefined, undefined, undefined, labelSelector),
      ),
    );
    await Promise.all(
      lists.flatMap((list, index) =>
        list.items.map((item) =>
          this.optional(() =>
            this.objects.delete({
              apiVersion: kinds[index][0],
              kind: kinds[index][1],
              metadata: { name: item.metadata!.name!, namespace: id.namespace },
            }),
          ),
        ),
      ),
    );
  }

  /** Looks until the expectation holds or `timeoutMs` passed. */
  async converged(id: ExperimentIdentity, expected: Expectation, timeoutMs = 3000): Promise<CheckOutcome> {
    const deadline = Date.now() + timeoutMs;
    for (let attempts = 1; ; attempts++) {
      let problem: string | undefined;
      try {
        problem = expected.kind === 'rollout' ? await this.rolloutProblem(id, expected.weight) : await this.promotedProblem(id);
      } catch (error) {
        problem = `check failed: ${(error as Error).message}`;
      }
      if (!problem || Date.now() >= deadline) return { problem, attempts };
      await sleep(25);
    }
  }

  /** INPROGRESS / PAUSED: stable Deployment, main Service and Ingress; canary Deployment, Service and Ingress at `weight`. */
  private async rolloutProblem(id: ExperimentIdentity, weight: number): Promise<string | undefined> {
    const ns = id.namespace;
    const [stable, main, mainRoute, canary, canarySvc, canaryRoute] = await Promise.all([
      this.optional(() => this.apps.readNamespacedDeployment({ namespace: ns, name: names.deployment(id.service, id.controlId) })),
      this.optional(() => this.core.readNamespacedService({ namespace: ns, name: names.mainService(id.service) })),
      this.optional(() => this.networking.readNamespacedIngress({ namespace: ns, name: names.mainIngress(id.service) })),
      this.optional(() => this.apps.readNamespacedDeployment({ namespace: ns, name: names.deployment(id.service, id.canaryId) })),
      this.optional(() => this.core.readNamespacedService({ namespace: ns, name: names.canaryService(id.service, id.canaryId) })),
      this.optional(() => this.networking.readNamespacedIngress({ namespace: ns, name: names.canaryIngress(id.service, id.canaryId) })),
    ]);
    if (!stable) return 'stable Deployment missing';
    if (!main) return 'main Service missing';
    if (main.spec?.selector?.app !== names.deployment(id.service, id.controlId))
      return `main Service selects ${JSON.stringify(main.spec?.selector)}`;
    if (!mainRoute) return 'main Ingress missing';
    if (mainRoute.metadata?.annotations?.[CANARY_ANNOTATION]) return 'main Ingress carries canary annotations';
    if (!canary) return 'canary Deployment missing';
    if (!canarySvc) return 'canary Service missing';
    if (canarySvc.spec?.selector?.app !== names.deployment(id.service, id.canaryId)) return 'canary Service selects the wrong pods';
    if (!canaryRoute) return 'canary Ingress missing';
    const annotations = canaryRoute.metadata?.annotations ?? {};
    if (annotations[CANARY_ANNOTATION] !== 'true') return 'canary Ingress is not marked canary';
    if (annotations[CANARY_WEIGHT_ANNOTATION] !== String(weight)) {
      return `canary-weight is ${JSON.stringify(annotations[CANARY_WEIGHT_ANNOTATION])}, expected "${weight}"`;
    }
    if (backendOf(canaryRoute) !== names.canaryService(id.service, id.canaryId)) return 'canary Ingress routes to the wrong Service';
    return undefined;
  }

  /** CONCLUDED with test1: only the winner Deployment, only the main Service (selecting it), only the main Ingress. */
  private async promotedProblem(id: ExperimentIdentity): Promise<string | undefined> {
    const ns = id.namespace;
    const labelSelector = workspaceSelector(id.managedBy, id.service);
    const [deployments, services, ingresses] = await Promise.all([
      this.apps.listNamespacedDeployment({ namespace: ns, labelSelector }),
      this.core.listNamespacedService({ namespace: ns, labelSelector }),
      this.networking.listNamespacedIngress({ namespace: ns, labelSelector }),
    ]);
    const winner = names.deployment(id.service, id.canaryId);
    const deploymentNames = deployments.items.map((item: V1Deployment) => item.metadata?.name);
    if (deploymentNames.length !== 1 || deploymentNames[0] !== winner) return `Deployments left: ${deploymentNames.join(', ') || 'none'}`;
    const serviceNames = services.items.map((item: V1Service) => item.metadata?.name);
    if (serviceNames.length !== 1 || serviceNames[0] !== names.mainService(id.service))
      return `Services left: ${serviceNames.join(', ') || 'none'}`;
    if (services.items[0].spec?.selector?.app !== winner) return `main Service selects ${JSON.stringify(services.items[0].spec?.selector)}`;
    const ingressNames = ingresses.items.map((item: V1Ingress) => item.metadata?.name);
    if (ingressNames.length !== 1 || ingressNames[0] !== names.mainIngress(id.service))
      return `Ingresses left: ${ingressNames.join(', ') || 'none'}`;
    if (ingresses.items[0].metadata?.annotations?.[CANARY_ANNOTATION]) return 'main Ingress carries canary annotations';
    if (backendOf(ingresses.items[0]) !== names.mainService(id.service)) return 'main Ingress does not route to the main Service';
    return undefined;
  }

  private async optional<T>(read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read();
    } catch (error) {
      if ((error as { code?: number }).code === 404) return undefined;
      throw error;
    }
  }
}

function backendOf(ingress: V1Ingress): string | undefined {
  return ingress.spec?.rules?.[0]?.http?.paths?.[0]?.backend?.service?.name;
}
