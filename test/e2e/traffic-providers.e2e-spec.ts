import { describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { startControlPlane, stopControlPlane } from '../support/control-plane';
import { useMaydayWithSuperposition } from '../support/harness';
import { startMayday } from '../support/mayday';
import { experimentId, type ExperimentSpec } from '../support/payloads';
import { eventually } from '../support/eventually';

const cluster = new Cluster();

interface HttpRouteView {
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    parentRefs: { name: string; namespace?: string }[];
    hostnames: string[];
    rules: { matches: unknown[]; backendRefs: { name: string; port: number; weight: number }[] }[];
  };
}

async function httpRoutes(namespace: string): Promise<HttpRouteView[]> {
  const list = (await cluster.custom.listNamespacedCustomObject({
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    namespace,
    plural: 'httproutes',
  })) as { items: HttpRouteView[] };
  return list.items;
}

/** How a provider's routes are read back and checked. */
interface Provider {
  name: 'nginx' | 'gateway-api';
  env: Record<string, string>;
  /**
   * Asserts that the provider's routes send `main` % of the traffic to the main Service and
   * `canaries[name]` % to each canary Service, as the provider itself reads its objects.
   */
  expectShares(namespace: string, service: string, main: number, canaries: Record<string, number>): Promise<void>;
  /** Names of the route objects Mayday keeps for the service. */
  routes(namespace: string): Promise<string[]>;
}

const CANARY = 'nginx.ingress.kubernetes.io/canary';
const CANARY_WEIGHT = 'nginx.ingress.kubernetes.io/canary-weight';

const nginx: Provider = {
  name: 'nginx',
  env: { TRAFFIC_PROVIDER: 'nginx' },
  // ingress-nginx sends a canary Ingress's weight to its backend and the rest to the non-canary Ingress of the
  // same host and path; it honours one canary per host and path. So: the main Ingress must carry no canary
  // annotation, and exactly the expected canaries (at most one) hold the host, with their weights.
  async expectShares(namespace, service, main, canaries) {
    const ingresses = await cluster.ingresses(namespace);
    const host = `${service}.${namespace}`;
    const onHost = ingresses.filter((ingress) => ingress.spec?.rules?.some((rule) => rule.host === host));
    const mains = onHost.filter((ingress) => ingress.metadata?.annotations?.[CANARY] !== 'true');
    expect(mains.map((ingress) => ingress.metadata?.name)).toEqual([service]);
    expect(mains[0].metadata?.annotations ?? {}).not.toHaveProperty(CANARY);
    expect(mains[0].metadata?.annotations ?? {}).not.toHaveProperty(CANARY_WEIGHT);
    expect(mains[0].spec!.rules![0].http!.paths[0].backend.service!.name).toBe(service);
    const held = Object.fromEntries(
      onHost
        .filter((ingress) => ingress.metadata?.annotations?.[CANARY] === 'true')
        .map((ingress) => [
          ingress.spec!.rules![0].http!.paths[0].backend.service!.name,
          Number(ingress.metadata!.annotations![CANARY_WEIGHT]),
        ]),
    );
    expect(held).toEqual(canaries);
    expect(Object.keys(held).length).toBeLessThanOrEqual(1);
    expect(100 - Object.values(held).reduce((sum, weight) => sum + weight, 0)).toBe(main);
  },
  async routes(namespace) {
    return (await cluster.ingresses(namespace)).map((ingress) => ingress.metadata!.name!).sort();
  },
};

const gatewayApi: Provider = {
  name: 'gateway-api',
  env: { TRAFFIC_PROVIDER: 'gateway-api', GATEWAY_NAME: 'public-gw', GATEWAY_NAMESPACE: 'gateways' },
  // Gateway API splits by the backendRefs' weights, relative to their sum: every share is written out.
  async expectShares(namespace, service, main, canaries) {
    const shares = await gatewayWeights(namespace, service);
    expect(shares).toEqual({ [service]: main, ...canaries });
    expect(Object.values(shares).reduce((sum, weight) => sum + weight, 0)).toBe(100);
  },
  async routes(namespace) {
    return (await httpRoutes(namespace)).map((route) => route.metadata.name).sort();
  },
};

async function gatewayWeights(namespace: string, service: string): Promise<Record<string, number>> {
  const route = (await httpRoutes(namespace)).find((item) => item.metadata.name === service);
  const shares: Record<string, number> = {};
  for (const backend of route?.spec.rules[0].backendRefs ?? []) shares[backend.name] = backend.weight;
  return shares;
}

