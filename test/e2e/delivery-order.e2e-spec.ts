import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { eventually, settled } from '../support/eventually';
import { MAYDAY_NAMESPACE, startMayday, type RunningMayday } from '../support/mayday';
import { experiment, experimentId, webhook, type ExperimentSpec } from '../support/payloads';
import { SuperpositionStandIn } from '../support/superposition-stand-in';
import { lifecycleSteps, timestamp, type Ending, type Step } from '../support/lifecycle-steps';

const MANAGED = 'app.kubernetes.io/managed-by=mayday';

/** Waits until the namespace's canary Ingress carries this weight (the readiness gate gives it once the pods are ready). */
async function untilCanaryWeight(cluster: Cluster, namespace: string, weight: string, timeoutMs: number): Promise<void> {
  await eventually(async () => {
    const canary = (await cluster.ingresses(namespace)).find((ingress) => ingress.metadata?.name?.includes('-ingress-'));
    expect(canary?.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight']).toBe(weight);
  }, timeoutMs);
}

describe('delivery as Superposition really does it: duplicated, late, out of order, concurrent', () => {
  const cluster = new Cluster();
  const standIn = new SuperpositionStandIn();
  let mayday: RunningMayday;

  beforeAll(async () => {
    await standIn.start();
    // Dozens of events resolve at once here: the stand-in may be slower than the 3 s default on a busy machine.
    mayday = await startMayday({ SUPERPOSITION_URL: standIn.url, SUPERPOSITION_TIMEOUT_MS: '15000' });
  });
  afterAll(async () => {
    await mayday?.close();
    await standIn.stop();
  });

  function send(service: string, spec: ExperimentSpec, step: Step) {
    const payload = experiment({
      ...spec,
      status: step.status,
      traffic: step.traffic,
      chosen: step.chosen,
      lastModified: step.lastModified,
    });
    return mayday.post('/webhooks/superposition', webhook(step.event, service, payload));
  }

  it('a late ExperimentInprogress after the conclusion does not resurrect a canary', async () => {
    const namespace = await cluster.createNamespace('late');
    const service = 'latesvc';
    standIn.workspace(service, {});
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace } };
    const base = Date.now();
    const started = { event: 'ExperimentStarted', status: 'INPROGRESS' as const, traffic: 10, lastModified: timestamp(base, 0) };
    const ramp = { event: 'ExperimentInprogress', status: 'INPROGRESS' as const, traffic: 30, lastModified: timestamp(base, 1) };
    const concluded = {
      event: 'ExperimentConcluded',
      status: 'CONCLUDED' as const,
      traffic: 30,
      chosen: 'control',
      lastModified: timestamp(base, 2),
    };
    expect((await send(service, spec, started)).status).toBe(200);
    expect((await send(service, spec, concluded)).status).toBe(200);
    const after = await settled(() => cluster.snapshot(namespace));

    const late = await send(service, spec, ramp);
    expect(late.status).toBe(200);
    expect(late.body.result).toBe('ignored');
    expect(late.body.reason).toMatch(/already CONCLUDED/);
    const retryOfStart = await send(service, spec, started);
    expect(retryOfStart.body.result).toBe('ignored');
    expect(await cluster.snapshot(namespace)).toEqual(after);
  });

  it('an older ramp arriving after a newer one is ignored', async () => {
    const namespace = await cluster.createNamespace('stale');
    const service = 'stalesvc';
    standIn.workspace(service, {});
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace } };
    const base = Date.now();
    await send(service, spec, { event: 'ExperimentStarted', status: 'INPROGRESS', traffic: 10, lastModified: timestamp(base, 0) });
    await send(service, spec, { event: 'ExperimentInprogress', status: 'INPROGRESS', traffic: 40, lastModified: timestamp(base, 2) });
    const stale = await send(service, spec, {
      event: 'ExperimentInprogress',
      status: 'INPROGRESS',
      traffic: 20,
      lastModified: timestamp(base, 1),
    });
    expect(stale.body.result).toBe('ignored');
    expect(stale.body.reason).toMatch(/stale event/);
    // The readiness gate gives the weight once the canary's pod is ready.
    await untilCanaryWeight(cluster, namespace, '40', 60_000);
  });

  it('applies a conclusion whose last_modified is older than the applied ramp (terminal statuses win), and keeps it', async () => {
    const namespace = await cluster.createNamespace('skew');
    const service = 'skewsvc';
    standIn.workspace(service, {});
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace } };
    const base = Date.now();
    await send(service, spec, { event: 'ExperimentStarted', status: 'INPROGRESS', traffic: 10, lastModified: timestamp(base, 0) });
    await send(service, spec, { event: 'ExperimentInprogress', status: 'INPROGRESS', traffic: 40, lastModified: timestamp(base, 3) });
    // The winner becomes available (the real controllers), so the promotion is not held by the readiness gate.
    await untilCanaryWeight(cluster, namespace, '40', 30_000);
    // Another Superposition replica, its clock a little behind, concluded it.
    const concluded = await send(service, spec, {
      event: 'ExperimentConcluded',
      status: 'CONCLUDED',
      traffic: 40,
      chosen: 'test1',
      lastModified: timestamp(base, 2),
    });
    expect(concluded.status).toBe(200);
    expect(concluded.body.result).toBe('applied');
    const winner = `${service}-dep-${spec.id}-test1`;
    expect((await cluster.services(namespace)).find((item) => item.metadata?.name === service)?.spec?.selector).toEqual({ app: winner });
    expect(await cluster.names(namespace)).toEqual({ deployments: [winner], services: [service], ingresses: [service] });
    const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });
    expect(record.data).toMatchObject({ status: 'CONCLUDED', phase: 'applied' });

    // The first terminal outcome stays: a later discard, or a conclusion for CONTROL, changes nothing.
    const after = await cluster.snapshot(namespace);
    const discarded = await send(service, spec, {
      event: 'ExperimentDiscarded',
      status: 'DISCARDED',
      traffic: 40,
      lastModified: timestamp(base, 4),
    });
    const otherWinner = await send(service, spec, {
      event: 'ExperimentConcluded',
      status: 'CONCLUDED',
      traffic: 40,
      chosen: 'control',
      lastModified: timestamp(base, 1),
    });
    for (const answer of [discarded, otherWinner]) {
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ result: 'ignored', reason: expect.stringMatching(/already CONCLUDED/) });
    }
    expect(await cluster.snapshot(namespace)).toEqual(after);
  });

  it('converges to the in-order result when every event is duplicated and shuffled, for several experiments at once', async () => {
    const namespaces = await Promise.all([cluster.createNamespace('chaos'), cluster.createNamespace('chaos')]);
    const endings: Ending[] = ['winner', 'control', 'discard', 'running', 'paused', 'winner', 'running', 'discard'];
    const base = Date.now();
    const experiments = endings.map((ending, index) => {
      const service = `chaos${index}`;
      standIn.workspace(service, { 'env.MODE': `mode-${index}` });
      const spec: ExperimentSpec = { id: experimentId(), context: { namespace: namespaces[index % 2] } };
      const steps = lifecycleSteps(ending, base, true);
      return { service, spec, steps, ending, namespace: namespaces[index % 2] };
    });

    // Every event twice, then each delivery displaced by at most 3 places, sent overlapping: late,
    // early, duplicated. But an ending is never the first state to arrive: Superposition sends the
    // start minutes before it (its retries of one event span ~40 s), so an ending waits until some
    // running state has been answered (timers alone cannot promise that on a loaded machine).
    let delivered = 0;
    await Promise.all(
      experiments.map(async ({ service, spec, steps }) => {
        const deliveries = steps.flatMap((step) => [step, step]);
        const order = deliveries.map((step, index) => ({ step, key: index + Math.random() * 3.5 })).sort((a, b) => a.key - b.key);
        let started!: () => void;
        const someRunningStateAnswered = new Promise<void>((resolve) => (started = resolve));
        const inFlight = order.map(async ({ step }, position) => {
          await new Promise((resolve) => setTimeout(resolve, position * 25 + Math.random() * 20));
          const ending = step.status === 'CONCLUDED' || step.status === 'DISCARDED';
          if (ending) await someRunningStateAnswered;
          const answer = await send(service, spec, step);
          if (step.status === 'INPROGRESS' || step.status === 'PAUSED') started();
          delivered += 1;
          expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        });
        await Promise.all(inFlight);
      }),
    );
    expect(delivered).toBe(experiments.reduce((sum, { steps }) => sum + steps.length * 2, 0));

    // What in-order delivery leaves, per experiment, once the controllers made the Deployments available
    // (the readiness gate holds weights and promotions until then, and the watch completes them).
    await eventually(async () => {
      // What in-order delivery leaves, per experiment.
      const expected = new Set<string>();
      for (const { service, spec, ending, namespace } of experiments) {
        const control = `${service}-dep-${spec.id}-control`;
        const test1 = `${spec.id}-test1`;
        expected.add(`${namespace}/Service/${service}`);
        expected.add(`${namespace}/Ingress/${service}`);
        if (ending === 'winner') {
          expected.add(`${namespace}/Deployment/${service}-dep-${test1}`);
        } else {
          expected.add(`${namespace}/Deployment/${control}`);
        }
        if (ending === 'running' || ending === 'paused') {
          expected.add(`${namespace}/Deployment/${service}-dep-${test1}`);
          expected.add(`${namespace}/Service/${service}-service-${test1}`);
          expected.add(`${namespace}/Ingress/${service}-ingress-${test1}`);
        }
      }
      const found = new Set<string>();
      for (const namespace of namespaces) {
        const [deployments, services, ingresses, configMaps] = await Promise.all([
          cluster.deployments(namespace, MANAGED),
          cluster.services(namespace, MANAGED),
          cluster.ingresses(namespace, MANAGED),
          cluster.core.listNamespacedConfigMap({ namespace, labelSelector: MANAGED }).then((list) => list.items),
        ]);
        for (const [kind, items] of [
          ['Deployment', deployments],
          ['Service', services],
          ['Ingress', ingresses],
          ['ConfigMap', configMaps],
        ] as const) {
          for (const item of items) found.add(`${namespace}/${kind}/${item.metadata?.name}`);
        }
      }
      expect([...found].sort()).toEqual([...expected].sort());

      for (const { service, spec, ending, namespace } of experiments) {
        const main = (await cluster.services(namespace)).find((item) => item.metadata?.name === service);
        const stable = ending === 'winner' ? `${service}-dep-${spec.id}-test1` : `${service}-dep-${spec.id}-control`;
        expect(main?.spec?.selector).toEqual({ app: stable });
        if (ending === 'running' || ending === 'paused') {
          const canary = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === `${service}-ingress-${spec.id}-test1`);
          expect(canary?.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight']).toBe(ending === 'running' ? '35' : '0');
        }
        const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });
        expect(record.data?.namespace).toBe(namespace);
        const finalStatus = { winner: 'CONCLUDED', control: 'CONCLUDED', discard: 'DISCARDED', running: 'INPROGRESS', paused: 'PAUSED' }[
          ending
        ];
        expect(record.data?.status).toBe(finalStatus);
      }
    }, 60_000);
  }, 180_000);
});
