import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
  KubernetesObjectApi,
  NetworkingV1Api,
  type KubernetesObject,
  type V1Deployment,
  type V1Ingress,
  type V1Service,
} from '@kubernetes/client-node';
import { controlPlane } from './control-plane';

/** Mayday's Events carry this reporting controller; the Kubernetes controllers' do not. */
const MAYDAY_REPORTER = 'mayday.superposition.io/mayday';
/** Written by kube-controller-manager in every namespace (the cluster's CA), not by anyone under test. */
const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
/** Mayday's hash of what it applied (src/kubernetes/object-diff.ts). */
const APPLIED_HASH = 'mayday.superposition.io/applied-hash';
/** Annotations the Deployment controller writes on Deployments. */
const CONTROLLER_ANNOTATIONS = ['deployment.kubernetes.io/revision'];

export interface HttpRouteObject extends KubernetesObject {
  spec?: { parentRefs?: unknown[]; hostnames?: string[]; rules?: { backendRefs?: { name: string; port?: number; weight?: number }[] }[] };
}

/**
 * Direct access to the test's kube-apiserver, for arranging and asserting, independent of Mayday's code.
 * Without a kubeconfig path it uses the file's cluster, once that has started (tests construct it
 * at module level, before the setup file's beforeAll has run).
 */
export class Cluster {
  private clients?: {
    kubeConfig: KubeConfig;
    core: CoreV1Api;
    apps: AppsV1Api;
    networking: NetworkingV1Api;
    custom: CustomObjectsApi;
    events: EventsV1Api;
    objects: KubernetesObjectApi;
  };

  constructor(private readonly kubeconfigFile?: string) {}

  get kubeconfigPath(): string {
    return this.kubeconfigFile ?? controlPlane().kubeconfig;
  }
  get kubeConfig(): KubeConfig {
    return this.connected().kubeConfig;
  }
  get core(): CoreV1Api {
    return this.connected().core;
  }
  get apps(): AppsV1Api {
    return this.connected().apps;
  }
  get networking(): NetworkingV1Api {
    return this.connected().networking;
  }
  get custom(): CustomObjectsApi {
    return this.connected().custom;
  }
  get events(): EventsV1Api {
    return this.connected().events;
  }
  get objects(): KubernetesObjectApi {
    return this.connected().objects;
  }

  private connected(): NonNullable<Cluster['clients']> {
    if (!this.clients) {
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(this.kubeconfigPath);
      this.clients = {
        kubeConfig,
        core: kubeConfig.makeApiClient(CoreV1Api),
        apps: kubeConfig.makeApiClient(AppsV1Api),
        networking: kubeConfig.makeApiClient(NetworkingV1Api),
        custom: kubeConfig.makeApiClient(CustomObjectsApi),
        events: kubeConfig.makeApiClient(EventsV1Api),
        objects: KubernetesObjectApi.makeApiClient(kubeConfig),
      };
    }
    return this.clients;
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

  async httpRoutes(namespace: string): Promise<HttpRouteObject[]> {
    const list = (await this.custom.listNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace,
      plural: 'httproutes',
    })) as { items: HttpRouteObject[] };
    return list.items;
  }

  /**
   * What was written in the namespace by anyone but the Kubernetes controllers: Deployments,
   * Services, Ingresses, HTTPRoutes, ConfigMaps (by kind and name) and Mayday's Events, each with
   * its labels, annotations, spec or data, and uid. Server-assigned fields, status and the
   * controllers' own objects and annotations are left out, so that a snapshot only changes when
   * something was written, whatever the controllers do meanwhile. `portable` also leaves out uids
   * and times and writes the namespace as `NS`, to compare two namespaces that went through the
   * same steps.
   */
  async snapshot(namespace: string, { portable = false } = {}): Promise<Record<string, unknown>> {
    const [deployments, services, ingresses, routes, configMaps, events] = await Promise.all([
      this.deployments(namespace),
      this.services(namespace),
      this.ingresses(namespace),
      this.httpRoutes(namespace),
      this.core.listNamespacedConfigMap({ namespace }).then((list) => list.items),
      this.events.listNamespacedEvent({ namespace }).then((list) => list.items),
    ]);
    const entries: [string, unknown][] = [];
    for (const [kind, items] of [
      ['Deployment', deployments],
      ['Service', services],
      ['Ingress', ingresses],
      ['HTTPRoute', routes],
      ['ConfigMap', configMaps.filter((item) => item.metadata?.name !== ROOT_CA_CONFIGMAP)],
    ] as const) {
      for (const item of items as KubernetesObject[]) entries.push([`${kind}/${item.metadata?.name}`, normalised(item, portable)]);
    }
    const maydayEvents = events
      .filter((event) => event.reportingController === MAYDAY_REPORTER)
      .map((event) => `${event.type} ${event.reason} ${event.regarding?.kind}/${event.regarding?.name}: ${event.note}`)
      .sort();
    if (maydayEvents.length > 0) entries.push(['Events', maydayEvents]);
    const snapshot = Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return portable ? JSON.parse(JSON.stringify(snapshot).replaceAll(namespace, 'NS')) : snapshot;
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

/** Labels, annotations (not the controllers'), spec (no allocated cluster IPs) or data of an object. */
function normalised(object: KubernetesObject, portable: boolean): Record<string, unknown> {
  const { metadata = {} } = object;
  const annotations = Object.fromEntries(
    Object.entries(metadata.annotations ?? {})
      .filter(([key]) => !CONTROLLER_ANNOTATIONS.includes(key))
      // The hash covers namespaced values (hosts): the same content in another namespace hashes differently.
      .map(([key, value]) => [key, portable && key === APPLIED_HASH ? 'H' : value]),
  );
  const body = object as KubernetesObject & { spec?: Record<string, unknown>; data?: Record<string, string> };
  const spec = body.spec ? { ...body.spec } : undefined;
  if (spec && 'clusterIP' in spec) {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  }
  const data = body.data && portable ? withoutTimes(body.data) : body.data;
  return {
    labels: metadata.labels ?? {},
    annotations,
    ...(spec ? { spec } : {}),
    ...(data ? { data } : {}),
    ...(portable ? {} : { uid: metadata.uid }),
  };
}

/** A record's data with its times (when applied, when to scale down) replaced by `T`. */
function withoutTimes(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, ['appliedAt', 'scaleDownAt'].includes(key) ? 'T' : value]));
}
