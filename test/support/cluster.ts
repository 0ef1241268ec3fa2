import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  NetworkingV1Api,
  type V1Deployment,
  type V1Ingress,
  type V1Service,
} from '@kubernetes/client-node';
import { inject } from 'vitest';

/** Direct access to the test's kube-apiserver, for arranging and asserting, independent of Mayday's code. */
export class Cluster {
  readonly kubeConfig = new KubeConfig();
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly networking: NetworkingV1Api;
  readonly objects: KubernetesObjectApi;

  constructor(readonly kubeconfigPath = inject('controlPlane').kubeconfig) {
    this.kubeConfig.loadFromFile(kubeconfigPath);
    this.core = this.kubeConfig.makeApiClient(CoreV1Api);
    this.apps = this.kubeConfig.makeApiClient(AppsV1Api);
    this.networking = this.kubeConfig.makeApiClient(NetworkingV1Api);
    this.objects = KubernetesObjectApi.makeApiClient(this.kubeConfig);
  }

  async createNamespace(prefix: string): Promise<string> {
    const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
    await this.core.createNamespace({ body: { metadata: { name } } });
    return name;
  }

  async deployments(namespace: string, labelSelector?: string): Promise<V1Deployment[]> {
    return (await this.apps.listNamespacedDeployment({ namespace, labelSelector })).items;
  }

  async services(namespace: string, labelSelector?: string): Promise<V1Service[]> {
    return (await this.core.listNamespacedService({ namespace, labelSelector })).items;
  }

  async ingresses(namespace: string, labelSelector?: string): Promise<V1Ingress[]> {
    return (await this.networking.listNamespacedIngress({ namespace, labelSelector })).items;
  }

  /** Every object in the namespace by kind and name, with its resourceVersion: a snapshot to compare. */
  async snapshot(namespace: string): Promise<Record<string, string>> {
    const [deployments, services, ingresses, configMaps] = await Promise.all([
      this.deployments(namespace),
      this.services(namespace),
      this.ingresses(namespace),
      this.core.listNamespacedConfigMap({ namespace }).then((list) => list.items),
    ]);
    const entries: [string, string][] = [];
    for (const [kind, items] of [
      ['Deployment', deployments],
      ['Service', services],
      ['Ingress', ingresses],
      ['ConfigMap', configMaps],
    ] as const) {
      for (const item of items) entries.push([`${kind}/${item.metadata?.name}`, item.metadata?.resourceVersion ?? '']);
    }
    return Object.fromEntries(entries.sort());
  }

  async names(namespace: string): Promise<{ deployments: string[]; services: string[]; ingresses: string[] }> {
    const [deployments, services, ingresses] = await Promise.all([
      this.deployments(namespace),
      this.services(namespace),
      this.ingresses(namespace),
    ]);
    const names = (items: { metadata?: { name?: string } }[]) => items.map((item) => item.metadata!.name!).sort();
    return { deployments: names(deployments), services: names(services), ingresses: names(ingresses) };
  }
}
