import { Injectable } from '@nestjs/common';
import type { KubernetesObject, V1Service } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeResourcesService, type DeleteOptions, type ObjectRef } from '../../src/kubernetes/kube-resources.service';
import { Cluster } from '../support/cluster';
import { startApiServer, startControlPlane, stopApiServer, stopControlPlane, type ControlPlane } from '../support/control-plane';
import { deliverLikeSuperposition, startMayday, startMaydayWith, type RunningMayday } from '../support/mayday';
import { experiment, experimentId, webhook, type ExperimentSpec } from '../support/payloads';
import { SuperpositionStandIn } from '../support/superposition-stand-in';
import { eventually, settled } from '../support/eventually';
import { untilRolledOut } from '../support/workloads';

/** Plays a process crash: every mutating call after the first `crashAt` ones throws, as if Mayday died there. */
@Injectable()
class CrashingKubeResources extends KubeResourcesService {
  crashAt = Number.POSITIVE_INFINITY;
  writes = 0;

  private step(): void {
    this.writes += 1;
    if (this.writes > this.crashAt) throw new Error(`injected crash before write ${this.writes}`);
  }
  override async apply<T extends KubernetesObject>(object: T, options?: { force?: boolean; dryRun?: boolean }): Promise<T> {
    this.step();
    return super.apply(object, options);
  }
  override async delete(ref: ObjectRef, options?: DeleteOptions): Promise<boolean> {
    this.step();
    return super.delete(ref, options);
  }
  override async mergeMetadata(ref: ObjectRef, metadata: Parameters<KubeResourcesService['mergeMetadata']>[1]): Promise<void> {
    this.step();
    return super.mergeMetadata(ref, metadata);
  }
  override async replaceServiceSelector(namespace: string, name: string, selector: Record<string, string>): Promise<V1Service> {
    this.step();
    return super.replaceServiceSelector(namespace, name, selector);
  }
}

/**
 * The end state of a namespace as labels, annotations, spec and data of every object written (not
 * Events: a crashed transition tells its story differently), once the controllers have rolled out
 * every Deployment.
 */
async function endState(cluster: Cluster, namespace: string, id: string): Promise<Record<string, unknown>> {
  for (const deployment of await cluster.deployments(namespace)) await untilRolledOut(cluster, namespace, deployment.metadata!.name!);
  const { Events: _events, ...objects } = await cluster.snapshot(namespace, { portable: true });
  // Each namespace runs its own experiment (an id is bound to one namespace): the id is written as `ID`.
  return JSON.parse(JSON.stringify(objects).replaceAll(id, 'ID'));
}

