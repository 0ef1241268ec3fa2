import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { useMaydayWithSuperposition } from '../support/harness';
import { MAYDAY_NAMESPACE, startMayday, type RunningMayday } from '../support/mayday';
import { experiment, experimentId, webhook, type ExperimentSpec } from '../support/payloads';
import { SuperpositionStandIn } from '../support/superposition-stand-in';
import { MutatingWebhook, type JsonPatch } from '../support/admission-webhook';
import { cordonNodes, createCrashingPod, holdNewPods, holdSelector, podsOf, releaseHeldPods, untilRolledOut } from '../support/workloads';

const cluster = new Cluster();
const WEIGHT = 'nginx.ingress.kubernetes.io/canary-weight';

async function canaryWeight(namespace: string, service: string, variantId: string): Promise<string | undefined> {
  const ingress = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === `${service}-ingress-${variantId}`);
  return ingress?.metadata?.annotations?.[WEIGHT];
}

async function mainSelector(namespace: string, service: string): Promise<Record<string, string> | undefined> {
  return (await cluster.services(namespace)).find((item) => item.metadata?.name === service)?.spec?.selector;
}

describe('the readiness gate, automatic rollback of failing canaries, and pending promotions (real controllers and nodes)', () => {
  const namespaces: Record<string, string> = {};
  beforeAll(async () => {
    for (const name of ['gate', 'deadline', 'crash', 'pending', 'restart'])
      namespaces[name] = await cluster.createNamespace(`safe-${name}`);
  });
  const harness = useMaydayWithSuperposition(() => ({
    CANARY_MAX_RESTARTS: '3',
    // Only this describe's namespaces: another Mayday of this file must not act on them later.
    ALLOWED_NAMESPACES: Object.values(namespaces).join(','),
  }));
  const deliver = (event: string, service: string, spec: ExperimentSpec) => harness.deliver(event, service, spec);

  async function startedAndAvailable(key: string, service: string, traffic = 20): Promise<ExperimentSpec> {
    const namespace = namespaces[key];
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic, lastModified: '2026-08-20T07:40:00.000001Z' };
    expect((await deliver('ExperimentStarted', service, spec)).status).toBe(200);
    await eventually(async () => expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe(String(traffic)), 30_000);
    return spec;
  }

  it('gives a canary its weight once the controllers report its pods ready, without another webhook', async () => {
    const namespace = namespaces.gate;
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 20, lastModified: '2026-08-20T07:40:00.000001Z' };
    // No pod is scheduled until the nodes are uncordoned: the canary cannot be ready before the checks below.
    await cordonNodes(cluster, true);
    try {
      const started = await deliver('ExperimentStarted', 'gated', spec);
      expect(started.status).toBe(200);
      expect(started.body.canaries).toEqual([
        { variantId: `${spec.id}-test1`, weight: 0, state: { phase: 'waiting', reason: 'the Deployment is being created or updated' } },
      ]);
      expect(await canaryWeight(namespace, 'gated', `${spec.id}-test1`)).toBe('0');
      // The main path exists meanwhile: the canary Ingress is never alone.
      expect((await cluster.names(namespace)).ingresses).toContain('gated');
    } finally {
      await cordonNodes(cluster, false);
    }

    // The Deployment controller, the scheduler and a hollow node's kubelet make the pod ready; then the weight follows.
    await eventually(async () => expect(await canaryWeight(namespace, 'gated', `${spec.id}-test1`)).toBe('20'), 30_000);
    const canary = await cluster.apps.readNamespacedDeployment({ namespace, name: `gated-dep-${spec.id}-test1` });
    expect(canary.status?.availableReplicas).toBe(1);
    const pods = await podsOf(cluster, namespace, `gated-dep-${spec.id}-test1`);
    expect(pods.map((pod) => pod.spec?.nodeName)).toEqual([expect.stringMatching(/^hollow-node-/)]);

    const ramp = await deliver('ExperimentInprogress', 'gated', { ...spec, traffic: 45, lastModified: '2026-08-20T07:41:00.000001Z' });
    expect(ramp.body.canaries[0]).toMatchObject({ weight: 45, state: { phase: 'available' } });
    expect(await canaryWeight(namespace, 'gated', `${spec.id}-test1`)).toBe('45');
  });

  it('drops a canary whose rollout exceeded its progress deadline to 0, records why, and keeps it there', async () => {
    const namespace = namespaces.deadline;
    const spec = await startedAndAvailable('deadline', 'late');
    const name = `late-dep-${spec.id}-test1`;
    // Someone changes the canary so that its new pods cannot be scheduled: the controller reports the rollout stuck.
    await holdNewPods(cluster, namespace, name, 2);
    await eventually(async () => expect(await canaryWeight(namespace, 'late', `${spec.id}-test1`)).toBe('0'), 30_000);
    const marked = await eventually(async () => {
      const deployment = await cluster.apps.readNamespacedDeployment({ namespace, name });
      expect(deployment.metadata?.annotations?.['mayday.superposition.io/failed']).toMatch(/^ProgressDeadlineExceeded/);
      return deployment;
    }, 30_000);
    expect(marked.metadata?.annotations?.['mayday.superposition.io/failed-spec']).toMatch(/^[0-9a-f]{16}$/);

    // It recovers on its own, but stays out until a new event changes the variant.
    await releaseHeldPods(cluster, namespace);
    await untilRolledOut(cluster, namespace, name);
    const ramp = await deliver('ExperimentInprogress', 'late', { ...spec, traffic: 30, lastModified: '2026-08-20T07:41:00.000001Z' });
    expect(ramp.body.canaries[0]).toMatchObject({ weight: 0, state: { phase: 'failed' } });
    expect(await canaryWeight(namespace, 'late', `${spec.id}-test1`)).toBe('0');
    // Nothing was deleted: people can look at it.
    expect((await cluster.names(namespace)).deployments).toContain(name);
  });

  it('drops a crash-looping canary to 0 and records why', async () => {
    const namespace = namespaces.crash;
    const spec = await startedAndAvailable('crash', 'crashy');
    const name = `crashy-dep-${spec.id}-test1`;
    await createCrashingPod(cluster, namespace, name, 2, 'running');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await canaryWeight(namespace, 'crashy', `${spec.id}-test1`)).toBe('20');
    await createCrashingPod(cluster, namespace, name, 4);
    await eventually(async () => expect(await canaryWeight(namespace, 'crashy', `${spec.id}-test1`)).toBe('0'));
    const marked = await cluster.apps.readNamespacedDeployment({ namespace, name });
    expect(marked.metadata?.annotations?.['mayday.superposition.io/failed']).toMatch(/^CrashLoop: .*restarted 4 times/);
  });

  it('acknowledges a conclusion whose winner is not fully available and completes the promotion once it is', async () => {
    const namespace = namespaces.pending;
    const spec = await startedAndAvailable('pending', 'pend');
    const winner = `pend-dep-${spec.id}-test1`;
    const stable = `pend-dep-${spec.id}-control`;
    // The winner's new pod cannot be scheduled: its old pod serves, but the current generation is not available.
    await holdNewPods(cluster, namespace, winner);

    const concluded = await deliver('ExperimentConcluded', 'pend', {
      ...spec,
      status: 'CONCLUDED',
      chosen: 'test1',
      lastModified: '2026-08-20T07:42:00.000001Z',
    });
    expect(concluded.status).toBe(200);
    expect(concluded.body.result).toBe('pending');
    expect(concluded.body.reason).toContain(winner);
    expect(await mainSelector(namespace, 'pend')).toEqual({ app: stable });
    expect((await cluster.names(namespace)).ingresses).toContain(`pend-ingress-${spec.id}-test1`);
    const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });
    expect(record.data).toMatchObject({ status: 'CONCLUDED', phase: 'promotion-pending' });

    await releaseHeldPods(cluster, namespace);
    await eventually(async () => expect(await mainSelector(namespace, 'pend')).toEqual({ app: winner }), 30_000);
    await eventually(async () =>
      expect(await cluster.names(namespace)).toEqual({ deployments: [winner], services: ['pend'], ingresses: ['pend'] }),
    );
    // The record is written after the deletions this test sees first.
    await eventually(async () => {
      const done = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });
      expect(done.data).toMatchObject({ status: 'CONCLUDED', phase: 'applied' });
    });
  });

  it('resumes watching after a restart in the middle of a gated start and finishes the job', async () => {
    const namespace = namespaces.restart;
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 15 };
    // The canary's pod is scheduled only once Mayday is stopped (nodes cordoned until then).
    await cordonNodes(cluster, true);
    try {
      expect((await deliver('ExperimentStarted', 'again', spec)).status).toBe(200);
      await harness.stop();
    } finally {
      await cordonNodes(cluster, false);
    }
    await untilRolledOut(cluster, namespace, `again-dep-${spec.id}-test1`);
    expect(await canaryWeight(namespace, 'again', `${spec.id}-test1`)).toBe('0');
    await harness.restart();
    await eventually(async () => expect(await canaryWeight(namespace, 'again', `${spec.id}-test1`)).toBe('15'), 30_000);
  });
});

