import { describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { useMaydayWithSuperposition } from '../support/harness';
import { experimentId, type ExperimentSpec } from '../support/payloads';

const cluster = new Cluster();

/** The canary backends a provider's routes send traffic to, for one service. */
const providers = [
  {
    name: 'nginx',
    env: { TRAFFIC_PROVIDER: 'nginx' },
    async canaryBackends(namespace: string): Promise<string[]> {
      return (await cluster.ingresses(namespace))
        .filter((ingress) => ingress.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary'] === 'true')
        .map((ingress) => ingress.spec!.rules![0].http!.paths[0].backend.service!.name);
    },
  },
  {
    name: 'gateway-api',
    env: { TRAFFIC_PROVIDER: 'gateway-api', GATEWAY_NAME: 'public-gw', GATEWAY_NAMESPACE: 'gateways' },
    async canaryBackends(namespace: string, service: string): Promise<string[]> {
      const list = (await cluster.custom.listNamespacedCustomObject({
        group: 'gateway.networking.k8s.io',
        version: 'v1',
        namespace,
        plural: 'httproutes',
      })) as { items: { spec: { rules: { backendRefs: { name: string }[] }[] } }[] };
      return list.items.flatMap((route) => route.spec.rules[0].backendRefs.map((ref) => ref.name)).filter((name) => name !== service);
    },
  },
];

describe.each(providers)('two experiments started together on one service ($name)', (provider) => {
  // Weights follow the events here; slow resolves make both events read the service before either writes.
  const harness = useMaydayWithSuperposition(() => ({ ...provider.env, CANARY_READINESS_GATE: 'false' }));

  it('answer one 200 and one 422, and leave one canary route', async () => {
    const namespace = await cluster.createNamespace(`route-${provider.name}`);
    const service = `shared-${provider.name}`;
    const first: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 20 };
    const second: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 30 };
    harness.standIn.delayMs = 200;
    const answers = await Promise.all([first, second].map((spec) => harness.deliver('ExperimentStarted', service, spec)));
    harness.standIn.delayMs = 0;

    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 422]);
    const winner = answers[0].status === 200 ? first : second;
    const loser = winner === first ? second : first;
    const refused = answers.find((answer) => answer.status === 422)!;
    expect(refused.body.message).toContain(winner.id);

    expect(await provider.canaryBackends(namespace, service)).toEqual([`${service}-service-${winner.id}-test1`]);
    const canaryDeployments = (await cluster.deployments(namespace, 'mayday.superposition.io/role=canary')).map(
      (item) => item.metadata?.name,
    );
    expect(canaryDeployments).toEqual([`${service}-dep-${winner.id}-test1`]);
    const records = (await cluster.core.listNamespacedConfigMap({ namespace })).items.map((item) => item.metadata?.name);
    expect(records).toContain(`mayday-experiment-${winner.id}`);
    expect(records).not.toContain(`mayday-experiment-${loser.id}`);
  });
});
