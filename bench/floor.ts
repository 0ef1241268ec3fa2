/**
 * The floor: the same Kubernetes WRITES Mayday makes for each transition, issued directly with
 * client-node, no reads, no checks, no bookkeeping. Server-side apply through
 * KubernetesObjectApi.patch with field manager `bench-floor` and force, as client-node documents it;
 * deletes through KubernetesObjectApi.delete with its defaults.
 *
 *   Started     apply stable Deployment + main Service + canary Deployment + canary Service (in parallel),
 *               then the main Ingress, then the canary Ingress (Mayday writes routes after workloads)
 *   Inprogress  apply the canary Ingress with the new weight
 *   Paused      apply the canary Ingress with weight 0
 *   Concluded   apply the main Service selecting the winner, then delete the canary Ingress, the canary
 *               Service and the old stable Deployment
 */
import {
  createConfiguration,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  ServerConfiguration,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { AgentOptions } from 'node:https';
import { Pool } from 'undici';
import { canaryIngress, canaryService, deployment, mainIngress, mainService, recordConfigMap, type ExperimentIdentity } from './shapes';

export const FIELD_MANAGER = 'bench-floor';
export const FLOOR_TRAFFIC = { started: 10, inprogress: 30 };

export class Floor {
  private readonly client: KubernetesObjectApi;

  /**
   * `keepAlive` false: client-node exactly as documented (`KubernetesObjectApi.makeApiClient(kc)`),
   * which builds a new undici Agent, so a new TLS connection, for every request. `keepAlive` true: the
   * same calls over one keep-alive Pool (a reference point only; Mayday itself reuses connections).
   */
  constructor(kubeconfigPath: string, keepAlive = false) {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    this.client = keepAlive ? keepAliveClient(kc) : KubernetesObjectApi.makeApiClient(kc);
  }

  apply<T extends KubernetesObject>(object: T): Promise<T> {
    return this.client.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  }

  async remove(object: KubernetesObject): Promise<void> {
    await this.client.delete(object);
  }

  async started(id: ExperimentIdentity): Promise<void> {
    await Promise.all([
      this.apply(deployment(id, id.controlId, 'nginx:1.25', 'stable')),
      this.apply(mainService(id, id.controlId)),
      this.apply(deployment(id, id.canaryId, 'nginx:1.27', 'canary')),
      this.apply(canaryService(id, id.canaryId)),
    ]);
    await this.apply(mainIngress(id, id.controlId));
    await this.apply(canaryIngress(id, id.canaryId, FLOOR_TRAFFIC.started));
  }

  async inprogress(id: ExperimentIdentity): Promise<void> {
    await this.apply(canaryIngress(id, id.canaryId, FLOOR_TRAFFIC.inprogress));
  }

  async paused(id: ExperimentIdentity): Promise<void> {
    await this.apply(canaryIngress(id, id.canaryId, 0));
  }

  async concluded(id: ExperimentIdentity): Promise<void> {
    await this.apply(mainService(id, id.canaryId));
    await this.remove(canaryIngress(id, id.canaryId, 0));
    await this.remove(canaryService(id, id.canaryId));
    await this.remove(deployment(id, id.controlId, 'nginx:1.25', 'stable'));
  }

  /** Mayday's per-transition record (a ConfigMap), timed on its own: reported, never added to the floor. */
  async record(id: ExperimentIdentity, status: string, event: string, lastModified: string, experimentJson: string): Promise<void> {
    await this.apply(recordConfigMap(id, status, event, lastModified, experimentJson));
  }
}

/** Writes per transition, as the floor issues them (for the report). */
export const FLOOR_WRITES: Record<string, string> = {
  Started: '6 applies (4 parallel, then 2 sequential)',
  Inprogress: '1 apply',
  Paused: '1 apply',
  Concluded: '1 apply + 3 deletes (sequential)',
};

/** client-node's request pipeline with one keep-alive undici Pool carrying the kubeconfig's TLS settings. */
function keepAliveClient(kc: KubeConfig): KubernetesObjectApi {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  let pool: Promise<Pool> | undefined;
  const makePool = async (): Promise<Pool> => {
    const tls: AgentOptions = {};
    await kc.applyToHTTPSOptions(tls);
    const { ca, cert, key, rejectUnauthorized, servername } = tls;
    const settings = kc.createDispatcherOptions(cluster, { ca, cert, key, rejectUnauthorized, servername });
    if (settings.type !== 'agent') throw new Error(`unexpected dispatcher type ${settings.type}`);
    return new Pool(new URL(cluster.server).origin, { connect: settings.connect, connections: 64 });
  };
  return new KubernetesObjectApi(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [
        {
          pre: async (context) => {
            pool ??= makePool();
            context.setDispatcher(await pool);
            return context;
          },
          post: async (response) => response,
        },
      ],
    }),
  );
}
