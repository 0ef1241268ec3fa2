import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { recordToConfigMap } from '../../src/experiments/experiment-record';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { useMaydayWithSuperposition } from '../support/harness';
import { experimentId, type ExperimentSpec } from '../support/payloads';

const DAY_MS = 24 * 3_600_000;

describe('records of finished experiments are deleted after RECORD_RETENTION_HOURS', () => {
  const cluster = new Cluster();
  let namespace: string;
  let outOfScope: string;
  beforeAll(async () => {
    namespace = await cluster.createNamespace('retention');
    outOfScope = await cluster.createNamespace('retention-other');
  });
  // Scoped to one namespace: the other's records may belong to another Mayday.
  const harness = useMaydayWithSuperposition(() => ({ RECORD_RETENTION_HOURS: '720', ALLOWED_NAMESPACES: namespace }));

  const recordName = (spec: ExperimentSpec) => `mayday-experiment-${spec.id}`;

  async function backdate(namespace: string, spec: ExperimentSpec, days: number): Promise<void> {
    const appliedAt = new Date(Date.now() - days * DAY_MS).toISOString();
    await cluster.core.patchNamespacedConfigMap(
      { namespace, name: recordName(spec), body: { data: { appliedAt } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  async function configMaps(namespace: string): Promise<string[]> {
    const list = await cluster.core.listNamespacedConfigMap({ namespace });
    return list.items
      .map((item) => item.metadata!.name!)
      .filter((name) => name.startsWith('mayday-experiment-'))
      .sort();
  }

  it('deletes only finished experiments kept longer than the retention, in its scope, and nothing that is not a record of Mayday', async () => {
    const service = 'keepsvc';
    const expiredConclusion: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 10 };
    const recentDiscard: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 10 };
    const oldButRunning: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 10 };

    expect((await harness.deliver('ExperimentStarted', service, expiredConclusion)).status).toBe(200);
    expect(
      (await harness.deliver('ExperimentConcluded', service, { ...expiredConclusion, status: 'CONCLUDED', chosen: 'test1' })).status,
    ).toBe(200);
    // With the readiness gate the promotion completes once the winner is available (the watch finishes it).
    await eventually(async () => {
      const record = await cluster.core.readNamespacedConfigMap({ namespace, name: recordName(expiredConclusion) });
      expect(record.data).toMatchObject({ status: 'CONCLUDED', phase: 'applied' });
    }, 30_000);
    expect((await harness.deliver('ExperimentStarted', service, recentDiscard)).status).toBe(200);
    expect((await harness.deliver('ExperimentDiscarded', service, { ...recentDiscard, status: 'DISCARDED' })).status).toBe(200);
    expect((await harness.deliver('ExperimentStarted', service, oldButRunning)).status).toBe(200);
    // Settled before the snapshots: the canary gets its weight once its pod is ready.
    await eventually(async () => {
      const canary = (await cluster.ingresses(namespace)).find(
        (item) => item.metadata?.name === `${service}-ingress-${oldButRunning.id}-test1`,
      );
      expect(canary?.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight']).toBe('10');
    }, 30_000);
    await backdate(namespace, expiredConclusion, 31);
    await backdate(namespace, recentDiscard, 29);
    await backdate(namespace, oldButRunning, 400);
    // A ConfigMap of the same name pattern that Mayday did not make.
    await cluster.core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'mayday-experiment-theirs' }, data: { status: 'CONCLUDED', appliedAt: '2020-01-01T00:00:00Z' } },
    });
    // An expired record of the same shape in a namespace outside ALLOWED_NAMESPACES.
    const foreignRecord = recordToConfigMap({
      experimentId: experimentId(),
      workspace: service,
      namespace: outOfScope,
      status: 'CONCLUDED',
      event: 'ExperimentConcluded',
      appliedAt: new Date(Date.now() - 90 * DAY_MS).toISOString(),
      phase: 'applied',
      experiment: '{}',
    });
    await cluster.core.createNamespacedConfigMap({ namespace: outOfScope, body: foreignRecord });
    const before = await cluster.snapshot(namespace);
    const outOfScopeBefore = await cluster.snapshot(outOfScope);

    // The retention runs at start-up (and every hour).
    await harness.restart();
    await eventually(async () => expect(await configMaps(namespace)).not.toContain(recordName(expiredConclusion)));
    expect(await configMaps(namespace)).toEqual([recordName(recentDiscard), recordName(oldButRunning), 'mayday-experiment-theirs'].sort());
    // Only that record went: the promoted winner, the Services, routes and other records are untouched.
    const expected = { ...before };
    delete expected[`ConfigMap/${recordName(expiredConclusion)}`];
    expect(await cluster.snapshot(namespace)).toEqual(expected);
    expect(await cluster.snapshot(outOfScope)).toEqual(outOfScopeBefore);
    expect(outOfScopeBefore).toHaveProperty(`ConfigMap/${foreignRecord.metadata!.name}`);
  });
});
