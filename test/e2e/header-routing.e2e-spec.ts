import type { V1Ingress } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { useMaydayWithSuperposition, type Harness } from '../support/harness';
import { deliverLikeSuperposition, type Reply } from '../support/mayday';
import { experimentId, type ExperimentSpec } from '../support/payloads';
import { createCrashingPod } from '../support/workloads';

/**
 * ROUTING_MODE=header and both, on the real API server with the readiness gate on: every step of an
 * experiment's life (start, canaries becoming available, ramp, pause, resume, a failing canary,
 * conclude, discard) checked against the exact routes it leaves.
 */
const cluster = new Cluster();
const HEADER = 'x-superposition-variant';
const ROOT = { type: 'PathPrefix', value: '/' };

interface HttpRouteView {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { rules: unknown[] };
}

async function httpRoute(namespace: string, name: string): Promise<HttpRouteView> {
  return (await cluster.custom.getNamespacedCustomObject({
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    namespace,
    plural: 'httproutes',
    name,
  })) as HttpRouteView;
}

/** A header rule as the API server keeps it (kind and weight defaulted by the CRD). */
const headerRule = (value: string, backend: string, header = HEADER) => ({
  matches: [{ path: ROOT, headers: [{ type: 'Exact', name: header, value }] }],
  backendRefs: [{ kind: 'Service', name: backend, port: 80, weight: 1 }],
});
const weightedRule = (...backends: [string, number][]) => ({
  matches: [{ path: ROOT }],
  backendRefs: backends.map(([name, weight]) => ({ kind: 'Service', name, port: 80, weight })),
});

/**
 * Delivers one event as Superposition does, retrying a 5xx (a busy machine can exhaust Mayday's
 * retry budget): what counts is the state the delivery converges to.
 */
async function delivered(harness: Harness, event: string, service: string, spec: ExperimentSpec): Promise<Reply> {
  const answers = await deliverLikeSuperposition(() => harness.deliver(event, service, spec), { maxRetries: 4, firstDelayMs: 500 });
  return answers[answers.length - 1];
}

/** What the watcher does by itself (a Deployment became available or failed) can take a while on a busy machine. */
const settle = <T>(check: () => Promise<T>) => eventually(check, 30_000);

/** Increasing last_modified values, so that every step is newer than the one before. */
let minute = 0;
const next = () => `2026-08-20T08:${String(minute++).padStart(2, '0')}:00.000001Z`;

const namespaces: Record<string, string> = {};
beforeAll(async () => {
  for (const key of ['gwh', 'gwhd', 'gwb', 'gwbd', 'ngh', 'nghd', 'nghx', 'ngb', 'ngbd', 'ngbx', 'crd'])
    namespaces[key] = await cluster.createNamespace(`hdr-${key}`);
});
/** Each Mayday acts only in its own namespaces (the readiness gate's watch sees the whole API server). */
const only = (...keys: string[]) => keys.map((key) => namespaces[key]).join(',');

const abc = [
  { suffix: 'control', overrides: { 'container.image': 'shop:1' } },
  { suffix: 'a', overrides: { 'container.image': 'shop:2a' } },
  { suffix: 'b', overrides: { 'container.image': 'shop:2b' } },
  { suffix: 'c', overrides: { 'container.image': 'shop:2c' } },
];

