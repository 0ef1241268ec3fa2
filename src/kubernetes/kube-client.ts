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
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import { delimiter } from 'node:path';
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
    clusters: [{ name: 'mayday', server: connection.server, caFile: connection.caFile, skipTLSVerify: connection.skipTlsVerify }],
    users: [{ name: 'mayday', token: connection.token }],
    contexts: [{ name: 'mayday', cluster: 'mayday', user: 'mayday' }],
    currentContext: 'mayday',
  });
  return kubeConfig;
}

/**
 * Like KubeConfig.makeApiClient, plus a middleware that bounds every request in time and reuses
 * connections: client-node builds a new Agent for every request (so a TLS handshake each time);
 * the middleware swaps it for a keep-alive Agent with the same TLS settings.
 */
function createApiConfiguration(kubeConfig: KubeConfig): Configuration {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('Kubernetes configuration has no current cluster');
  const keepAliveAgents = new Map<string, Agent>();
  return createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kubeConfig },
    promiseMiddleware: [
      {
        pre: async (context) => {
          context.setSignal(AbortSignal.timeout(timeoutWithinDeadline(KUBE_REQUEST_TIMEOUT_MS)));
          const fresh = context.getAgent();
          if (fresh) context.setAgent(keepAlive(fresh, keepAliveAgents));
          return context;
        },
        post: async (response) => response,
      },
    ],
  });
}

type Agent = HttpAgent | HttpsAgent;

/** One keep-alive Agent per distinct set of TLS settings (they only change if the credentials do). */
function keepAlive(fresh: Agent, agents: Map<string, Agent>): Agent {
  const options = (fresh as Agent & { options: AgentOptions }).options ?? {};
  const secure = fresh instanceof HttpsAgent;
  const key = createHash('sha256')
    .update(JSON.stringify([secure, options.ca, options.cert, options.key, options.pfx, options.rejectUnauthorized, options.servername]))
    .digest('hex');
  let agent = agents.get(key);
  if (!agent) {
    const settings = { ...options, keepAlive: true, maxSockets: 64, maxFreeSockets: 16 };
    agent = secure ? new HttpsAgent(settings) : new HttpAgent(settings);
    agents.set(key, agent);
  }
  return agent;
}
