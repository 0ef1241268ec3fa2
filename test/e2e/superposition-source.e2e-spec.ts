import { EventsV1Api } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { useMaydayWithSuperposition } from '../support/harness';
import { experiment, experimentId, systemGroupId, webhook, type ExperimentSpec } from '../support/payloads';

/** Superposition as the source of truth: experiment groups, what is resolved and when, metrics links. */
const cluster = new Cluster();
const WEIGHT = 'nginx.ingress.kubernetes.io/canary-weight';

async function canaryWeight(namespace: string, service: string, variantId: string): Promise<string | undefined> {
  const ingress = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === `${service}-ingress-${variantId}`);
  return ingress?.metadata?.annotations?.[WEIGHT];
}

describe('experiment groups', () => {
  let namespace: string;
  beforeAll(async () => {
    namespace = await cluster.createNamespace('groups');
  });
  const harness = useMaydayWithSuperposition(() => ({ ALLOWED_NAMESPACES: namespace }));

  it('weights a variant of an experiment in a user-created group at 50 % with traffic 20 at 10, and reads the group again at the next ramp', async () => {
    const service = 'groupsvc';
    harness.standIn.workspace(service, {});
    const group = '7350102649999000001';
    const spec: ExperimentSpec = {
      id: experimentId(),
      context: { namespace },
      traffic: 20,
      group,
      lastModified: '2026-08-20T07:40:00.000001Z',
    };
    harness.standIn.putGroup(service, { id: group, traffic_percentage: 50, member_experiment_ids: [spec.id] });

    const started = await harness.deliver('ExperimentStarted', service, spec);
    expect(started.status).toBe(200);
    expect(started.body.canaries).toEqual([expect.objectContaining({ variantId: `${spec.id}-test1`, weight: 10 })]);
    expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe('10');
    const status = await harness.mayday.get(`/experiments/${spec.id}`);
    expect(status.body).toMatchObject({
      trafficPercentage: 20,
      effectiveTrafficPercentage: 10,
      experimentGroup: { id: group, type: 'USER_CREATED', trafficPercentage: 50 },
    });

    // The group's traffic changed in Superposition: the next ramp reads it again (no caching across transitions).
    harness.standIn.putGroup(service, { id: group, traffic_percentage: 25 });
    const ramped = await harness.deliver('ExperimentInprogress', service, {
      ...spec,
      traffic: 40,
      lastModified: '2026-08-20T07:41:00.000001Z',
    });
    expect(ramped.status).toBe(200);
    expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe('10');
    expect((await harness.mayday.get(`/experiments/${spec.id}`)).body).toMatchObject({
      trafficPercentage: 40,
      effectiveTrafficPercentage: 10,
    });
    const groupReads = harness.standIn.requests.filter((request) => request.path === `/experiment-groups/${group}`);
    expect(groupReads).toHaveLength(2);
  });

  it('leaves the share of an experiment in its own system-generated group as it is, and reads that group only once', async () => {
    const service = 'sysgroupsvc';
    harness.standIn.workspace(service, {});
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 20, lastModified: '2026-08-20T07:40:00.000001Z' };
    expect((await harness.deliver('ExperimentStarted', service, spec)).status).toBe(200);
    expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe('20');
    expect(
      (await harness.deliver('ExperimentInprogress', service, { ...spec, traffic: 30, lastModified: '2026-08-20T07:41:00.000001Z' }))
        .status,
    ).toBe(200);
    expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe('30');
    const status = (await harness.mayday.get(`/experiments/${spec.id}`)).body;
    expect(status).toMatchObject({ trafficPercentage: 30, effectiveTrafficPercentage: 30 });
    expect(status.experimentGroup).toBeUndefined();
    expect(harness.standIn.requests.filter((request) => request.path === `/experiment-groups/${systemGroupId(spec.id)}`)).toHaveLength(1);
  });
});