describe('promotion in two steps: switch onto a fully available winner, delete the previous stable after the delay', () => {
  let namespace: string;
  let holding = false;
  const harness = useMaydayWithSuperposition(() => ({ ALLOWED_NAMESPACES: namespace, SCALE_DOWN_DELAY_SECONDS: '6' }));
  // The winner's pods after its first are held back (as a scheduler would, for want of room) until a node can take them.
  const webhook: MutatingWebhook = new MutatingWebhook(cluster, (request): JsonPatch | undefined => {
    const pod = request.object;
    const app: string | undefined = pod?.metadata?.labels?.app;
    if (!holding || !app?.endsWith('-test1') || request.dryRun) return undefined;
    const admitted: number = webhook.requests.filter((item) => !item.dryRun && item.object?.metadata?.labels?.app === app).length;
    return admitted > 1 ? [{ op: 'add', path: '/spec/nodeSelector', value: holdSelector(namespace) }] : undefined;
  });
  beforeAll(async () => {
    namespace = await cluster.createNamespace('twostep');
    await webhook.start(namespace, { apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'] }, () =>
      cluster.core.createNamespacedPod({
        namespace,
        dryRun: 'All',
        body: { metadata: { name: 'probe' }, spec: { containers: [{ name: 'app', image: 'probe:1' }] } },
      }),
    );
  });
  afterAll(() => webhook.stop());

  it('waits with 1 of 5 replicas available, switches at 5 of 5, and deletes the old stable only after SCALE_DOWN_DELAY_SECONDS, across a restart', async () => {
    const service = 'twostep';
    harness.standIn.workspace(service, {});
    const spec: ExperimentSpec = {
      id: experimentId(),
      context: { namespace },
      traffic: 20,
      lastModified: '2026-08-20T07:40:00.000001Z',
      variants: [
        { suffix: 'control', type: 'CONTROL', overrides: { 'container.image': 'nginx:1.25' } },
        { suffix: 'test1', type: 'EXPERIMENTAL', overrides: { 'container.image': 'nginx:1.27', replicas: 5 } },
      ],
    };
    const winner = `${service}-dep-${spec.id}-test1`;
    const stable = `${service}-dep-${spec.id}-control`;
    holding = true;
    expect((await harness.deliver('ExperimentStarted', service, spec)).status).toBe(200);
    // One available pod is enough for a canary's share.
    await eventually(async () => expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe('20'), 30_000);

    const concluded = await harness.deliver('ExperimentConcluded', service, {
      ...spec,
      status: 'CONCLUDED',
      chosen: 'test1',
      lastModified: '2026-08-20T07:42:00.000001Z',
    });
    expect(concluded.body).toMatchObject({ result: 'pending' });
    expect(concluded.body.reason).toContain('needs 5 of 5 replicas of the current generation available');
    const pending = await harness.mayday.get(`/experiments/${spec.id}`);
    expect(pending.body).toMatchObject({ phase: 'promotion-pending' });
    expect(pending.body.variants.find((variant: { type: string }) => variant.type === 'EXPERIMENTAL').deployment).toMatchObject({
      availableReplicas: 1,
      desiredReplicas: 5,
    });
    expect(await mainSelector(namespace, service)).toEqual({ app: stable });

    // A node can take the other four: 5 of 5, and the switch follows without another webhook.
    await releaseHeldPods(cluster, namespace);
    await eventually(async () => expect(await mainSelector(namespace, service)).toEqual({ app: winner }), 30_000);
    const switchedSeen = Date.now();
    expect((await cluster.apps.readNamespacedDeployment({ namespace, name: winner })).status?.availableReplicas).toBe(5);
    const record = await eventually(async () => {
      const written = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });
      expect(written.data).toMatchObject({ status: 'CONCLUDED', phase: 'scale-down-pending' });
      return written;
    });
    const scaleDownAt = Date.parse(record.data!.scaleDownAt);
    expect(scaleDownAt).toBeGreaterThan(switchedSeen + 3000);
    // The canary route is gone (everything goes to the main Service); the old stable still runs.
    expect((await cluster.names(namespace)).ingresses).toEqual([service]);
    const stillThere = Date.now();
    const deployments = (await cluster.names(namespace)).deployments;
    if (stillThere < scaleDownAt) expect(deployments).toEqual([stable, winner].sort());
    const status = await harness.mayday.get(`/experiments/${spec.id}`);
    expect(status.body).toMatchObject({ phase: 'scale-down-pending', scaleDownAt: record.data!.scaleDownAt });
    // Events are written in the background, right after the answer.
    await eventually(async () => {
      const promoted = await cluster.events.listNamespacedEvent({ namespace, fieldSelector: `reason=Promoted,regarding.name=${service}` });
      expect(promoted.items[0]?.note).toContain(`Deployment ${stable}`);
      expect(promoted.items[0]?.note).toContain(record.data!.scaleDownAt);
    });

    // A restart keeps the deadline: the timer is armed again from the record.
    await harness.restart();
    await eventually(async () => expect((await cluster.names(namespace)).deployments).toEqual([winner]), 30_000);
    expect(Date.now()).toBeGreaterThanOrEqual(scaleDownAt);
    // The record and the Event are written once the deletions are done: they follow within moments.
    await eventually(async () => {
      const done = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });
      expect(done.data).toMatchObject({ phase: 'applied' });
      expect(done.data).not.toHaveProperty('scaleDownAt');
      const scaledDown = await cluster.events.listNamespacedEvent({
        namespace,
        fieldSelector: `reason=ScaledDown,regarding.name=${winner}`,
      });
      expect(scaledDown.items.map((event) => event.note)).toEqual([expect.stringContaining(`Deployment ${stable}`)]);
    }, 30_000);
  }, 120_000);
});

