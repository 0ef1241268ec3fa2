import { EventsV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { CONSENT_ANNOTATION } from '../../src/naming/labels';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { useMaydayWithSuperposition } from '../support/harness';
import { MAYDAY_NAMESPACE } from '../support/mayday';
import { experimentId, type ExperimentSpec } from '../support/payloads';

const MANAGED = 'app.kubernetes.io/managed-by';
const WEIGHT = 'nginx.ingress.kubernetes.io/canary-weight';
/** How long the controllers and hollow nodes may take to make a Deployment available, and Mayday to follow. */
const ROLLOUT_MS = 30_000;

describe('the experiment lifecycle on ingress-nginx (real kube-apiserver, Superposition stand-in)', () => {
  const cluster = new Cluster();
  const harness = useMaydayWithSuperposition();
  const { standIn } = harness;
  const deliver = (event: string, service: string, spec: ExperimentSpec) => harness.deliver(event, service, spec);

  async function newService(name: string, defaults: Record<string, unknown> = {}): Promise<string> {
    standIn.workspace(name, { replicas: 1, ...defaults });
    return name;
  }

  /** Waits for the readiness gate: the canary's pod ready, then its route at `weight`. */
  async function untilWeight(namespace: string, ingress: string, weight: string): Promise<void> {
    await eventually(async () => {
      const live = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === ingress);
      expect(live?.metadata?.annotations?.[WEIGHT]).toBe(weight);
    }, ROLLOUT_MS);
  }

  async function read(namespace: string) {
    const [deployments, services, ingresses] = await Promise.all([
      cluster.deployments(namespace),
      cluster.services(namespace),
      cluster.ingresses(namespace),
    ]);
    const byName = <T extends { metadata?: { name?: string } }>(items: T[]) =>
      Object.fromEntries(items.map((item) => [item.metadata!.name!, item])) as Record<string, T>;
    return { deployments: byName(deployments), services: byName(services), ingresses: byName(ingresses) };
  }

  it('start → ramp → pause → resume → conclude with the experimental winner', async () => {
    const namespace = await cluster.createNamespace('life');
    const service = await newService('nginxservice', { 'env.GREETING': 'hello', 'env.WORKERS': 4 });
    const id = experimentId();
    const control = `${id}-control`;
    const test1 = `${id}-test1`;
    const spec: ExperimentSpec = { id, context: { namespace }, traffic: 10 };

    const started = await deliver('ExperimentStarted', service, spec);
    expect(started.status).toBe(200);
    expect(started.body.result).toBe('applied');
    // The readiness gate: 0 until the controllers report the canary's pod ready, then its weight.
    expect(started.body.canaries).toEqual([{ variantId: test1, weight: 0, state: expect.objectContaining({ phase: 'waiting' }) }]);
    await untilWeight(namespace, `nginxservice-ingress-${test1}`, '10');
    let state = await read(namespace);
    expect(Object.keys(state.deployments).sort()).toEqual([`nginxservice-dep-${control}`, `nginxservice-dep-${test1}`]);
    expect(Object.keys(state.services).sort()).toEqual(['nginxservice', `nginxservice-service-${test1}`]);
    expect(Object.keys(state.ingresses).sort()).toEqual(['nginxservice', `nginxservice-ingress-${test1}`]);

    const stable = state.deployments[`nginxservice-dep-${control}`];
    expect(stable.metadata?.labels).toEqual({
      [MANAGED]: 'mayday',
      'mayday.superposition.io/workspace': 'nginxservice',
      'mayday.superposition.io/experiment': id,
      'mayday.superposition.io/variant': control,
      'mayday.superposition.io/role': 'stable',
    });
    expect(stable.spec?.template.spec?.containers[0].image).toBe('nginx:1.25');
    const canary = state.deployments[`nginxservice-dep-${test1}`];
    expect(canary.metadata?.labels?.['mayday.superposition.io/role']).toBe('canary');
    expect(canary.spec?.selector.matchLabels).toEqual({ app: `nginxservice-dep-${test1}` });
    expect(canary.spec?.template.metadata?.labels?.app).toBe(`nginxservice-dep-${test1}`);
    expect(canary.spec?.replicas).toBe(1);
    const container = canary.spec!.template.spec!.containers[0];
    expect(container.image).toBe('nginx:1.27');
    expect(container.ports).toEqual([{ name: 'http', containerPort: 80, protocol: 'TCP' }]);
    expect(container.env).toEqual([
      { name: 'GREETING', value: 'hello' },
      { name: 'WORKERS', value: '4' },
    ]);

    const canaryService = state.services[`nginxservice-service-${test1}`];
    expect(canaryService.spec?.selector).toEqual({ app: `nginxservice-dep-${test1}` });
    expect(canaryService.spec?.ports).toEqual([{ name: 'http', port: 80, targetPort: 80, protocol: 'TCP' }]);
    expect(state.services.nginxservice.spec?.selector).toEqual({ app: `nginxservice-dep-${control}` });

    const main = state.ingresses.nginxservice;
    expect(main.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary']).toBeUndefined();
    expect(main.spec).toMatchObject({
      ingressClassName: 'nginx',
      rules: [
        {
          host: `nginxservice.${namespace}`,
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'nginxservice', port: { number: 80 } } } }] },
        },
      ],
    });
    const route = state.ingresses[`nginxservice-ingress-${test1}`];
    expect(route.metadata?.annotations).toEqual({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '10',
      'mayday.superposition.io/applied-hash': expect.stringMatching(/^[0-9a-f]{16}$/),
      // The state the weight was written for (the route fence between replicas).
      'mayday.superposition.io/applied-for': expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
    });
    expect(route.spec?.rules?.[0].host).toBe(`nginxservice.${namespace}`);
    expect(route.spec?.rules?.[0].http?.paths[0]).toMatchObject({
      path: '/',
      pathType: 'Prefix',
      backend: { service: { name: `nginxservice-service-${test1}`, port: { number: 80 } } },
    });

    // The resolve requests carried the whole context and the variant id as an array.
    const resolved = standIn.resolveRequests().filter((request) => JSON.stringify(request.body).includes(id));
    expect(
      resolved.map((request) => request.body).sort((a: any, b: any) => a.context.variantIds[0].localeCompare(b.context.variantIds[0])),
    ).toEqual([{ context: { namespace, variantIds: [control] } }, { context: { namespace, variantIds: [test1] } }]);

    const weightOf = async () =>
      (await cluster.ingresses(namespace)).find((ingress) => ingress.metadata?.name === `nginxservice-ingress-${test1}`)?.metadata
        ?.annotations?.['nginx.ingress.kubernetes.io/canary-weight'];

    const ramped = await deliver('ExperimentInprogress', service, { ...spec, traffic: 40 });
    expect(ramped.status).toBe(200);
    expect(await weightOf()).toBe('40');
    const changed = ramped.body.actions.filter((action: { action: string }) => action.action !== 'unchanged');
    expect(changed).toEqual([
      { kind: 'Ingress', namespace, name: `nginxservice-ingress-${test1}`, action: 'updated', uid: expect.any(String) },
    ]);

    const paused = await deliver('ExperimentPaused', service, { ...spec, traffic: 40, status: 'PAUSED' });
    expect(paused.status).toBe(200);
    expect(await weightOf()).toBe('0');
    expect(Object.keys((await read(namespace)).deployments)).toHaveLength(2);

    const resumed = await deliver('ExperimentInprogress', service, { ...spec, traffic: 40 });
    expect(resumed.status).toBe(200);
    expect(await weightOf()).toBe('40');

    const concluded = await deliver('ExperimentConcluded', service, { ...spec, traffic: 40, status: 'CONCLUDED', chosen: 'test1' });
    expect(concluded.status).toBe(200);
    state = await read(namespace);
    expect(Object.keys(state.deployments)).toEqual([`nginxservice-dep-${test1}`]);
    expect(state.deployments[`nginxservice-dep-${test1}`].metadata?.labels?.['mayday.superposition.io/role']).toBe('stable');
    expect(Object.keys(state.services)).toEqual(['nginxservice']);
    expect(state.services.nginxservice.spec?.selector).toEqual({ app: `nginxservice-dep-${test1}` });
    expect(Object.keys(state.ingresses)).toEqual(['nginxservice']);
    // The winner's pods were not rolled by the promotion (the pod template is unchanged).
    expect(state.deployments[`nginxservice-dep-${test1}`].metadata?.generation).toBe(canary.metadata?.generation);
    const deletedKinds = concluded.body.actions.filter((action: { action: string }) => action.action === 'deleted');
    expect(deletedKinds.map((action: { kind: string; name: string }) => `${action.kind}/${action.name}`).sort()).toEqual([
      `Deployment/nginxservice-dep-${control}`,
      `Ingress/nginxservice-ingress-${test1}`,
      `Service/nginxservice-service-${test1}`,
    ]);
  });

  it('delivering the same event twice changes nothing the second time', async () => {
    const namespace = await cluster.createNamespace('twice');
    const service = await newService('twice');
    const spec: ExperimentSpec = {
      id: experimentId(),
      context: { namespace },
      traffic: 20,
      lastModified: '2026-08-20T07:37:40.100000Z',
    };
    expect((await deliver('ExperimentStarted', service, spec)).status).toBe(200);
    await untilWeight(namespace, `twice-ingress-${spec.id}-test1`, '20');
    const before = await cluster.snapshot(namespace);
    const again = await deliver('ExperimentStarted', service, spec);
    expect(again.status).toBe(200);
    expect(again.body.actions.every((action: { action: string }) => action.action === 'unchanged')).toBe(true);
    expect(await cluster.snapshot(namespace)).toEqual(before);
  });

  it('start → conclude with CONTROL rolls back: canaries go, the main path stays', async () => {
    const namespace = await cluster.createNamespace('ctl');
    const service = await newService('ctlsvc');
    const id = experimentId();
    const spec: ExperimentSpec = { id, context: { namespace }, traffic: 25 };
    await deliver('ExperimentStarted', service, spec);
    const mainBefore = (await read(namespace)).services.ctlsvc;
    const concluded = await deliver('ExperimentConcluded', service, { ...spec, status: 'CONCLUDED', chosen: 'control' });
    expect(concluded.status).toBe(200);
    const state = await read(namespace);
    expect(Object.keys(state.deployments)).toEqual([`ctlsvc-dep-${id}-control`]);
    expect(Object.keys(state.services)).toEqual(['ctlsvc']);
    expect(Object.keys(state.ingresses)).toEqual(['ctlsvc']);
    expect(state.services.ctlsvc.metadata?.resourceVersion).toBe(mainBefore.metadata?.resourceVersion);
  });

  it('start → discard rolls back the same way', async () => {
    const namespace = await cluster.createNamespace('disc');
    const service = await newService('discsvc');
    const id = experimentId();
    const spec: ExperimentSpec = { id, context: { namespace }, traffic: 25 };
    await deliver('ExperimentStarted', service, spec);
    const discarded = await deliver('ExperimentDiscarded', service, { ...spec, status: 'DISCARDED' });
    expect(discarded.status).toBe(200);
    const names = await cluster.names(namespace);
    expect(names).toEqual({
      deployments: [`discsvc-dep-${id}-control`],
      services: ['discsvc'],
      ingresses: ['discsvc'],
    });
  });

  it('a discard while CREATED changes nothing', async () => {
    const namespace = await cluster.createNamespace('early');
    const service = await newService('earlysvc');
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 0, status: 'CREATED' };
    const created = await deliver('ExperimentCreated', service, spec);
    expect(created.status).toBe(200);
    expect(created.body.result).toBe('ignored');
    const updated = await deliver('ExperimentUpdated', service, spec);
    expect(updated.body.result).toBe('ignored');
    const discarded = await deliver('ExperimentDiscarded', service, { ...spec, status: 'DISCARDED' });
    expect(discarded.status).toBe(200);
    // Nothing in the namespace; only Mayday's record of the experiment (in its own namespace) keeps late events from doing anything.
    expect(Object.keys(await cluster.snapshot(namespace))).toEqual([]);
    expect(
      (await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` })).data?.namespace,
    ).toBe(namespace);
  });

  it('a second experiment after a promotion retires the old winner when its own winner is promoted', async () => {
    const namespace = await cluster.createNamespace('second');
    const service = await newService('two');
    const first = experimentId();
    await deliver('ExperimentStarted', service, { id: first, context: { namespace } });
    await untilWeight(namespace, `two-ingress-${first}-test1`, '10');
    await deliver('ExperimentConcluded', service, { id: first, context: { namespace }, status: 'CONCLUDED', chosen: 'test1' });
    expect((await cluster.names(namespace)).deployments).toEqual([`two-dep-${first}-test1`]);

    const second = experimentId();
    const variants = [
      { suffix: 'control', overrides: { 'container.image': 'nginx:1.27' } },
      { suffix: 'next', overrides: { 'container.image': 'nginx:1.28' } },
    ];
    const started = await deliver('ExperimentStarted', service, { id: second, context: { namespace }, variants });
    expect(started.status).toBe(200);
    let state = await read(namespace);
    // The main path exists already: no Deployment is made from the new CONTROL.
    expect(Object.keys(state.deployments).sort()).toEqual([`two-dep-${first}-test1`, `two-dep-${second}-next`]);
    expect(state.services.two.spec?.selector).toEqual({ app: `two-dep-${first}-test1` });

    await untilWeight(namespace, `two-ingress-${second}-next`, '10');
    await deliver('ExperimentConcluded', service, { id: second, context: { namespace }, variants, status: 'CONCLUDED', chosen: 'next' });
    state = await read(namespace);
    expect(Object.keys(state.deployments)).toEqual([`two-dep-${second}-next`]);
    expect(state.services.two.spec?.selector).toEqual({ app: `two-dep-${second}-next` });
    expect(state.services.two.metadata?.labels?.['mayday.superposition.io/experiment']).toBe(second);
    expect(Object.keys(state.ingresses)).toEqual(['two']);
  });

  it('uses a user-owned main Service and Deployment: only the selector changes, nothing of theirs is deleted', async () => {
    const namespace = await cluster.createNamespace('user');
    const service = await newService('usersvc');
    await cluster.apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'usersvc-legacy' },
        spec: {
          selector: { matchLabels: { app: 'legacy' } },
          template: { metadata: { labels: { app: 'legacy', tier: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.20' }] } },
        },
      },
    });
    await cluster.core.createNamespacedService({
      namespace,
      body: {
        // The owner hands the Service to Mayday for this workspace (without it: 422, see security.e2e-spec.ts).
        metadata: { name: 'usersvc', labels: { owner: 'team' }, annotations: { [CONSENT_ANNOTATION]: 'usersvc' } },
        spec: { selector: { app: 'legacy', tier: 'web' }, ports: [{ name: 'web', port: 8080, targetPort: 80, protocol: 'TCP' }] },
      },
    });
    const id = experimentId();
    const spec: ExperimentSpec = { id, context: { namespace }, traffic: 30 };
    const started = await deliver('ExperimentStarted', service, spec);
    expect(started.status).toBe(200);
    let state = await read(namespace);
    expect(Object.keys(state.deployments).sort()).toEqual([`usersvc-dep-${id}-test1`, 'usersvc-legacy']);
    expect(state.services.usersvc.spec?.selector).toEqual({ app: 'legacy', tier: 'web' });
    // No Ingress served the host, so Mayday made the main one, to the user's Service port.
    expect(state.ingresses.usersvc.spec?.rules?.[0].http?.paths[0].backend.service).toEqual({ name: 'usersvc', port: { number: 8080 } });

    await untilWeight(namespace, `usersvc-ingress-${id}-test1`, '30');
    await deliver('ExperimentConcluded', service, { ...spec, status: 'CONCLUDED', chosen: 'test1' });
    state = await read(namespace);
    expect(state.services.usersvc.spec?.selector).toEqual({ app: `usersvc-dep-${id}-test1` });
    expect(state.services.usersvc.metadata?.labels).toEqual({ owner: 'team' });
    expect(state.services.usersvc.spec?.ports?.[0].port).toBe(8080);
    expect(Object.keys(state.deployments).sort()).toEqual([`usersvc-dep-${id}-test1`, 'usersvc-legacy']);
    expect(Object.keys(state.services)).toEqual(['usersvc']);
  });

  it('holds the promotion while a user-owned main Service targets a port the winner does not serve, and completes it once fixed', async () => {
    const namespace = await cluster.createNamespace('ports');
    const service = await newService('portsvc');
    await cluster.core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: 'portsvc', annotations: { [CONSENT_ANNOTATION]: 'portsvc' } },
        spec: { selector: { app: 'legacy' }, ports: [{ name: 'web', port: 80, targetPort: 8080, protocol: 'TCP' }] },
      },
    });
    const id = experimentId();
    const spec: ExperimentSpec = { id, context: { namespace }, traffic: 25 };
    expect((await deliver('ExperimentStarted', service, spec)).status).toBe(200);
    await untilWeight(namespace, `portsvc-ingress-${id}-test1`, '25');
    const concludedSpec: ExperimentSpec = { ...spec, status: 'CONCLUDED', chosen: 'test1' };

    // The winner listens on 80 (container.port's default): switching the Service to it would answer nothing.
    const concluded = await deliver('ExperimentConcluded', service, concludedSpec);
    expect(concluded.status).toBe(200);
    expect(concluded.body.result).toBe('pending');
    expect(concluded.body.reason).toContain(`Service ${namespace}/portsvc sends port 80 to target port 8080`);
    let state = await read(namespace);
    expect(state.services.portsvc.spec?.selector).toEqual({ app: 'legacy' });
    expect(state.ingresses[`portsvc-ingress-${id}-test1`].metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight']).toBe('25');
    expect(Object.keys(state.services).sort()).toEqual(['portsvc', `portsvc-service-${id}-test1`]);
    const status = await harness.mayday.get(`/experiments/${id}`);
    expect(status.body).toMatchObject({ status: 'CONCLUDED', phase: 'promotion-pending' });
    expect(status.body.pendingReason).toContain('target port 8080');
    // Events are written in the background, right after the answer.
    await eventually(async () => {
      const warnings = await cluster.kubeConfig
        .makeApiClient(EventsV1Api)
        .listNamespacedEvent({ namespace, fieldSelector: `regarding.name=portsvc-dep-${id}-test1,reason=PromotionPending` });
      expect(warnings.items.map((event) => event.type)).toEqual(['Warning']);
    });

    // Superposition's next retry (or the resync) after the user fixed the Service completes the promotion.
    await cluster.core.patchNamespacedService(
      { namespace, name: 'portsvc', body: [{ op: 'replace', path: '/spec/ports/0/targetPort', value: 80 }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    const completed = await deliver('ExperimentConcluded', service, concludedSpec);
    expect(completed.body.result).toBe('applied');
    state = await read(namespace);
    expect(state.services.portsvc.spec?.selector).toEqual({ app: `portsvc-dep-${id}-test1` });
    expect(state.services.portsvc.spec?.ports?.[0]).toMatchObject({ port: 80, targetPort: 80 });
    expect(Object.keys(state.services)).toEqual(['portsvc']);
    expect(Object.keys(state.ingresses)).toEqual(['portsvc']);
    expect((await harness.mayday.get(`/experiments/${id}`)).body).toMatchObject({ phase: 'applied' });
    expect((await harness.mayday.get(`/experiments/${id}`)).body.pendingReason).toBeUndefined();
  });

  it('leaves a user-owned main Ingress alone and adds only the canary beside it', async () => {
    const namespace = await cluster.createNamespace('uing');
    const service = await newService('uing');
    await cluster.networking.createNamespacedIngress({
      namespace,
      body: {
        metadata: { name: 'team-ingress', annotations: { [CONSENT_ANNOTATION]: 'uing' } },
        spec: {
          ingressClassName: 'nginx',
          rules: [
            {
              host: `uing.${namespace}`,
              http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'uing', port: { number: 80 } } } }] },
            },
          ],
        },
      },
    });
    const id = experimentId();
    expect((await deliver('ExperimentStarted', service, { id, context: { namespace } })).status).toBe(200);
    expect((await cluster.names(namespace)).ingresses).toEqual(['team-ingress', `uing-ingress-${id}-test1`]);
  });

  it('refuses two experimental variants on ingress-nginx with a 422 and creates nothing', async () => {
    const namespace = await cluster.createNamespace('abn');
    const service = await newService('abn');
    const answer = await deliver('ExperimentStarted', service, {
      id: experimentId(),
      context: { namespace },
      variants: [
        { suffix: 'control', overrides: { 'container.image': 'nginx:1.25' } },
        { suffix: 'a', overrides: { 'container.image': 'nginx:1.26' } },
        { suffix: 'b', overrides: { 'container.image': 'nginx:1.27' } },
      ],
    });
    expect(answer.status).toBe(422);
    expect(answer.body.message).toMatch(/one canary Ingress per host and path/);
    expect(await cluster.snapshot(namespace)).toEqual({});
  });

  it('sends every context dimension when resolving, and understands the legacy JSON-logic context', async () => {
    const namespace = await cluster.createNamespace('dims');
    const service = await newService('dims');
    const id = experimentId();
    const answer = await deliver('ExperimentStarted', service, { id, context: { namespace, city: 'mumbai' } });
    expect(answer.status).toBe(200);
    const sent = standIn.resolveRequests().filter((request) => JSON.stringify(request.body).includes(id));
    expect(sent.length).toBeGreaterThan(0);
    for (const request of sent) {
      expect((request.body as any).context).toMatchObject({ namespace, city: 'mumbai' });
      expect(request.headers['x-workspace']).toBe('dims');
      expect(request.headers['x-org-id']).toBe('localorg');
    }

    const legacyNamespace = await cluster.createNamespace('legacy');
    const legacyId = experimentId();
    const legacy = await deliver('ExperimentStarted', service, {
      id: legacyId,
      context: { and: [{ '==': [{ var: 'namespace' }, legacyNamespace] }] },
    });
    expect(legacy.status).toBe(200);
    expect(legacy.body.namespace).toBe(legacyNamespace);
    expect((await cluster.names(legacyNamespace)).deployments).toContain(`dims-dep-${legacyId}-test1`);
    const legacySent = standIn.resolveRequests().filter((request) => JSON.stringify(request.body).includes(legacyId));
    expect((legacySent[0].body as any).context).toEqual({ namespace: legacyNamespace, variantIds: [expect.stringContaining(legacyId)] });
  });

  it('never deploys a base config that Superposition answers instead of the variant (the original bug)', async () => {
    const namespace = await cluster.createNamespace('base');
    const service = await newService('basesvc', { 'container.image': 'nginx:base', replicas: 2 });
    const id = experimentId();
    standIn.rawAnswer = { status: 200, body: JSON.stringify({ 'container.image': 'nginx:base', replicas: 2 }) };
    try {
      const answer = await deliver('ExperimentStarted', service, { id, context: { namespace } });
      expect(answer.status).toBe(200);
    } finally {
      standIn.rawAnswer = undefined;
    }
    const state = await read(namespace);
    expect(state.deployments[`basesvc-dep-${id}-test1`].spec?.template.spec?.containers[0].image).toBe('nginx:1.27');
    expect(state.deployments[`basesvc-dep-${id}-control`].spec?.template.spec?.containers[0].image).toBe('nginx:1.25');
    // Keys the overrides do not name still come from Superposition.
    expect(state.deployments[`basesvc-dep-${id}-test1`].spec?.replicas).toBe(2);
  });

  it('refuses a variant without an image with a 422 naming variant and key, and applies nothing', async () => {
    const namespace = await cluster.createNamespace('noimg');
    const service = await newService('noimg');
    const id = experimentId();
    const answer = await deliver('ExperimentStarted', service, {
      id,
      context: { namespace },
      variants: [
        { suffix: 'control', overrides: { 'container.image': 'nginx:1.25' } },
        { suffix: 'test1', overrides: { replicas: 2 } },
      ],
    });
    expect(answer.status).toBe(422);
    expect(answer.body.message).toContain(`${id}-test1`);
    expect(answer.body.message).toContain('container.image');
    expect(await cluster.snapshot(namespace)).toEqual({});

    const badEnv = await deliver('ExperimentStarted', service, {
      id,
      context: { namespace },
      variants: [
        { suffix: 'control', overrides: { 'container.image': 'nginx:1.25' } },
        { suffix: 'test1', overrides: { 'container.image': 'nginx:1.27', 'env.NOT VALID': 'x' } },
      ],
    });
    expect(badEnv.status).toBe(422);
    expect(badEnv.body.message).toContain('env.NOT VALID');
    expect(await cluster.snapshot(namespace)).toEqual({});
  });

  it('answers 422 naming a namespace that does not exist', async () => {
    const service = await newService('nons');
    const answer = await deliver('ExperimentStarted', service, { id: experimentId(), context: { namespace: 'no-such-ns' } });
    expect(answer.status).toBe(422);
    expect(answer.body.message).toContain('no-such-ns');
  });

  it('refuses to overwrite an object of the same name that Mayday did not make', async () => {
    const namespace = await cluster.createNamespace('foreign');
    const service = await newService('foreign');
    const id = experimentId();
    await cluster.core.createNamespacedService({
      namespace,
      body: { metadata: { name: `foreign-service-${id}-test1` }, spec: { ports: [{ port: 80, protocol: 'TCP' }] } },
    });
    const before = await cluster.snapshot(namespace);
    const answer = await deliver('ExperimentStarted', service, { id, context: { namespace } });
    expect(answer.status).toBe(422);
    expect(answer.body.message).toContain(`Service ${namespace}/foreign-service-${id}-test1`);
    expect(await cluster.snapshot(namespace)).toEqual(before);
  });

  it('makes valid, distinct Kubernetes names from variant ids Superposition does not validate', async () => {
    const namespace = await cluster.createNamespace('names');
    const service = await newService('Web_Shop');
    const id = experimentId();
    const answer = await deliver('ExperimentStarted', service, {
      id,
      context: { namespace },
      variants: [
        { suffix: 'control', overrides: { 'container.image': 'nginx:1.25' } },
        { suffix: 'Test_Variant_With_A_Very_Long_Name_That_Goes_On', overrides: { 'container.image': 'nginx:1.27' } },
      ],
    });
    expect(answer.status).toBe(200);
    const names = await cluster.names(namespace);
    for (const name of [...names.deployments, ...names.services, ...names.ingresses]) {
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    }
    expect(names.deployments).toHaveLength(2);
    expect(names.services).toHaveLength(2);
    const ingress = (await cluster.ingresses(namespace)).find((item) => item.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary']);
    expect(ingress?.spec?.rules?.[0].host).toBe(`web-shop.${namespace}`);
  });
});
