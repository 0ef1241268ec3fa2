import { Injectable } from '@nestjs/common';
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterCache } from '../../src/kubernetes/cluster-cache.service';
import { KubeVersionConflictError } from '../../src/kubernetes/kube-errors';
import { KubeResourcesService } from '../../src/kubernetes/kube-resources.service';
import { LeaderElection } from '../../src/kubernetes/leader-election';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { MAYDAY_NAMESPACE, startMaydayWith, type RunningMayday } from '../support/mayday';
import { experiment, experimentId, webhook, type ExperimentSpec } from '../support/payloads';
import { timestamp, type Step } from '../support/lifecycle-steps';

const CANARY = 'nginx.ingress.kubernetes.io/canary';
const WEIGHT = 'nginx.ingress.kubernetes.io/canary-weight';
const APPLIED_FOR = 'mayday.superposition.io/applied-for';
const LEASE = 'mayday-leader';

/**
 * Holds the next canary Ingress apply until the test lets it go (a route write still on its way), and
 * can refuse every update of an experiment record as if another replica had always just written it.
 */
@Injectable()
class HeldRouteWrites extends KubeResourcesService {
  private held?: { reached: () => void; release: Promise<void> };
  recordsMovedElsewhere = false;

  override async createOrReplace<T extends KubernetesObject>(object: T): Promise<T> {
    const record = object.kind === 'ConfigMap' && object.metadata?.name?.startsWith('mayday-experiment-');
    if (this.recordsMovedElsewhere && record && object.metadata?.resourceVersion !== undefined) {
      throw new KubeVersionConflictError(`configmaps "${object.metadata.name}": the object has been modified`, 409, 'Conflict');
    }
    return super.createOrReplace(object);
  }

  holdNextCanaryWrite(): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    this.held = { reached, release: new Promise<void>((resolve) => (release = resolve)) };
    return { reached: reachedPromise, release };
  }

  override async apply<T extends KubernetesObject>(object: T, options?: { force?: boolean; dryRun?: boolean }): Promise<T> {
    const held = this.held;
    if (held && object.kind === 'Ingress' && object.metadata?.annotations?.[CANARY] === 'true') {
      this.held = undefined;
      held.reached();
      await held.release;
    }
    return super.apply(object, options);
  }
}

/**
 * Two replicas (two Maydays in this process, on one cluster) and a ramp's route write held back at one
 * of them while its record is written: the route write carries the resourceVersion it was planned
 * from, so when it lands after the other replica moved the experiment on, it fails and the event is
 * judged again, and the route keeps the newer state the record holds.
 */