describe('a mutating admission webhook on the Deployments', () => {
  let namespace: string;
  const harness = useMaydayWithSuperposition(() => ({ ALLOWED_NAMESPACES: namespace }));
  // Adds an env variable to every Deployment's first container (once), as a config injector does.
  const webhook = new MutatingWebhook(cluster, (request): JsonPatch | undefined => {
    const env: { name: string }[] | undefined = request.object?.spec?.template?.spec?.containers?.[0]?.env;
    const injected = { name: 'INJECTED_BY', value: 'webhook' };
    if (!env) return [{ op: 'add', path: '/spec/template/spec/containers/0/env', value: [injected] }];
    if (env.some((variable) => variable.name === injected.name)) return undefined;
    return [{ op: 'add', path: '/spec/template/spec/containers/0/env/-', value: injected }];
  });
  beforeAll(async () => {
    namespace = await cluster.createNamespace('mutated');
    const probe = {
      metadata: { name: 'probe' },
      spec: {
        selector: { matchLabels: { app: 'probe' } },
        template: { metadata: { labels: { app: 'probe' } }, spec: { containers: [{ name: 'app', image: 'probe:1', env: [] }] } },
      },
    };
    await webhook.start(
      namespace,
      { apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'], operations: ['CREATE', 'UPDATE'] },
      () => cluster.apps.createNamespacedDeployment({ namespace, dryRun: 'All', body: probe }),
    );
  });
  afterAll(() => webhook.stop());

  it('does not pin the canary weight at 0: the mutated Deployment is still the one Mayday applied', async () => {
    const service = 'mutated';
    harness.standIn.workspace(service, { 'env.GREETING': 'hello' });
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 25, lastModified: '2026-08-20T07:40:00.000001Z' };
    expect((await harness.deliver('ExperimentStarted', service, spec)).status).toBe(200);
    const canary = await cluster.apps.readNamespacedDeployment({ namespace, name: `${service}-dep-${spec.id}-test1` });
    expect(canary.spec?.template.spec?.containers[0].env).toEqual([
      { name: 'GREETING', value: 'hello' },
      { name: 'INJECTED_BY', value: 'webhook' },
    ]);
    await eventually(async () => expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe('25'), 30_000);

    // A repeated event sees the mutated Deployment as current: nothing is rewritten, the weight stays.
    const again = await harness.deliver('ExperimentInprogress', service, spec);
    expect(again.body.canaries).toEqual([{ variantId: `${spec.id}-test1`, weight: 25, state: { phase: 'available' } }]);
    expect(again.body.actions.filter((action: { action: string }) => action.action !== 'unchanged')).toEqual([]);
    expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe('25');
  }, 60_000);
});

