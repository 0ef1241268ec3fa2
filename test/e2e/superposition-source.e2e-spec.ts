import { beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { useMaydayWithSuperposition } from '../support/harness';
import { MAYDAY_NAMESPACE } from '../support/mayday';
import { experiment, experimentId, systemGroupId, webhook, type ExperimentSpec } from '../support/payloads';

/** Superposition as the source of truth: experiment groups, what is resolved and when, metrics links. */
const cluster = new Cluster();
/**
 * What these tests check is what Superposition's answers make of a canary's share, at the moment of
 * the event: the readiness gate (tested in rollout-safety on the same real controllers) would hold
 * each new canary at 0 until its pods are ready, so it is off here.
 */
const SHARES_FROM_EVENTS = { CANARY_READINESS_GATE: 'false' };
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
  const harness = useMaydayWithSuperposition(() => ({ ALLOWED_NAMESPACES: namespace, ...SHARES_FROM_EVENTS }));

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
  const harness = useMaydayWithSuperposition(() => ({ ALLOWED_NAMESPACES: namespace, ...SHARES_FROM_EVENTS }));

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
  const harness = useMaydayWithSuperposition(() => ({ ALLOWED_NAMESPACES: namespace, ...SHARES_FROM_EVENTS }));

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
    // Events are written in the background, right after the answer.
    await eventually(async () => {
      const onMain = (await cluster.events.listNamespacedEvent({ namespace, fieldSelector: 'regarding.name=metricsvc' })).items;
      const promotedNote = onMain.find((event) => event.reason === 'Promoted')?.note;
      expect(promotedNote).toContain(`metrics: ${metricsUrl}`);
    });

    const discarded: ExperimentSpec = {
      id: experimentId(),
      context: { namespace },
      metricsUrl,
      lastModified: '2026-08-20T07:42:00.000001Z',
    };
    expect((await harness.deliver('ExperimentStarted', 'metricsvc', discarded)).status).toBe(200);
    const discard = { ...discarded, status: 'DISCARDED' as const, lastModified: '2026-08-20T07:43:00.000001Z' };
    expect((await harness.deliver('ExperimentDiscarded', 'metricsvc', discard)).status).toBe(200);
    await eventually(async () => {
      const after = (await cluster.events.listNamespacedEvent({ namespace, fieldSelector: 'regarding.name=metricsvc' })).items;
      expect(after.find((event) => event.reason === 'RolledBack')?.note).toContain(`metrics: ${metricsUrl}`);
    });
  });
});

