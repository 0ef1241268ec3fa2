import type { KubernetesObject, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { UnprocessableEventError } from '../../src/common/errors';
import type { ChangeSet } from '../../src/experiments/transitions/change-set';
import { ChangeWriter } from '../../src/experiments/transitions/change-writer';
import type { KubeResourcesService, ObjectRef } from '../../src/kubernetes/kube-resources.service';
import { withAppliedHash } from '../../src/kubernetes/object-diff';
import { MetricsService } from '../../src/metrics/metrics.service';

const object = (kind: string, name: string, uid?: string): KubernetesObject => ({
  apiVersion: kind === 'Deployment' ? 'apps/v1' : kind === 'Ingress' ? 'networking.k8s.io/v1' : 'v1',
  kind,
  metadata: { name, namespace: 'ns', ...(uid ? { uid } : {}) },
});

/** A KubeResourcesService that records every write in order; `gone` names objects already deleted. */
function recordingKube(options: { gone?: string[]; selectorAfterSwitch?: Record<string, string> } = {}) {
  const calls: string[] = [];
  const step = async <T>(call: string, result: T): Promise<T> => {
    // Yield, so that writes meant to run together overlap and a write that waits for them comes after.
    await new Promise((resolve) => setTimeout(resolve, 1));
    calls.push(call);
    return result;
  };
  const kube = {
    apply: (desired: KubernetesObject) =>
      step(`apply ${desired.kind} ${desired.metadata?.name}`, { ...desired, metadata: { ...desired.metadata, uid: 'new' } }),
    mergeMetadata: (ref: ObjectRef, metadata: object) => step(`merge ${ref.kind} ${ref.name} ${Object.keys(metadata).join()}`, undefined),
    replaceServiceSelector: (_namespace: string, name: string, selector: Record<string, string>) =>
      step(`switch Service ${name}`, { spec: { selector: options.selectorAfterSwitch ?? selector } } as V1Service),
    delete: (ref: ObjectRef, { uid }: { uid?: string }) => step(`delete ${ref.kind} ${ref.name} ${uid}`, !options.gone?.includes(ref.name)),
  };
  return { kube: kube as unknown as KubeResourcesService, calls };
}

const empty = (parts: Partial<ChangeSet>): ChangeSet => ({
  workloads: [],
  relabels: [],
  failures: [],
  deletes: [],
  canaries: [],
  record: { phase: 'applied' },
  events: () => [],
  ...parts,
});

describe('ChangeWriter', () => {
  it('writes the workloads, then their labels, then the main Service, then the routes in order, then deletes', async () => {
    const { kube, calls } = recordingKube({ gone: ['old-svc'] });
    const written = await new ChangeWriter(kube, new MetricsService()).write(
      empty({
        workloads: [{ desired: object('Deployment', 'canary') }, { desired: object('Service', 'canary-svc') }],
        failures: [{ deployment: object('Deployment', 'broken'), annotations: { failed: 'x' }, reason: 'CrashLoopBackOff: 5 restarts' }],
        relabels: [{ object: object('Deployment', 'winner'), labels: { role: 'stable' } }],
        mainService: { desired: object('Service', 'main'), live: object('Service', 'main', 'uid-main') },
        routes: {
          writes: [{ desired: object('Ingress', 'main') }, { desired: object('Ingress', 'canary') }],
          deletes: [object('Ingress', 'old', 'uid-old')],
        },
        deletes: [object('Service', 'old-svc', 'uid-1'), object('Deployment', 'old-dep', 'uid-2')],
      }),
    );
    expect(calls.slice(0, 2).sort()).toEqual(['apply Deployment canary', 'apply Service canary-svc']);
    expect(calls.slice(2)).toEqual([
      'merge Deployment broken annotations',
      'merge Deployment winner labels',
      'apply Service main',
      'apply Ingress main',
      'apply Ingress canary',
      'delete Ingress old uid-old',
      ...calls.slice(8, 10),
    ]);
    expect(calls.slice(8).sort()).toEqual(['delete Deployment old-dep uid-2', 'delete Service old-svc uid-1']);
    expect(written.actions.map((action) => `${action.action} ${action.kind} ${action.name}`)).toEqual([
      'created Deployment canary',
      'created Service canary-svc',
      'updated Deployment winner',
      'updated Service main',
      'created Ingress main',
      'created Ingress canary',
      'deleted Ingress old',
      'deleted Deployment old-dep',
    ]);
    // Already gone: not reported as deleted.
    expect(written.deleted.map((action) => action.name)).toEqual(['old-dep']);
  });

  it('skips what is as applied, and a selector that already selects the winner', async () => {
    const { kube, calls } = recordingKube();
    const desired = object('Deployment', 'canary');
    const main = { ...object('Service', 'main'), spec: { selector: { app: 'winner' } } } as V1Service;
    const written = await new ChangeWriter(kube, new MetricsService()).write(
      empty({ workloads: [{ desired, live: withAppliedHash(desired) }], mainService: { service: main, deploymentName: 'winner' } }),
    );
    expect(calls).toEqual([]);
    expect(written.actions.map((action) => action.action)).toEqual(['unchanged', 'unchanged']);
  });

  it("refuses (422) when a user's Service still selects something else after the switch", async () => {
    const { kube } = recordingKube({ selectorAfterSwitch: { app: 'winner', tier: 'web' } });
    const main = { ...object('Service', 'main'), spec: { selector: { app: 'legacy' } } } as V1Service;
    await expect(
      new ChangeWriter(kube, new MetricsService()).write(empty({ mainService: { service: main, deploymentName: 'winner' } })),
    ).rejects.toThrow(UnprocessableEventError);
  });
});
