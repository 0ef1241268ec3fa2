import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { useMaydayWithSuperposition } from '../support/harness';
import { MAYDAY_NAMESPACE, startMayday, type RunningMayday } from '../support/mayday';
import { experiment, experimentId, webhook, type ExperimentSpec } from '../support/payloads';
import { SuperpositionStandIn } from '../support/superposition-stand-in';
import { createCrashingPod, setDeploymentStatus } from '../support/workloads';

const cluster = new Cluster();
const WEIGHT = 'nginx.ingress.kubernetes.io/canary-weight';

async function canaryWeight(namespace: string, service: string, variantId: string): Promise<string | undefined> {
  const ingress = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === `${service}-ingress-${variantId}`);
  return ingress?.metadata?.annotations?.[WEIGHT];
}

async function mainSelector(namespace: string, service: string): Promise<Record<string, string> | undefined> {
  return (await cluster.services(namespace)).find((item) => item.metadata?.name === service)?.spec?.selector;
}

describe('the readiness gate, automatic rollback of failing canaries, and pending promotions', () => {
  const namespaces: Record<string, string> = {};
  beforeAll(async () => {
    for (const name of ['gate', 'deadline', 'crash', 'pending', 'restart'])
      namespaces[name] = await cluster.createNamespace(`safe-${name}`);
  });
  const harness = useMaydayWithSuperposition(() => ({
    CANARY_READINESS_GATE: 'true',
    CANARY_MAX_RESTARTS: '3',
    // Only this file's namespaces: the watch sees every Mayday Deployment of the shared API server.
    ALLOWED_NAMESPACES: Object.values(namespaces).join(','),
  }));
  const deliver = (event: string, service: string, spec: ExperimentSpec) => harness.deliver(event, service, spec);

  async function startedAndAvailable(key: string, service: string, traffic = 20): Promise<ExperimentSpec> {
    const namespace = namespaces[key];
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic, lastModified: '2026-08-20T07:40:00.000001Z' };
    expect((await deliver('ExperimentStarted', service, spec)).status).toBe(200);
    await setDeploymentStatus(cluster, namespace, `${service}-dep-${spec.id}-test1`, 'available');
    await eventually(async () => expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe(String(traffic)));
    return spec;
  }

  it('gives a canary its weight only once its Deployment is available, without another webhook', async () => {
    const namespace = namespaces.gate;
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 20, lastModified: '2026-08-20T07:40:00.000001Z' };
    const started = await deliver('ExperimentStarted', 'gated', spec);
    expect(started.status).toBe(200);
    expect(started.body.canaries).toEqual([
      { variantId: `${spec.id}-test1`, weight: 0, state: { phase: 'waiting', reason: 'the Deployment is being created or updated' } },
    ]);
    expect(await canaryWeight(namespace, 'gated', `${spec.id}-test1`)).toBe('0');
    // The main path exists meanwhile: the canary Ingress is never alone.
    expect((await cluster.names(namespace)).ingresses).toContain('gated');

    // Still not available: a pod-less Deployment with the controller's view but no replica.
    await setDeploymentStatus(cluster, namespace, `gated-dep-${spec.id}-test1`, 'unavailable');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await canaryWeight(namespace, 'gated', `${spec.id}-test1`)).toBe('0');

    const madeAvailable = Date.now();
    await setDeploymentStatus(cluster, namespace, `gated-dep-${spec.id}-test1`, 'available');
    await eventually(async () => expect(await canaryWeight(namespace, 'gated', `${spec.id}-test1`)).toBe('20'), 10_000, 10);
    console.log(`[measure] Deployment available -> weight applied: ${Date.now() - madeAvailable} ms`);

    const ramp = await deliver('ExperimentInprogress', 'gated', { ...spec, traffic: 45, lastModified: '2026-08-20T07:41:00.000001Z' });
    expect(ramp.body.canaries[0]).toMatchObject({ weight: 45, state: { phase: 'available' } });
    expect(await canaryWeight(namespace, 'gated', `${spec.id}-test1`)).toBe('45');
  });

  it('drops a canary whose rollout exceeded its progress deadline to 0, records why, and keeps it there', async () => {
    const namespace = namespaces.deadline;
    const spec = await startedAndAvailable('deadline', 'late');
    const name = `late-dep-${spec.id}-test1`;
    await setDeploymentStatus(cluster, namespace, name, 'deadline-exceeded');
    await eventually(async () => expect(await canaryWeight(namespace, 'late', `${spec.id}-test1`)).toBe('0'));
    const marked = await cluster.apps.readNamespacedDeployment({ namespace, name });
    expect(marked.metadata?.annotations?.['mayday.superposition.io/failed']).toMatch(/^ProgressDeadlineExceeded/);
    expect(marked.metadata?.annotations?.['mayday.superposition.io/failed-spec']).toMatch(/^[0-9a-f]{16}$/);

    // It recovers on its own, but stays out until a new event changes the variant.
    await setDeploymentStatus(cluster, namespace, name, 'available');
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
    await createCrashingPod(cluster, namespace, name, 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await canaryWeight(namespace, 'crashy', `${spec.id}-test1`)).toBe('20');
    await createCrashingPod(cluster, namespace, name, 4);
    await eventually(async () => expect(await canaryWeight(namespace, 'crashy', `${spec.id}-test1`)).toBe('0'));
    const marked = await cluster.apps.readNamespacedDeployment({ namespace, name });
    expect(marked.metadata?.annotations?.['mayday.superposition.io/failed']).toMatch(/^CrashLoop: .*restarted 4 times/);
  });

  it('acknowledges a conclusion whose winner is not available and completes the promotion once it is', async () => {
    const namespace = namespaces.pending;
    const spec = await startedAndAvailable('pending', 'pend');
    const winner = `pend-dep-${spec.id}-test1`;
    const stable = `pend-dep-${spec.id}-control`;
    await setDeploymentStatus(cluster, namespace, winner, 'unavailable');
    await eventually(async () => expect(await canaryWeight(namespace, 'pend', `${spec.id}-test1`)).toBe('0'));

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

    await setDeploymentStatus(cluster, namespace, winner, 'available');
    await eventually(async () => expect(await mainSelector(namespace, 'pend')).toEqual({ app: winner }));
    await eventually(async () =>
      expect(await cluster.names(namespace)).toEqual({ deployments: [winner], services: ['pend'], ingresses: ['pend'] }),
    );
    const done = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });
    expect(done.data).toMatchObject({ status: 'CONCLUDED', phase: 'applied' });
  });

  it('resumes watching after a restart in the middle of a gated start and finishes the job', async () => {
    const namespace = namespaces.restart;
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 15 };
    expect((await deliver('ExperimentStarted', 'again', spec)).status).toBe(200);
    await harness.stop();
    await setDeploymentStatus(cluster, namespace, `again-dep-${spec.id}-test1`, 'available');
    expect(await canaryWeight(namespace, 'again', `${spec.id}-test1`)).toBe('0');
    await harness.restart();
    await eventually(async () => expect(await canaryWeight(namespace, 'again', `${spec.id}-test1`)).toBe('15'));
  });
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
    await eventually(async () => expect(await canaryWeight(namespace, service, `${first.id}-test1`)).toBe('35'), 3000);

    // A conclusion, never delivered.
    standIn.putExperiment(
      service,
      experiment({ ...first, traffic: 35, status: 'CONCLUDED', chosen: 'test1', lastModified: '2026-08-20T07:42:00.000001Z' }),
    );
    await eventually(async () => expect(await mainSelector(namespace, service)).toEqual({ app: `${service}-dep-${first.id}-test1` }), 3000);
    await eventually(async () => expect((await cluster.names(namespace)).ingresses).toEqual([service]), 3000);

    // A discard, never delivered.
    standIn.putExperiment(service, experiment(second));
    expect((await mayday.post('/webhooks/superposition', webhook('ExperimentStarted', service, experiment(second)))).status).toBe(200);
    expect((await cluster.names(namespace)).deployments).toContain(`${service}-dep-${second.id}-test1`);
    standIn.putExperiment(service, experiment({ ...second, status: 'DISCARDED', lastModified: '2026-08-20T07:43:00.000001Z' }));
    await eventually(async () => expect((await cluster.names(namespace)).deployments).toEqual([`${service}-dep-${first.id}-test1`]), 3000);
    const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${second.id}` });
    expect(record.data?.status).toBe('DISCARDED');

    const resyncs = standIn.requests.filter((request) => request.path.startsWith('/experiments/'));
    expect(resyncs.length).toBeGreaterThan(2);
    expect(resyncs[0].headers['x-workspace']).toBe(service);
    expect(resyncs[0].headers['x-org-id']).toBe('localorg');
  }, 30_000);
});