describe('the resync lists what Superposition runs', () => {
  let namespace: string;
  let outside: string;
  const service = 'lostsvc';
  const denied = 'deniedsvc';
  beforeAll(async () => {
    namespace = await cluster.createNamespace('relist');
    outside = await cluster.createNamespace('relist-outside');
    harness.standIn.workspace(service, {});
    harness.standIn.workspace(denied, {});
  });
  const harness = useMaydayWithSuperposition(() => ({
    ...SHARES_FROM_EVENTS,
    RESYNC_INTERVAL_SECONDS: '1',
    SUPERPOSITION_WORKSPACES: `localorg/${service},localorg/${denied}`,
    ALLOWED_NAMESPACES: namespace,
  }));

  /** The report of a resync round that started after `since` and finished: one whole interval's work. */
  async function roundAfter(since: string): Promise<any> {
    return eventually(async () => {
      const { body } = await harness.mayday.get('/resync');
      expect(body.last?.startedAt > since).toBe(true);
      return body.last;
    }, 20_000);
  }

  const now = () => new Date().toISOString();

  it('deploys an experiment whose every webhook was lost within one round, and applies its conclusion, never delivered, within the next', async () => {
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 25, lastModified: '2026-08-20T07:40:00.000001Z' };
    // Superposition started it; no webhook ever reached Mayday.
    let since = now();
    harness.standIn.putExperiment(service, experiment(spec));
    const first = await roundAfter(since);
    expect(first.workspaces).toEqual(expect.arrayContaining([{ organisation: 'localorg', workspace: service, ok: true, experiments: 1 }]));
    expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe('25');
    expect((await cluster.names(namespace)).deployments).toContain(`${service}-dep-${spec.id}-test1`);

    // Concluded in Superposition, the webhook lost: the list no longer shows it, so it is read one by one.
    since = now();
    harness.standIn.putExperiment(
      service,
      experiment({ ...spec, status: 'CONCLUDED', chosen: 'test1', lastModified: '2026-08-20T07:41:00.000001Z' }),
    );
    const second = await roundAfter(since);
    expect(second.readOneByOne).toBeGreaterThanOrEqual(1);
    const main = (await cluster.services(namespace)).find((item) => item.metadata?.name === service);
    expect(main?.spec?.selector).toEqual({ app: `${service}-dep-${spec.id}-test1` });
    expect((await cluster.names(namespace)).ingresses).toEqual([service]);
    const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });
    expect(record.data?.status).toBe('CONCLUDED');
  });

  it('leaves a listed experiment outside ALLOWED_NAMESPACES alone (the webhook scope check)', async () => {
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace: outside }, lastModified: '2026-08-20T07:40:00.000001Z' };
    const since = now();
    harness.standIn.putExperiment(service, experiment(spec));
    const round = await roundAfter(since);
    expect(round.outOfScope).toBeGreaterThanOrEqual(1);
    expect(await cluster.names(outside)).toEqual({ deployments: [], services: [], ingresses: [] });
    harness.standIn.deleteExperiment(service, spec.id);
  });

  it('reports a workspace answering 4xx once per round, never retried in a loop, and changes nothing', async () => {
    harness.standIn.forbiddenWorkspaces.add(denied);
    try {
      const since = now();
      const before = harness.standIn.requests.filter((request) => request.headers['x-workspace'] === denied).length;
      await roundAfter(since);
      const report = await roundAfter(now());
      expect(report.workspaces).toEqual(
        expect.arrayContaining([expect.objectContaining({ organisation: 'localorg', workspace: denied, ok: false, statusCode: 403 })]),
      );
      // Two rounds, one list request each (a third round may have started meanwhile).
      const asked = harness.standIn.requests.filter((request) => request.headers['x-workspace'] === denied).length - before;
      expect(asked).toBeGreaterThanOrEqual(2);
      expect(asked).toBeLessThanOrEqual(4);
      const metrics = (await harness.mayday.get('/metrics')).body as string;
      expect(metrics).toMatch(
        new RegExp(`mayday_resync_list_failures_total\\{organisation="localorg",workspace="${denied}",status="403"\\} [1-9]`),
      );
    } finally {
      harness.standIn.forbiddenWorkspaces.delete(denied);
    }
  });

  it('changes nothing while Superposition is down, and reports it', async () => {
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 10, lastModified: '2026-08-20T07:50:00.000001Z' };
    expect((await harness.deliver('ExperimentStarted', service, spec)).status).toBe(200);
    await roundAfter(now());
    const before = await cluster.snapshot(namespace);
    // Down: every answer a 503, while Superposition holds a ramp and another new experiment.
    harness.standIn.failNext(1_000_000, 503, 'Superposition is down');
    try {
      harness.standIn.putExperiment(service, experiment({ ...spec, traffic: 60, lastModified: '2026-08-20T07:51:00.000001Z' }));
      harness.standIn.putExperiment(
        service,
        experiment({ id: experimentId(), context: { namespace }, lastModified: '2026-08-20T07:51:00.000001Z' }),
      );
      await roundAfter(now());
      const report = await roundAfter(now());
      expect(report.workspaces).toEqual(
        expect.arrayContaining([expect.objectContaining({ workspace: service, ok: false, statusCode: 503 })]),
      );
      expect(report.converged).toBe(0);
      expect(await cluster.snapshot(namespace)).toEqual(before);
    } finally {
      harness.standIn.failNext(0);
    }
    // Back: the next round converges to what Superposition holds.
    await roundAfter(now());
    expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe('60');
  });
});