describe('a crash between any two API calls of a transition, and a restart before the redelivery', () => {
  const cluster = new Cluster();
  let mayday: RunningMayday;
  let kube: CrashingKubeResources;

  /** A new process: its caches are filled from the cluster, nothing of the crashed one survives. */
  async function startCrashable(): Promise<void> {
    await mayday?.close();
    mayday = await startMaydayWith({}, (builder) => builder.overrideProvider(KubeResourcesService).useClass(CrashingKubeResources));
    kube = mayday.app.get(KubeResourcesService) as CrashingKubeResources;
  }
  beforeAll(startCrashable);
  afterAll(() => mayday?.close());

  const send = (service: string, spec: ExperimentSpec, event: string) =>
    mayday.post('/webhooks/superposition', webhook(event, service, experiment(spec)));

  /**
   * Runs `transition` cleanly once to count its writes and see where it converges (with the
   * controllers and the readiness gate, once the watch has acted on the rollout), then, for each
   * write in turn: crashes the transition there, restarts Mayday, redelivers, and compares the end
   * state with the clean one.
   */
  async function crashEverywhere(
    name: string,
    prepare: (namespace: string, service: string, spec: ExperimentSpec) => Promise<void>,
    transition: { event: string; patch: Partial<ExperimentSpec> },
  ): Promise<number> {
    // A failed test before this one may have left its crash point set.
    kube.crashAt = Number.POSITIVE_INFINITY;
    const clean = await cluster.createNamespace(name);
    // One experiment per namespace: an experiment id is bound to the namespace its record names.
    const ids = new Map<string, string>();
    const idOf = (namespace: string): string => ids.get(namespace) ?? ids.set(namespace, experimentId()).get(namespace)!;
    const spec = (namespace: string): ExperimentSpec => ({
      id: idOf(namespace),
      context: { namespace },
      lastModified: '2026-08-20T07:37:40.100000Z',
    });
    await prepare(clean, `${name}svc`, spec(clean));
    kube.writes = 0;
    expect((await send(`${name}svc`, { ...spec(clean), ...transition.patch }, transition.event)).status).toBe(200);
    const writes = kube.writes;
    expect(writes).toBeGreaterThan(1);
    // What the watch does after the answer (a canary's weight once it is available) belongs to the end state.
    const expected = await settled(() => endState(cluster, clean, idOf(clean)));

    for (let crashAt = 0; crashAt < writes; crashAt++) {
      const namespace = await cluster.createNamespace(name);
      kube.crashAt = Number.POSITIVE_INFINITY;
      await prepare(namespace, `${name}svc`, spec(namespace));
      kube.crashAt = crashAt;
      kube.writes = 0;
      const crashed = await send(`${name}svc`, { ...spec(namespace), ...transition.patch }, transition.event);
      // The clean count can include a write of the watch (a canary made ready by fast nodes gets its weight
      // while the event is still answered): a run that finished in no more writes than this has no crash left.
      if (crashed.status === 200 && kube.writes <= crashAt) break;
      expect(crashed.status, `crash after ${crashAt} write(s)`).toBe(500);
      await startCrashable();
      const redelivered = await send(`${name}svc`, { ...spec(namespace), ...transition.patch }, transition.event);
      expect(redelivered.status, `redelivery after a crash after ${crashAt} write(s)`).toBe(200);
      await eventually(
        async () => expect(await endState(cluster, namespace, idOf(namespace)), `crash after ${crashAt}`).toEqual(expected),
        30_000,
      );
    }
    return writes;
  }

  const nothing = async () => undefined;
  /** Started, and the canary available with its weight (what a conclusion or discard starts from). */
  const started = async (namespace: string, service: string, spec: ExperimentSpec) => {
    expect((await send(service, spec, 'ExperimentStarted')).status).toBe(200);
    await untilRolledOut(cluster, namespace, `${service}-dep-${spec.id}-test1`);
    await eventually(async () => {
      const canary = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === `${service}-ingress-${spec.id}-test1`);
      expect(canary?.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight']).toBe('10');
    });
  };

  // Each crash point waits for real rollouts and restarts Mayday: minutes, not seconds.
  it('of a start converges on redelivery', async () => {
    expect(await crashEverywhere('cstart', nothing, { event: 'ExperimentStarted', patch: {} })).toBeGreaterThanOrEqual(6);
  }, 600_000);

  it('of a promotion converges on redelivery', async () => {
    await crashEverywhere('cpromo', started, {
      event: 'ExperimentConcluded',
      patch: { status: 'CONCLUDED', chosen: 'test1', lastModified: '2026-08-20T07:40:00.000000Z' },
    });
    // The end state is the promoted one: checked against a clean run inside crashEverywhere.
  }, 600_000);

  it('of a rollback converges on redelivery', async () => {
    await crashEverywhere('cdisc', started, {
      event: 'ExperimentDiscarded',
      patch: { status: 'DISCARDED', lastModified: '2026-08-20T07:40:00.000000Z' },
    });
  }, 600_000);
});

