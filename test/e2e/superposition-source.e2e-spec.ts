import { beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { useMaydayWithSuperposition } from '../support/harness';
import { experimentId, systemGroupId, type ExperimentSpec } from '../support/payloads';

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
