import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { controlPlane } from '../support/control-plane';
import { eventually } from '../support/eventually';
import { useMaydayWithSuperposition } from '../support/harness';
import { deliverLikeSuperposition } from '../support/mayday';
import { experimentId, type ExperimentSpec } from '../support/payloads';
import { TcpProxy } from '../support/tcp-proxy';
import { createCrashingPod } from '../support/workloads';

const cluster = new Cluster();

describe('the caches heal after a watch error', () => {
  let proxy: TcpProxy;
  let kubeconfig: string;
  let namespace: string;
  beforeAll(async () => {
    namespace = await cluster.createNamespace('heal');
    const api = new URL(controlPlane().apiServer);
    proxy = new TcpProxy(api.hostname, Number(api.port));
    await proxy.start();
    kubeconfig = proxy.kubeconfigFrom(controlPlane().kubeconfig);
  });
  afterAll(() => proxy?.stop());
  // Everything Mayday says to the API server, its watches included, goes through the proxy.
  const harness = useMaydayWithSuperposition(() => ({
    KUBECONFIG: kubeconfig,
    CANARY_READINESS_GATE: 'true',
    CANARY_MAX_RESTARTS: '3',
    ALLOWED_NAMESPACES: namespace,
  }));

  async function canaryWeight(service: string, variantId: string): Promise<string | undefined> {
    const ingress = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === `${service}-ingress-${variantId}`);
    return ingress?.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight'];
  }

  it('drops a canary that starts crash-looping after the connection to the API server was reset for 2 s', async () => {
    const service = 'healsvc';
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 20 };
    const deployment = `${service}-dep-${spec.id}-test1`;
    // Delivered as Superposition does (retried on a 5xx): the just-started Mayday lists every cached kind meanwhile.
    const answers = await deliverLikeSuperposition(() => harness.deliver('ExperimentStarted', service, spec));
    expect(answers.at(-1)?.status, JSON.stringify(answers.at(-1)?.body)).toBe(200);
    // The real controllers and a hollow node make the canary available; the gate then gives it its weight.
    await eventually(async () => expect(await canaryWeight(service, `${spec.id}-test1`)).toBe('20'), 30_000);

    // Every watch breaks, and cannot come back for 2 s.
    await proxy.cut(2000);
    // The kubelet reports a crash loop (written straight to the API server, not through the proxy).
    await createCrashingPod(cluster, namespace, deployment, 4);

    await eventually(async () => expect(await canaryWeight(service, `${spec.id}-test1`)).toBe('0'), 30_000, 100);
    const marked = await cluster.apps.readNamespacedDeployment({ namespace, name: deployment });
    expect(marked.metadata?.annotations?.['mayday.superposition.io/failed']).toMatch(/^CrashLoop: .*restarted 4 times/);
  }, 60_000);
});