describe.each(['header', 'both'] as const)('gateway-api, ROUTING_MODE=%s, A/B/n with three variants', (mode) => {
  const key = mode === 'header' ? 'gwh' : 'gwb';
  const harness = useMaydayWithSuperposition(() => ({
    TRAFFIC_PROVIDER: 'gateway-api',
    GATEWAY_NAME: 'public-gw',
    ROUTING_MODE: mode,
    CANARY_READINESS_GATE: 'true',
    ALLOWED_NAMESPACES: only(key, `${key}d`),
  }));

  /** The rules for the variants' header targets (undefined: the main Service) and their weights. */
  function expectedRules(service: string, id: string, targets: Record<string, boolean>, weight: number): unknown[] {
    const svc = (suffix: string) => `${service}-service-${id}-${suffix}`;
    const suffixes = ['a', 'b', 'c'];
    const headerRules = [
      ...suffixes.map((suffix) => headerRule(`${id}-${suffix}`, targets[suffix] ? svc(suffix) : service)),
      headerRule(`${id}-control`, service),
    ];
    if (mode === 'header') return [...headerRules, weightedRule([service, 100])];
    const weights = suffixes.map((suffix) => [svc(suffix), targets[suffix] ? weight : 0] as [string, number]);
    return [...headerRules, weightedRule([service, 100 - weights.reduce((sum, [, w]) => sum + w, 0)], ...weights)];
  }

  async function expectRoute(namespace: string, service: string, id: string, targets: Record<string, boolean>, weight: number) {
    const route = await httpRoute(namespace, service);
    expect(route.spec.rules).toEqual(expectedRules(service, id, targets, weight));
    if (mode === 'header') {
      const svc = (suffix: string) => `${service}-service-${id}-${suffix}`;
      expect(JSON.parse(route.metadata.annotations!['mayday.superposition.io/header-share'])).toEqual({
        [svc('a')]: targets.a ? weight : 0,
        [svc('b')]: targets.b ? weight : 0,
        [svc('c')]: targets.c ? weight : 0,
      });
    } else {
      expect(route.metadata.annotations?.['mayday.superposition.io/header-share']).toBeUndefined();
    }
  }

  it('start, available, ramp, pause, resume, fail, conclude', async () => {
    const namespace = namespaces[key];
    const service = 'shop';
    const id = experimentId();
    const spec: ExperimentSpec = { id, context: { namespace }, variants: abc };
    const deliver = async (event: string, patch: Partial<ExperimentSpec>) => {
      const answer = await delivered(harness, event, service, { ...spec, lastModified: next(), ...patch });
      expect(answer.status).toBe(200);
      return answer;
    };
    const none = { a: false, b: false, c: false };
    const all = { a: true, b: true, c: true };

    // Start: the canaries are new, so with the gate on their header rules point at the main Service.
    // (The real controllers make them available within seconds, so the answer is what shows the waiting state.)
    const started = await deliver('ExperimentStarted', { traffic: 20 });
    expect(started.body.canaries.map((canary: { weight: number }) => canary.weight)).toEqual([0, 0, 0]);
    await settle(() => expectRoute(namespace, service, id, all, 20));

    const ramp = await deliver('ExperimentInprogress', { traffic: 30 });
    expect(ramp.body.canaries.map((canary: { weight: number }) => canary.weight)).toEqual([30, 30, 30]);
    await expectRoute(namespace, service, id, all, 30);
    // The status API reads the shares back from the route.
    const status = await harness.mayday.get(`/experiments/${id}`);
    expect(status.body.variants.map((variant: { weight?: number }) => variant.weight)).toEqual([undefined, 30, 30, 30]);

    await deliver('ExperimentPaused', { traffic: 30, status: 'PAUSED' });
    await expectRoute(namespace, service, id, none, 30);
    await deliver('ExperimentInprogress', { traffic: 30 });
    await expectRoute(namespace, service, id, all, 30);

    // Variant a fails: its header rule goes back to the main Service, without another webhook.
    await createCrashingPod(cluster, namespace, `shop-dep-${id}-a`, 4);
    await settle(() => expectRoute(namespace, service, id, { a: false, b: true, c: true }, 30));

    await deliver('ExperimentConcluded', { traffic: 30, status: 'CONCLUDED', chosen: 'b' });
    const route = await httpRoute(namespace, service);
    expect(route.spec.rules).toEqual([weightedRule([service, 100])]);
    const names = await cluster.names(namespace);
    expect(names.deployments).toEqual([`shop-dep-${id}-b`]);
    expect(names.services).toEqual(['shop']);
    const main = (await cluster.services(namespace)).find((item) => item.metadata?.name === 'shop');
    expect(main?.spec?.selector).toEqual({ app: `shop-dep-${id}-b` });
  }, 120_000);

  it('start, available, discard', async () => {
    const namespace = namespaces[`${key}d`];
    const service = 'cart';
    const id = experimentId();
    const spec: ExperimentSpec = { id, context: { namespace }, variants: abc, traffic: 10 };
    expect((await delivered(harness, 'ExperimentStarted', service, { ...spec, lastModified: next() })).status).toBe(200);
    await settle(() => expectRoute(namespace, service, id, { a: true, b: true, c: true }, 10));
    const discarded = await delivered(harness, 'ExperimentDiscarded', service, { ...spec, status: 'DISCARDED', lastModified: next() });
    expect(discarded.status).toBe(200);
    expect((await httpRoute(namespace, service)).spec.rules).toEqual([weightedRule([service, 100])]);
    expect(await cluster.names(namespace)).toMatchObject({ deployments: [`cart-dep-${id}-control`], services: ['cart'] });
  }, 120_000);
});

