import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Cluster } from './cluster';
import { controlPlane, maydayToken, startControlPlane, stopControlPlane, type ControlPlane } from './control-plane';
import { installCrd } from './crds';
import { installMaydayRbac } from './mayday-rbac';

/** The context names Mayday knows the two clusters by (CLUSTERS=a,b). */
export const CLUSTER_A = 'a';
export const CLUSTER_B = 'b';

export interface TwoClusters {
  /** The file's cluster (API server, controllers, hollow nodes). */
  readonly a: ControlPlane;
  /** A second, bare cluster (etcd and kube-apiserver only: KUBE_NODES=0), on ports of its own. */
  readonly b: ControlPlane;
  /** Admin access to each, for arranging and asserting. */
  readonly clusterA: Cluster;
  readonly clusterB: Cluster;
  /** One kubeconfig with the contexts `a` and `b` (current: `a`), each as Mayday's ServiceAccount of deploy/ in that cluster. */
  readonly kubeconfig: string;
  /** The same namespace in both clusters. */
  createNamespace(prefix: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Two clusters for one Mayday: the file's cluster as `a`, and a second control plane as `b` with the
 * same HTTPRoute CRD and deploy/'s RBAC, and a kubeconfig naming both as contexts.
 */
export async function startTwoClusters(): Promise<TwoClusters> {
  const a = controlPlane();
  const b = await startControlPlane({ nodes: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'mayday-two-clusters-'));
  const stop = async () => {
    await stopControlPlane(b);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await installCrd(b.kubeconfig);
    b.maydayToken = await installMaydayRbac(b.kubeconfig);
    const kubeconfig = join(dir, 'kubeconfig');
    const entry = (name: string, plane: ControlPlane) => ({
      cluster: { name, cluster: { server: plane.apiServer, 'certificate-authority': join(plane.runDir, 'certs', 'apiserver.crt') } },
      user: { name: `mayday-${name}`, user: { token: maydayToken(plane) } },
      context: { name, context: { cluster: name, user: `mayday-${name}` } },
    });
    const entries = [entry(CLUSTER_A, a), entry(CLUSTER_B, b)];
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: entries.map((item) => item.cluster),
        users: entries.map((item) => item.user),
        contexts: entries.map((item) => item.context),
        'current-context': CLUSTER_A,
      }),
    );
    const clusterA = new Cluster(a.kubeconfig);
    const clusterB = new Cluster(b.kubeconfig);
    return {
      a,
      b,
      clusterA,
      clusterB,
      kubeconfig,
      async createNamespace(prefix) {
        const name = await clusterA.createNamespace(prefix);
        await clusterB.core.createNamespace({ body: { metadata: { name } } });
        return name;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** startTwoClusters before the describe block's tests (register it before the Mayday that uses it), stopped after them. */
export function useTwoClusters(): TwoClusters {
  let clusters: TwoClusters | undefined;
  beforeAll(async () => {
    clusters = await startTwoClusters();
  }, 180_000);
  afterAll(async () => {
    await clusters?.stop();
  });
  const running = () => {
    if (!clusters) throw new Error('the two clusters are not running');
    return clusters;
  };
  return {
    get a() {
      return running().a;
    },
    get b() {
      return running().b;
    },
    get clusterA() {
      return running().clusterA;
    },
    get clusterB() {
      return running().clusterB;
    },
    get kubeconfig() {
      return running().kubeconfig;
    },
    createNamespace: (prefix) => running().createNamespace(prefix),
    stop: () => running().stop(),
  };
}
