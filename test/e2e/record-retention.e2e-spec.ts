import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { recordToConfigMap } from '../../src/experiments/records/experiment-record';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { useMaydayWithSuperposition } from '../support/harness';
import { MAYDAY_NAMESPACE } from '../support/mayday';
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

  async function backdate(spec: ExperimentSpec, days: number): Promise<void> {
    const appliedAt = new Date(Date.now() - days * DAY_MS).toISOString();
    await cluster.core.patchNamespacedConfigMap(
      { namespace: MAYDAY_NAMESPACE, name: recordName(spec), body: { data: { appliedAt } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }

  /** This test's records (Mayday's namespace holds other tests' records too). */
  async function records(...specs: ExperimentSpec[]): Promise<string[]> {
    const list = await cluster.core.listNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE });
    const mine = new Set(specs.map(recordName));
    return list.items
      .map((item) => item.metadata!.name!)
      .filter((name) => mine.has(name))
      .sort();
  }

  it('deletes only finished experiments kept longer than the retention, in its scope, and nothing that is not a record of Mayday', async () => {
    const service = 'keepsvc';
    const expiredConclusion: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 10 };
    const recentDiscard: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 10 };
    const oldButRunning: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 10 };

    const first = await harness.deliver('ExperimentStarted', service, expiredConclusion);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(
      (await harness.deliver('ExperimentConcluded', service, { ...expiredConclusion, status: 'CONCLUDED', chosen: 'test1' })).status,
    ).toBe(200);
    // With the readiness gate the promotion completes once the winner is available (the watch finishes it).
    await eventually(async () => {
      const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: recordName(expiredConclusion) });
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
    await backdate(expiredConclusion, 31);
    await backdate(recentDiscard, 29);
    await backdate(oldButRunning, 400);
    // A ConfigMap of the same name pattern that Mayday did not make.
    const theirs: ExperimentSpec = { id: experimentId() };
    await cluster.core.createNamespacedConfigMap({
      namespace: MAYDAY_NAMESPACE,
      body: { metadata: { name: recordName(theirs) }, data: { status: 'CONCLUDED', appliedAt: '2020-01-01T00:00:00Z' } },
    });
    // An expired record of an experiment in a namespace outside ALLOWED_NAMESPACES.
    const outOfScopeSpec: ExperimentSpec = { id: experimentId() };
    const foreignRecord = recordToConfigMap(
      {
        experimentId: outOfScopeSpec.id,
        workspace: service,
        namespace: outOfScope,
        status: 'CONCLUDED',
        event: 'ExperimentConcluded',
        appliedAt: new Date(Date.now() - 90 * DAY_MS).toISOString(),
        phase: 'applied',
        experiment: '{}',
      },
      MAYDAY_NAMESPACE,
    );
    await cluster.core.createNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, body: foreignRecord });
    const before = await cluster.snapshot(namespace);
    const all = [expiredConclusion, recentDiscard, oldButRunning, theirs, outOfScopeSpec];

    // The retention runs at start-up (and every hour).
    await harness.restart();
    await eventually(async () => expect(await records(...all)).not.toContain(recordName(expiredConclusion)));
    expect(await records(...all)).toEqual([recentDiscard, oldButRunning, theirs, outOfScopeSpec].map(recordName).sort());
    // Only that record went: the promoted winner, the Services and routes are untouched.
    expect(await cluster.snapshot(namespace)).toEqual(before);
  });
});