describe.each([nginx, gatewayApi])('the lifecycle on $name', (provider) => {
  const harness = useMaydayWithSuperposition(() => provider.env);
  const deliver = (event: string, service: string, spec: ExperimentSpec) => harness.deliver(event, service, spec);

  it('start → ramp → pause → resume → promote, with the weights adding up to 100 at every step', async () => {
    const namespace = await cluster.createNamespace(`p-${provider.name}`);
    const service = `web-${provider.name}`;
    const id = experimentId();
    const canary = `${service}-service-${id}-test1`;
    const spec: ExperimentSpec = { id, context: { namespace } };
    const expectWeights = (main: number, test1: number | undefined) =>
      provider.expectShares(namespace, service, main, test1 === undefined ? {} : { [canary]: test1 });

    expect((await deliver('ExperimentStarted', service, { ...spec, traffic: 10 })).status).toBe(200);
    // The readiness gate: the canary gets its share once the controllers report its pod ready (the waiting
    // state itself is checked in rollout-safety, with the nodes cordoned: here the pod may be ready at once).
    await eventually(() => expectWeights(90, 10), 30_000);
    expect((await deliver('ExperimentInprogress', service, { ...spec, traffic: 40 })).status).toBe(200);
    await expectWeights(60, 40);
    expect((await deliver('ExperimentPaused', service, { ...spec, traffic: 40, status: 'PAUSED' })).status).toBe(200);
    await expectWeights(100, 0);
    expect((await deliver('ExperimentInprogress', service, { ...spec, traffic: 40 })).status).toBe(200);
    await expectWeights(60, 40);
    expect((await deliver('ExperimentConcluded', service, { ...spec, traffic: 40, status: 'CONCLUDED', chosen: 'test1' })).status).toBe(
      200,
    );
    await expectWeights(100, undefined);

    expect(await provider.routes(namespace)).toEqual([service]);
    const names = await cluster.names(namespace);
    expect(names.deployments).toEqual([`${service}-dep-${id}-test1`]);
    expect(names.services).toEqual([service]);
    const main = (await cluster.services(namespace)).find((item) => item.metadata?.name === service);
    expect(main?.spec?.selector).toEqual({ app: `${service}-dep-${id}-test1` });
  });

  it('discard rolls back: all traffic to the main Service, canary objects gone', async () => {
    const namespace = await cluster.createNamespace(`r-${provider.name}`);
    const service = `back-${provider.name}`;
    const id = experimentId();
    const spec: ExperimentSpec = { id, context: { namespace }, traffic: 30 };
    await deliver('ExperimentStarted', service, spec);
    expect((await deliver('ExperimentDiscarded', service, { ...spec, status: 'DISCARDED' })).status).toBe(200);
    await provider.expectShares(namespace, service, 100, {});
    expect(await provider.routes(namespace)).toEqual([service]);
    expect(await cluster.names(namespace)).toMatchObject({ deployments: [`${service}-dep-${id}-control`], services: [service] });
  });
});

