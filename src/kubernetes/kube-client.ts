import {
  CoordinationV1Api,
  CoreV1Api,
  createConfiguration,
  EventsV1Api,
  KubeConfig,
  KubernetesObjectApi,
  ServerConfiguration,
  VersionApi,
  type Configuration,
} from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import type { AgentOptions } from 'node:https';
import { delimiter } from 'node:path';
import { Pool } from 'undici';
import { timeoutWithinDeadline } from '../common/deadline';
import type { KubernetesConnection } from '../config/mayday-config';

/** No single Kubernetes call may eat Superposition's 10 s delivery window (nor outlive the event's deadline). */
export const KUBE_REQUEST_TIMEOUT_MS = 4000;

/** The client-node API objects Mayday uses, built once from one KubeConfig. */
export class KubeClients {
  readonly objects: KubernetesObjectApi;
  readonly core: CoreV1Api;
  readonly version: VersionApi;
  readonly events: EventsV1Api;
  readonly coordination: CoordinationV1Api;

  constructor(readonly kubeConfig: KubeConfig) {
    const configuration = createApiConfiguration(kubeConfig);
    this.objects = new KubernetesObjectApi(configuration);
    this.core = new CoreV1Api(configuration);
    this.version = new VersionApi(configuration);
    this.events = new EventsV1Api(configuration);
    this.coordination = new CoordinationV1Api(configuration);
  }
}

/** KubeConfig from K8S_API_SERVER + K8S_TOKEN, or client-node's default chain (KUBECONFIG, ~/.kube/config, in-cluster). */
export function loadKubeConfig(connection: KubernetesConnection): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (connection.mode === 'default') {
    if (!connection.kubeconfig) {
      kubeConfig.loadFromDefault();
      if (connection.context) kubeConfig.setCurrentContext(connection.context);
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
    // With CLUSTERS, each cluster's rooms reach it through its own context.
    if (connection.context) kubeConfig.setCurrentContext(connection.context);
    return kubeConfig;
  }
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'mayday', server: connection.server, caFile: connection.caFile, skipTLSVerify: connection.skipTlsVerify }],
    users: [{ name: 'mayday', token: connection.token }],
    contexts: [{ name: 'mayday', cluster: 'mayday', user: 'mayday' }],
    currentContext: 'mayday',
  });
  return kubeConfig;
}

/**
 * Like KubeConfig.makeApiClient, plus a middleware that bounds every request in time and reuses
 * connections: client-node builds a new undici Agent for every request (so a new connection and
 * TLS handshake each time); the middleware swaps it for one kept-alive pool per API server.
 */
function createApiConfiguration(kubeConfig: KubeConfig): Configuration {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('Kubernetes configuration has no current cluster');
  const pools = new ApiServerPools(kubeConfig);
  return createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kubeConfig },
    promiseMiddleware: [
      {
        pre: async (context) => {
          if (context.getDispatcher()) {
            const pool = await pools.forUrl(context.getUrl());
            if (pool) context.setDispatcher(pool);
          }
          // Measured after the pool lookup (it reads credentials): the signal aborts undici's fetch,
          // from the connection to the last byte of the body, by the event's deadline at the latest.
          context.setSignal(AbortSignal.timeout(timeoutWithinDeadline(KUBE_REQUEST_TIMEOUT_MS)));
          return context;
        },
        post: async (response) => response,
      },
    ],
  });
}

/**
 * One undici Pool per API server origin and set of TLS settings (the settings only change if the
 * credentials do, e.g. a rotated client certificate), built from the same connect options
 * client-node would use. Idle connections are unreferenced by undici, so they never hold the
 * process open.
 */
class ApiServerPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly kubeConfig: KubeConfig) {}

  /** The pool for a request URL, or undefined where client-node's own dispatcher must stay (a proxy). */
  async forUrl(url: string): Promise<Pool | undefined> {
    const tls: AgentOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(tls);
    const settings = this.kubeConfig.createDispatcherOptions(this.kubeConfig.getCurrentCluster(), {
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      pfx: tls.pfx,
      passphrase: tls.passphrase,
      rejectUnauthorized: tls.rejectUnauthorized,
      servername: tls.servername,
    });
    if (settings.type !== 'agent') return undefined;
    const origin = new URL(url).origin;
    const key = createHash('sha256')
      .update(JSON.stringify([origin, settings.connect]))
      .digest('hex');
    let pool = this.pools.get(key);
    if (!pool) {
      // 30 s idle: below the usual 60 s of cloud load balancers and the API server's 90 s.
      pool = new Pool(origin, { connect: settings.connect, connections: 64, keepAliveTimeout: 30_000 });
      this.pools.set(key, pool);
    }
    return pool;
  }
}