describe('the route written alongside the record, across replicas', () => {
  const cluster = new Cluster();
  let a: RunningMayday;
  let b: RunningMayday;
  let heldAtA: HeldRouteWrites;

  beforeAll(async () => {
    // No readiness gate: the weights are given at once (no pods need to start).
    const env = { CANARY_READINESS_GATE: 'false' };
    a = await startMaydayWith(env, (builder) => builder.overrideProvider(KubeResourcesService).useClass(HeldRouteWrites));
    heldAtA = a.app.get(KubeResourcesService) as HeldRouteWrites;
    b = await startMaydayWith(env, (builder) => builder);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await cluster.objects
      .delete({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: LEASE, namespace: MAYDAY_NAMESPACE } })
      .catch(() => undefined);
  });

  const send = (replica: RunningMayday, service: string, spec: ExperimentSpec, step: Step) =>
    replica.post(
      '/webhooks/superposition',
      webhook(step.event, service, experiment({ ...spec, status: step.status, traffic: step.traffic, lastModified: step.lastModified })),
    );

  async function canaryIngress(namespace: string) {
    return (await cluster.ingresses(namespace)).find((ingress) => ingress.metadata?.annotations?.[CANARY] === 'true');
  }
  async function recordedLastModified(id: string): Promise<string | undefined> {
    const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${id}` });
    return record.data?.lastModified;
  }

  it('a ramp whose route write lands after another replica applied a newer ramp fails (409), is judged again, and leaves the newer state', async () => {
    const namespace = await cluster.createNamespace('fence');
    const service = 'fencesvc';
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace } };
    const base = Date.now();
    const started: Step = { event: 'ExperimentStarted', status: 'INPROGRESS', traffic: 10, lastModified: timestamp(base, 0) };
    const ramp: Step = { event: 'ExperimentInprogress', status: 'INPROGRESS', traffic: 30, lastModified: timestamp(base, 1) };
    const newer: Step = { event: 'ExperimentInprogress', status: 'INPROGRESS', traffic: 20, lastModified: timestamp(base, 2) };

    expect((await send(a, service, spec, started)).status).toBe(200);
    expect((await canaryIngress(namespace))?.metadata?.annotations?.[WEIGHT]).toBe('10');

    // A's ramp: its route write is held; its record is written meanwhile (the two go out together).
    const hold = heldAtA.holdNextCanaryWrite();
    const rampAtA = send(a, service, spec, ramp);
    await hold.reached;
    await eventually(async () => expect(await recordedLastModified(spec.id)).toBe(ramp.lastModified));
    expect((await canaryIngress(namespace))?.metadata?.annotations?.[WEIGHT]).toBe('10');

    // B reads A's record and the route A has not written yet, and applies the newer ramp.
    const atB = await send(b, service, spec, newer);
    expect(atB.status).toBe(200);
    expect(atB.body.result).toBe('applied');
    expect((await canaryIngress(namespace))?.metadata?.annotations?.[WEIGHT]).toBe('20');

    // A's route write lands now: planned from the version B replaced, it fails; A judges again and stands down.
    hold.release();
    const atA = await rampAtA;
    expect(atA.status).toBe(200);
    expect(atA.body.result).toBe('ignored');
    const canary = await canaryIngress(namespace);
    expect(canary?.metadata?.annotations?.[WEIGHT]).toBe('20');
    expect(canary?.metadata?.annotations?.[APPLIED_FOR]).toBe(newer.lastModified);
    expect(await recordedLastModified(spec.id)).toBe(newer.lastModified);
  });

  it('an event whose record other replicas move in every one of its judgements answers 503 with Retry-After, and a later delivery converges', async () => {
    const namespace = await cluster.createNamespace('moved');
    const service = 'movedsvc';
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace } };
    const base = Date.now();
    const started: Step = { event: 'ExperimentStarted', status: 'INPROGRESS', traffic: 10, lastModified: timestamp(base, 0) };
    const ramp: Step = { event: 'ExperimentInprogress', status: 'INPROGRESS', traffic: 30, lastModified: timestamp(base, 1) };
    expect((await send(a, service, spec, started)).status).toBe(200);

    heldAtA.recordsMovedElsewhere = true;
    let answer;
    try {
      answer = await send(a, service, spec, ramp);
    } finally {
      heldAtA.recordsMovedElsewhere = false;
    }
    expect(answer.status, JSON.stringify(answer.body)).toBe(503);
    expect(answer.headers?.get('retry-after')).toBe('1');
    expect(answer.body.message).toContain('moved by other replicas 5 times');
    expect(await recordedLastModified(spec.id)).toBe(started.lastModified);

    // Superposition delivers it again: it converges.
    const again = await send(a, service, spec, ramp);
    expect(again.status).toBe(200);
    expect(again.body.result).toBe('applied');
    expect(await recordedLastModified(spec.id)).toBe(ramp.lastModified);
    expect((await canaryIngress(namespace))?.metadata?.annotations?.[WEIGHT]).toBe('30');
  });

  /** The Lease mayday-leader, held for an hour by a replica that is not in this process. */
  async function holdLeaseElsewhere(): Promise<void> {
    // A Lease's times are MicroTime: six digits of fraction, which Date's own JSON form does not have.
    const now = new Date().toISOString().replace('Z', '000Z');
    await cluster.objects.create({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LEASE, namespace: MAYDAY_NAMESPACE },
      spec: { holderIdentity: 'another-replica', leaseDurationSeconds: 3600, acquireTime: now, renewTime: now },
    } as KubernetesObject);
  }

  /** How many reads (GET and list) this Mayday sent to the API server so far. */
  async function apiReads(replica: RunningMayday): Promise<number> {
    const metrics = (await replica.get('/metrics')).body as string;
    return [...metrics.matchAll(/^mayday_kube_api_calls_total\{verb="(?:get|list)",[^}]*\} (\d+)/gm)].reduce(
      (sum, [, n]) => sum + Number(n),
      0,
    );
  }

  it('a replica started after another recorded the experiment reads it from its caches once they are filled', async () => {
    const namespace = await cluster.createNamespace('cover');
    const service = 'coversvc';
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace } };
    const base = Date.now();
    expect(
      (await send(a, service, spec, { event: 'ExperimentStarted', status: 'INPROGRESS', traffic: 10, lastModified: timestamp(base, 0) }))
        .status,
    ).toBe(200);
    const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });

    // A new process (a restart): its caches are listed after the record was written. Another replica
    // holds the Lease, so b runs no leader's catch-up, whose reads would be counted with the ramp's.
    await b.close();
    await holdLeaseElsewhere();
    b = await startMaydayWith({ CANARY_READINESS_GATE: 'false', LEADER_ELECTION: 'true' }, (builder) => builder);
    expect(b.app.get(LeaderElection).isLeader()).toBe(false);
    const cache = b.app.get(ClusterCache);
    await eventually(async () => expect(cache.holdsWritesUpTo(record.metadata!.resourceVersion)).toBe(true));
    const before = await apiReads(b);
    const ramp = await send(b, service, spec, {
      event: 'ExperimentInprogress',
      status: 'INPROGRESS',
      traffic: 30,
      lastModified: timestamp(base, 1),
    });
    expect(ramp.status).toBe(200);
    expect(ramp.body.result).toBe('applied');
    expect(await apiReads(b)).toBe(before);
    expect((await canaryIngress(namespace))?.metadata?.annotations?.[WEIGHT]).toBe('30');
  });
});