describe('Gateway API specifics', () => {
  const harness = useMaydayWithSuperposition(() => gatewayApi.env);
  const deliver = (event: string, service: string, spec: ExperimentSpec) => harness.deliver(event, service, spec);

  const abc = [
    { suffix: 'control', overrides: { 'container.image': 'shop:1' } },
    { suffix: 'a', overrides: { 'container.image': 'shop:2a' } },
    { suffix: 'b', overrides: { 'container.image': 'shop:2b' } },
    { suffix: 'c', overrides: { 'container.image': 'shop:2c', 'container.port': 8080 } },
  ];

  it('splits traffic over three experimental variants and promotes one of them', async () => {
    const namespace = await cluster.createNamespace('abn');
    const service = 'shop';
    const id = experimentId();
    const spec: ExperimentSpec = { id, context: { namespace }, variants: abc };
    const svc = (suffix: string) => `shop-service-${id}-${suffix}`;

    expect((await deliver('ExperimentStarted', service, { ...spec, traffic: 20 })).status).toBe(200);
    // The readiness gate: each canary gets its share once the controllers report its pod ready.
    await eventually(async () => expect(Object.values(await gatewayWeights(namespace, service))).toEqual([40, 20, 20, 20]), 30_000);
    const [route] = await httpRoutes(namespace);
    expect(route.metadata.name).toBe('shop');
    expect(route.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'mayday', 'mayday.superposition.io/workspace': 'shop' });
    expect(route.spec.parentRefs).toEqual([
      { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'public-gw', namespace: 'gateways' },
    ]);
    expect(route.spec.hostnames).toEqual([`shop.${namespace}`]);
    expect(route.spec.rules).toHaveLength(1);
    expect(route.spec.rules[0].matches).toEqual([{ path: { type: 'PathPrefix', value: '/' } }]);
    expect(route.spec.rules[0].backendRefs).toEqual(
      [
        { group: '', kind: 'Service', name: 'shop', port: 80, weight: 40 },
        { group: '', kind: 'Service', name: svc('a'), port: 80, weight: 20 },
        { group: '', kind: 'Service', name: svc('b'), port: 80, weight: 20 },
        { group: '', kind: 'Service', name: svc('c'), port: 80, weight: 20 },
      ].map(({ group: _group, ...backend }) => expect.objectContaining(backend)),
    );
    const cService = (await cluster.services(namespace)).find((item) => item.metadata?.name === svc('c'));
    expect(cService?.spec?.ports?.[0]).toMatchObject({ port: 80, targetPort: 8080 });

    const steps: [Partial<ExperimentSpec>, number[]][] = [
      [{ traffic: 25 }, [25, 25, 25, 25]],
      [{ traffic: 25, status: 'PAUSED' }, [100, 0, 0, 0]],
      [{ traffic: 30 }, [10, 30, 30, 30]],
    ];
    for (const [patch, expected] of steps) {
      const event = patch.status === 'PAUSED' ? 'ExperimentPaused' : 'ExperimentInprogress';
      expect((await deliver(event, service, { ...spec, ...patch })).status).toBe(200);
      const shares = await gatewayWeights(namespace, service);
      expect([shares.shop, shares[svc('a')], shares[svc('b')], shares[svc('c')]]).toEqual(expected);
      expect(Object.values(shares).reduce((sum, weight) => sum + weight, 0)).toBe(100);
    }

    expect((await deliver('ExperimentConcluded', service, { ...spec, traffic: 30, status: 'CONCLUDED', chosen: 'b' })).status).toBe(200);
    expect(await gatewayWeights(namespace, service)).toEqual({ shop: 100 });
    const names = await cluster.names(namespace);
    expect(names.deployments).toEqual([`shop-dep-${id}-b`]);
    expect(names.services).toEqual(['shop']);
    const main = (await cluster.services(namespace)).find((item) => item.metadata?.name === 'shop');
    expect(main?.spec?.selector).toEqual({ app: `shop-dep-${id}-b` });
  });

  it('never overwrites an HTTPRoute of that name that Mayday did not make', async () => {
    const namespace = await cluster.createNamespace('gwforeign');
    await cluster.custom.createNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace,
      plural: 'httproutes',
      body: {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: 'theirs' },
        spec: { parentRefs: [{ name: 'other-gw' }], rules: [{ backendRefs: [{ name: 'theirs', port: 80 }] }] },
      },
    });
    const before = await cluster.snapshot(namespace);
    const answer = await deliver('ExperimentStarted', 'theirs', { id: experimentId(), context: { namespace }, traffic: 10 });
    expect(answer.status).toBe(422);
    expect(answer.body.message).toContain(`HTTPRoute ${namespace}/theirs`);
    expect(await cluster.snapshot(namespace)).toEqual(before);
    const [route] = await httpRoutes(namespace);
    expect(route.spec.parentRefs).toEqual([expect.objectContaining({ name: 'other-gw' })]);
  });

  it('refuses variant weights that exceed 100 %', async () => {
    const namespace = await cluster.createNamespace('gwover');
    const before = await cluster.snapshot(namespace);
    const answer = await deliver('ExperimentStarted', 'over', { id: experimentId(), context: { namespace }, traffic: 40, variants: abc });
    expect(answer.status).toBe(422);
    expect(answer.body.message).toContain('exceed 100%');
    // Nothing written: no Deployment, Service, HTTPRoute, record or Event.
    expect(await cluster.snapshot(namespace)).toEqual(before);
    expect(before).toEqual({});
  });

  it('is ready only when the API server serves HTTPRoutes', async () => {
    expect((await harness.mayday.get('/health/ready')).status).toBe(200);
    const bare = await startControlPlane({ nodes: 0 });
    const elsewhere = await startMayday({ KUBECONFIG: bare.kubeconfig, ...gatewayApi.env });
    try {
      const ready = await elsewhere.get('/health/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.error.kubernetes.message).toMatch(/HTTPRoute/);
    } finally {
      await elsewhere.close();
      await stopControlPlane(bare);
    }
    // A second API server starts inside the test: tens of seconds on a busy machine.
  }, 240_000);
});