describe.each([
  { mode: 'header' as const, header: HEADER },
  { mode: 'both' as const, header: 'x-variant' },
])('nginx, ROUTING_MODE=$mode', ({ mode, header }) => {
  const key = mode === 'header' ? 'ngh' : 'ngb';
  const harness = useMaydayWithSuperposition(() => ({
    TRAFFIC_PROVIDER: 'nginx',
    ROUTING_MODE: mode,
    // Given in mixed case: header names are case-insensitive and kept in lower case.
    ...(header === HEADER ? {} : { VARIANT_HEADER: 'X-Variant' }),
    CANARY_READINESS_GATE: 'true',
    ALLOWED_NAMESPACES: only(key, `${key}d`, `${key}x`),
  }));

  /** The Ingresses of the namespace by name: their canary annotations and backend Service. */
  async function ingresses(namespace: string): Promise<Record<string, { annotations: Record<string, string>; backend: string }>> {
    const view = (ingress: V1Ingress) => ({
      annotations: Object.fromEntries(
        Object.entries(ingress.metadata?.annotations ?? {}).filter(
          ([name]) =>
            !name.startsWith('kubectl.kubernetes.io/') &&
            name !== 'mayday.superposition.io/applied-hash' &&
            name !== 'mayday.superposition.io/applied-for',
        ),
      ),
      backend: ingress.spec!.rules![0].http!.paths[0].backend.service!.name,
    });
    return Object.fromEntries((await cluster.ingresses(namespace)).map((ingress) => [ingress.metadata!.name!, view(ingress)]));
  }

  function expected(service: string, id: string, canary: number | undefined) {
    const routes: Record<string, { annotations: Record<string, string>; backend: string }> = {
      [service]: { annotations: {}, backend: service },
    };
    if (canary !== undefined) {
      routes[`${service}-ingress-${id}-test1`] = {
        annotations: {
          'nginx.ingress.kubernetes.io/canary': 'true',
          'nginx.ingress.kubernetes.io/canary-weight': mode === 'header' ? '0' : String(canary),
          'nginx.ingress.kubernetes.io/canary-by-header': header,
          'nginx.ingress.kubernetes.io/canary-by-header-value': `${id}-test1`,
          ...(mode === 'header' ? { 'mayday.superposition.io/header-share': String(canary) } : {}),
        },
        backend: `${service}-service-${id}-test1`,
      };
    }
    return routes;
  }

  it('start, available, ramp, pause, resume, conclude', async () => {
    const namespace = namespaces[key];
    const service = 'web';
    const id = experimentId();
    const spec: ExperimentSpec = { id, context: { namespace } };
    const deliver = async (event: string, patch: Partial<ExperimentSpec>) => {
      const answer = await delivered(harness, event, service, { ...spec, lastModified: next(), ...patch });
      expect(answer.status).toBe(200);
      return answer;
    };

    // Not available yet: no canary Ingress, so the variant's header reaches the main Service.
    const started = await deliver('ExperimentStarted', { traffic: 20 });
    expect(started.body.canaries.map((canary: { weight: number }) => canary.weight)).toEqual([0]);
    await settle(async () => expect(await ingresses(namespace)).toEqual(expected(service, id, 20)));

    await deliver('ExperimentInprogress', { traffic: 35 });
    expect(await ingresses(namespace)).toEqual(expected(service, id, 35));
    const status = await harness.mayday.get(`/experiments/${id}`);
    expect(status.body.variants[1].weight).toBe(35);

    await deliver('ExperimentPaused', { traffic: 35, status: 'PAUSED' });
    expect(await ingresses(namespace)).toEqual(expected(service, id, undefined));
    await deliver('ExperimentInprogress', { traffic: 35 });
    expect(await ingresses(namespace)).toEqual(expected(service, id, 35));

    await deliver('ExperimentConcluded', { traffic: 35, status: 'CONCLUDED', chosen: 'test1' });
    expect(await ingresses(namespace)).toEqual(expected(service, id, undefined));
    const main = (await cluster.services(namespace)).find((item) => item.metadata?.name === service);
    expect(main?.spec?.selector).toEqual({ app: `web-dep-${id}-test1` });
    expect((await cluster.names(namespace)).deployments).toEqual([`web-dep-${id}-test1`]);
  }, 120_000);

  it('start, available, fail, discard', async () => {
    const namespace = namespaces[`${key}d`];
    const service = 'api';
    const id = experimentId();
    const spec: ExperimentSpec = { id, context: { namespace }, traffic: 15 };
    expect((await delivered(harness, 'ExperimentStarted', service, { ...spec, lastModified: next() })).status).toBe(200);
    await settle(async () => expect(await ingresses(namespace)).toEqual(expected(service, id, 15)));

    // The canary fails: its Ingress, header match included, goes without another webhook.
    await createCrashingPod(cluster, namespace, `api-dep-${id}-test1`, 4);
    await settle(async () => expect(await ingresses(namespace)).toEqual(expected(service, id, undefined)));
    // It stays out on the next ramp (failed until its variant changes).
    const ramp = await delivered(harness, 'ExperimentInprogress', service, { ...spec, traffic: 25, lastModified: next() });
    expect(ramp.body.canaries[0]).toMatchObject({ weight: 0, state: { phase: 'failed' } });
    expect(await ingresses(namespace)).toEqual(expected(service, id, undefined));

    expect((await delivered(harness, 'ExperimentDiscarded', service, { ...spec, status: 'DISCARDED', lastModified: next() })).status).toBe(
      200,
    );
    expect(await ingresses(namespace)).toEqual(expected(service, id, undefined));
    expect(await cluster.names(namespace)).toMatchObject({ deployments: [`api-dep-${id}-control`], services: ['api'] });
  }, 120_000);

  it('refuses a variant id ingress-nginx would silently drop from canary-by-header-value, changing nothing', async () => {
    const namespace = namespaces[`${key}x`];
    const id = experimentId();
    const before = await cluster.snapshot(namespace);
    const answer = await harness.deliver('ExperimentStarted', 'odd', {
      id,
      context: { namespace },
      variants: [
        { suffix: 'control', overrides: { 'container.image': 'odd:1' } },
        { suffix: 'new+fast', overrides: { 'container.image': 'odd:2' } },
      ],
      lastModified: next(),
    });
    expect(answer.status).toBe(422);
    expect(answer.body.message).toContain(`variant id "${id}-new+fast" cannot be matched as a header value`);
    expect(await cluster.snapshot(namespace)).toEqual(before);
  });
});

