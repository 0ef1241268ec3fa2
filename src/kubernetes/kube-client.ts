import {
  AppsV1Api,
  CoreV1Api,
  createConfiguration,
  EventsV1Api,
  KubeConfig,
  KubernetesObjectApi,
  ServerConfiguration,
  VersionApi,
  type Configuration,
} from '@kubernetes/client-node';
import { delimiter } from 'node:path';
import type { KubernetesConnection } from '../config/mayday-config';

/** No single Kubernetes call may eat Superposition's 10 s delivery window. */
export const KUBE_REQUEST_TIMEOUT_MS = 4000;

/** The client-node API objects Mayday uses, built once from one KubeConfig. */
export class KubeClients {
  readonly objects: KubernetesObjectApi;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly version: VersionApi;
  readonly events: EventsV1Api;

  constructor(readonly kubeConfig: KubeConfig) {
    const configuration = createApiConfiguration(kubeConfig);
    this.objects = new KubernetesObjectApi(configuration);
    this.core = new CoreV1Api(configuration);
    this.apps = new AppsV1Api(configuration);
    this.version = new VersionApi(configuration);
    this.events = new EventsV1Api(configuration);
  }

  get server(): string {
    return this.kubeConfig.getCurrentCluster()?.server ?? '(none)';
  }
}

/** KubeConfig from K8S_API_SERVER + K8S_TOKEN, or client-node's default chain (KUBECONFIG, ~/.kube/config, in-cluster). */
export function loadKubeConfig(connection: KubernetesConnection): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (connection.mode === 'default') {
    if (!connection.kubeconfig) {
      kubeConfig.loadFromDefault();
      return kubeConfig;
    }
    // KUBECONFIG as configured (it may differ from process.env in tests): a path list, first file wins.
    const [first, ...rest] = connection.kubeconfig.split(delimiter).filter((file) => file);
    kubeConfig.loadFromFile(first);
    for (const file of rest) {
      const more = new KubeConfig();
      more.loadFromFile(file);
      kubeConfig.mergeConfig(more);
    }
    return kubeConfig;
  }
  kubeConfig.loadFromOptions({
    clusters: [
      { name: 'mayday', server: connection.server, caFile: connection.caFile, skipTLSVerify: connection.skipTlsVerify },
    ],
    users: [{ name: 'mayday', token: connection.token }],
    contexts: [{ name: 'mayday', cluster: 'mayday', user: 'mayday' }],
    currentContext: 'mayday',
  });
  return kubeConfig;
}

/** Like KubeConfig.makeApiClient, plus a middleware that bounds every request in time. */
function createApiConfiguration(kubeConfig: KubeConfig): Configuration {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('Kubernetes configuration has no current cluster');
  return createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kubeConfig },
    promiseMiddleware: [
      {
        pre: async (context) => {
          context.setSignal(AbortSignal.timeout(KUBE_REQUEST_TIMEOUT_MS));
          return context;
        },
        post: async (response) => response,
      },
    ],
  });
}