describe('faults of Kubernetes, Superposition and Mayday itself', () => {
  let plane: ControlPlane;
  let cluster: Cluster;
  const standIn = new SuperpositionStandIn();
  let mayday: RunningMayday | undefined;
  const env = () => ({ KUBECONFIG: plane.kubeconfig, SUPERPOSITION_URL: standIn.url, KUBE_RETRY_BUDGET_MS: '1500' });

  beforeAll(async () => {
    plane = await startControlPlane();
    cluster = new Cluster(plane.kubeconfig);
    await standIn.start();
    standIn.workspace('faulty', {});
  });
  afterAll(async () => {
    await mayday?.close();
    await standIn.stop();
    if (plane) await stopControlPlane(plane);
  });

  it('converges through an API server restart, failing resolves and a Mayday restart', async () => {
    mayday = await startMayday(env());
    const namespace = await cluster.createNamespace('faults');
    const id = experimentId();
    const spec: ExperimentSpec = { id, context: { namespace } };
    const at = (second: number) => `2026-08-20T07:40:${String(second).padStart(2, '0')}.000001Z`;
    const deliver = (event: string, patch: Partial<ExperimentSpec>) => {
      const payload = experiment({ ...spec, ...patch });
      standIn.putExperiment('faulty', payload);
      return deliverLikeSuperposition(() => mayday!.post('/webhooks/superposition', webhook(event, 'faulty', payload)), {
        maxRetries: 5,
      });
    };

    // Superposition fails the first 3 resolves: nothing is written until the configs resolve.
    standIn.failNext(3, 503, 'superposition restarting');
    const start = await deliver('ExperimentStarted', { traffic: 10, lastModified: at(0) });
    expect(start.at(-1)?.status).toBe(200);
    expect(start.slice(0, -1).map((answer) => answer.status)).toEqual(start.slice(0, -1).map(() => 502));
    expect(start.length).toBeGreaterThan(1);

    // The API server goes away in the middle of the lifecycle and comes back a few seconds later.
    await stopApiServer(plane);
    const restart = new Promise((resolve) => setTimeout(resolve, 2000)).then(() => startApiServer(plane));
    const ramp = await deliver('ExperimentInprogress', { traffic: 40, lastModified: at(1) });
    await restart;
    expect(ramp[0].status).toBe(503);
    expect(ramp.at(-1)?.status).toBe(200);
    const weight = async () =>
      (await cluster.ingresses(namespace)).find((ingress) => ingress.metadata?.name === `faulty-ingress-${id}-test1`)?.metadata
        ?.annotations?.['nginx.ingress.kubernetes.io/canary-weight'];
    // The readiness gate: the weight once the controllers (which reconnect too) report the canary's pod ready.
    await eventually(async () => expect(await weight()).toBe('40'), 30_000);

    // Mayday restarts between two events; what it applied is read back from the cluster.
    await mayday.close();
    mayday = await startMayday(env());
    const stale = await deliver('ExperimentInprogress', { traffic: 20, lastModified: at(0) });
    expect(stale.at(-1)?.body.result).toBe('ignored');
    expect(await weight()).toBe('40');
    const concluded = await deliver('ExperimentConcluded', { status: 'CONCLUDED', traffic: 40, chosen: 'test1', lastModified: at(2) });
    expect(concluded.at(-1)?.status).toBe(200);
    await eventually(async () =>
      expect(await cluster.names(namespace)).toEqual({
        deployments: [`faulty-dep-${id}-test1`],
        services: ['faulty'],
        ingresses: ['faulty'],
      }),
    );
  }, 180_000);

  it('finishes the event in flight on shutdown and refuses new ones meanwhile', async () => {
    await mayday?.close();
    mayday = await startMayday(env());
    const namespace = await cluster.createNamespace('drain');
    standIn.delayMs = 1500;
    try {
      const resolvesBefore = standIn.resolveCount;
      const inFlight = mayday.post(
        '/webhooks/superposition',
        webhook('ExperimentStarted', 'faulty', experiment({ id: experimentId(), context: { namespace } })),
      );
      // In flight for sure: its resolve has reached Superposition, which answers only 1.5 s later.
      await eventually(async () => expect(standIn.resolveCount).toBeGreaterThan(resolvesBefore));
      const closing = mayday.close();
      // Draining shows first in the readiness probe (the Service stops sending); then a new event is refused.
      const draining = mayday;
      await eventually(async () => expect((await draining.get('/health/ready')).status).toBe(503));
      const refused = await mayday.post(
        '/webhooks/superposition',
        webhook('ExperimentStarted', 'faulty', experiment({ id: experimentId(), context: { namespace } })),
      );
      expect(refused.status).toBe(503);
      expect((await inFlight).status).toBe(200);
      await closing;
      mayday = undefined;
      expect((await cluster.names(namespace)).ingresses).toHaveLength(2);
    } finally {
      standIn.delayMs = 0;
    }
  }, 120_000);
});