describe('the HTTPRoute CRD the tests install', () => {
  const create = (matches: unknown[]) =>
    cluster.custom.createNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace: namespaces.crd,
      plural: 'httproutes',
      body: {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { generateName: 'probe-' },
        spec: { parentRefs: [{ name: 'gw' }], rules: [{ matches, backendRefs: [{ name: 'svc', port: 80 }] }] },
      },
    });
  const rejection = async (matches: unknown[]): Promise<string> => {
    const error = await create(matches).then(
      () => undefined,
      (failure: { code?: number; body?: string }) => failure,
    );
    expect(error?.code).toBe(422);
    return JSON.parse(error!.body!).message as string;
  };
  const header = (fields: Record<string, unknown>) => [{ path: ROOT, headers: [{ name: HEADER, value: 'v', ...fields }] }];

  it('accepts a header match and defaults its type to Exact', async () => {
    const created = (await create([{ headers: [{ name: HEADER, value: '7350-test1' }] }])) as { spec: { rules: { matches: unknown[] }[] } };
    expect(created.spec.rules[0].matches).toEqual([{ headers: [{ type: 'Exact', name: HEADER, value: '7350-test1' }] }]);
  });

  // Kubernetes 1.20 names schema errors by field path without list indices (spec.rules.matches.headers.type).
  it('rejects malformed header matches, naming the field', async () => {
    const field = (name: string) => new RegExp(`spec\\.rules(\\[0\\])?\\.matches(\\[0\\])?\\.headers(\\[\\d+\\])?${name}`);
    expect(await rejection(header({ type: 'Prefix' }))).toMatch(field('\\.type: Unsupported value: "Prefix"'));
    expect(await rejection(header({ name: 'bad header' }))).toMatch(field('\\.name in body should match'));
    expect(await rejection(header({ name: 'x'.repeat(257) }))).toMatch(field('\\.name in body should be at most 256'));
    expect(await rejection(header({ value: '' }))).toMatch(field('\\.value in body should be at least 1'));
    expect(await rejection(header({ value: 'v'.repeat(4097) }))).toMatch(field('\\.value in body should be at most 4096'));
    expect(await rejection([{ headers: [{ name: HEADER }] }])).toMatch(field('\\.value: Required value'));
    const seventeen = Array.from({ length: 17 }, (_, index) => ({ name: `h${index}`, value: 'v' }));
    expect(await rejection([{ headers: seventeen }])).toMatch(field(' in body should have at most 16 items'));
    const twice = [
      { name: HEADER, value: 'a' },
      { name: HEADER, value: 'b' },
    ];
    expect(await rejection([{ headers: twice }])).toMatch(field(': Duplicate value'));
  });
});