describe('what is resolved, and when', () => {
  let namespace: string;
  beforeAll(async () => {
    namespace = await cluster.createNamespace('resolve');
  });
  const harness = useMaydayWithSuperposition(() => ({ ALLOWED_NAMESPACES: namespace }));

  /** Delivers an event with `event_info.config_version` set, as Superposition does. */
  async function deliverAt(configVersion: string | null, event: string, service: string, spec: ExperimentSpec) {
    const payload = experiment(spec);
    harness.standIn.putExperiment(service, payload);
    const body = webhook(event, service, payload) as { event_info: Record<string, unknown> };
    body.event_info.config_version = configVersion;
    return harness.mayday.post('/webhooks/superposition', body);
  }

  it('resolves only the keys Mayday reads, and a ramp or a pause with nothing changed makes no /config/resolve call', async () => {
    const service = 'rampsvc';
    harness.standIn.workspace(service, { replicas: 1, 'container.port': 80, 'env.LEVEL': 'info', 'ui.theme': 'dark' });
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 10, lastModified: '2026-08-20T07:40:00.000001Z' };
    expect((await deliverAt('100', 'ExperimentStarted', service, spec)).status).toBe(200);
    const afterStart = harness.standIn.resolveCount;
    // The experimental variant, and the CONTROL for the main path that did not exist yet.
    expect(afterStart).toBe(2);
    for (const request of harness.standIn.resolveRequests()) expect(request.query.get('prefix')).toBe('container.,env.,replicas');

    const ramped = await deliverAt('100', 'ExperimentInprogress', service, {
      ...spec,
      traffic: 30,
      lastModified: '2026-08-20T07:41:00.000001Z',
    });
    expect(ramped.status).toBe(200);
    expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe('30');
    const paused = await deliverAt('100', 'ExperimentPaused', service, {
      ...spec,
      traffic: 30,
      status: 'PAUSED',
      lastModified: '2026-08-20T07:42:00.000001Z',
    });
    expect(paused.status).toBe(200);
    expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe('0');
    // No config_version (as a resync or a Deployment change gives it): nothing changed either.
    const resumed = await deliverAt(null, 'ExperimentInprogress', service, {
      ...spec,
      traffic: 40,
      lastModified: '2026-08-20T07:43:00.000001Z',
    });
    expect(resumed.status).toBe(200);
    expect(harness.standIn.resolveCount).toBe(afterStart);

    // The workspace's config changed in Superposition (a new config_version): the next ramp resolves again and deploys it.
    harness.standIn.workspace(service, { replicas: 1, 'container.port': 80, 'env.LEVEL': 'debug' });
    harness.standIn.putExperiment(service, experiment({ ...spec, traffic: 40, lastModified: '2026-08-20T07:43:00.000001Z' }));
    const changed = await deliverAt('101', 'ExperimentInprogress', service, {
      ...spec,
      traffic: 50,
      lastModified: '2026-08-20T07:44:00.000001Z',
    });
    expect(changed.status).toBe(200);
    expect(harness.standIn.resolveCount).toBe(afterStart + 1);
    const canary = (await cluster.deployments(namespace)).find((item) => item.metadata?.name === `${service}-dep-${spec.id}-test1`);
    expect(canary?.spec?.template?.spec?.containers?.[0]?.env).toEqual(expect.arrayContaining([{ name: 'LEVEL', value: 'debug' }]));
    expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe('50');
  });
});

describe("Superposition's metrics link", () => {
  let namespace: string;
  beforeAll(async () => {
    namespace = await cluster.createNamespace('metrics');
  });
  const harness = useMaydayWithSuperposition(() => ({ ALLOWED_NAMESPACES: namespace }));
  const eventsApi = cluster.kubeConfig.makeApiClient(EventsV1Api);

  it('is in the status API and on the Promoted and RolledBack Events', async () => {
    const metricsUrl = 'https://grafana.example/d/mayday-exp';
    const promoted: ExperimentSpec = {
      id: experimentId(),
      context: { namespace },
      metricsUrl,
      lastModified: '2026-08-20T07:40:00.000001Z',
    };
    expect((await harness.deliver('ExperimentStarted', 'metricsvc', promoted)).status).toBe(200);
    expect((await harness.mayday.get(`/experiments/${promoted.id}`)).body.metricsUrl).toBe(metricsUrl);
    const concluded = { ...promoted, status: 'CONCLUDED' as const, chosen: 'test1', lastModified: '2026-08-20T07:41:00.000001Z' };
    expect((await harness.deliver('ExperimentConcluded', 'metricsvc', concluded)).status).toBe(200);
    const onMain = (await eventsApi.listNamespacedEvent({ namespace, fieldSelector: 'regarding.name=metricsvc' })).items;
    const promotedNote = onMain.find((event) => event.reason === 'Promoted')?.note;
    expect(promotedNote).toContain(`metrics: ${metricsUrl}`);

    const discarded: ExperimentSpec = {
      id: experimentId(),
      context: { namespace },
      metricsUrl,
      lastModified: '2026-08-20T07:42:00.000001Z',
    };
    expect((await harness.deliver('ExperimentStarted', 'metricsvc', discarded)).status).toBe(200);
    const discard = { ...discarded, status: 'DISCARDED' as const, lastModified: '2026-08-20T07:43:00.000001Z' };
    expect((await harness.deliver('ExperimentDiscarded', 'metricsvc', discard)).status).toBe(200);
    const after = (await eventsApi.listNamespacedEvent({ namespace, fieldSelector: 'regarding.name=metricsvc' })).items;
    expect(after.find((event) => event.reason === 'RolledBack')?.note).toContain(`metrics: ${metricsUrl}`);
  });
});