describe('resync repairs webhooks that never arrived', () => {
  const standIn = new SuperpositionStandIn();
  let mayday: RunningMayday;
  let namespace: string;

  beforeAll(async () => {
    await standIn.start();
    namespace = await cluster.createNamespace('resync');
    mayday = await startMayday({
      SUPERPOSITION_URL: standIn.url,
      RESYNC_INTERVAL_SECONDS: '1',
      ALLOWED_NAMESPACES: namespace,
    });
  });
  afterAll(async () => {
    await mayday?.close();
    await standIn.stop();
  });

  it('applies a ramp, a conclusion and a discard that only Superposition knows about, within one interval', async () => {
    const service = 'resyncsvc';
    standIn.workspace(service, {});
    const first: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 10, lastModified: '2026-08-20T07:40:00.000001Z' };
    const second: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 10, lastModified: '2026-08-20T07:40:00.000001Z' };
    standIn.putExperiment(service, experiment(first));
    expect((await mayday.post('/webhooks/superposition', webhook('ExperimentStarted', service, experiment(first)))).status).toBe(200);

    // A ramp Superposition recorded but whose webhook was lost.
    standIn.putExperiment(service, experiment({ ...first, traffic: 35, lastModified: '2026-08-20T07:41:00.000001Z' }));
    await eventually(async () => expect(await canaryWeight(namespace, service, `${first.id}-test1`)).toBe('35'), 30_000);

    // A conclusion, never delivered.
    standIn.putExperiment(
      service,
      experiment({ ...first, traffic: 35, status: 'CONCLUDED', chosen: 'test1', lastModified: '2026-08-20T07:42:00.000001Z' }),
    );
    await eventually(
      async () => expect(await mainSelector(namespace, service)).toEqual({ app: `${service}-dep-${first.id}-test1` }),
      30_000,
    );
    await eventually(async () => expect((await cluster.names(namespace)).ingresses).toEqual([service]), 30_000);

    // A discard, never delivered.
    standIn.putExperiment(service, experiment(second));
    expect((await mayday.post('/webhooks/superposition', webhook('ExperimentStarted', service, experiment(second)))).status).toBe(200);
    expect((await cluster.names(namespace)).deployments).toContain(`${service}-dep-${second.id}-test1`);
    standIn.putExperiment(service, experiment({ ...second, status: 'DISCARDED', lastModified: '2026-08-20T07:43:00.000001Z' }));
    await eventually(
      async () => expect((await cluster.names(namespace)).deployments).toEqual([`${service}-dep-${first.id}-test1`]),
      30_000,
    );
    const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${second.id}` });
    expect(record.data?.status).toBe('DISCARDED');

    const resyncs = standIn.requests.filter((request) => request.path.startsWith('/experiments/'));
    expect(resyncs.length).toBeGreaterThan(2);
    expect(resyncs[0].headers['x-workspace']).toBe(service);
    expect(resyncs[0].headers['x-org-id']).toBe('localorg');
  }, 120_000);
});
