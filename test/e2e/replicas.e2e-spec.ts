import { Watch, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { deliverLikeSuperposition, MAYDAY_NAMESPACE, type Reply } from '../support/mayday';
import { experiment, experimentId, webhook, type ExperimentSpec } from '../support/payloads';
import { buildMayday, currentLeader, leaderLease, MaydayProcess } from '../support/replicas';
import { SuperpositionStandIn } from '../support/superposition-stand-in';
import { lifecycleSteps, timestamp, type Ending, type Step } from '../support/lifecycle-steps';
import { controlPlane } from '../support/control-plane';
import { TcpProxy } from '../support/tcp-proxy';
import { holdNewPods, releaseHeldPods } from '../support/workloads';

const MANAGED = 'app.kubernetes.io/managed-by=mayday';
const WEIGHT = 'nginx.ingress.kubernetes.io/canary-weight';
/** Short leader election timings (client-go's defaults are 15 / 10 / 2 s), so that a takeover fits in a test. */
const LEASE_SECONDS = 4;
const RETRY_SECONDS = 1;

describe('three Mayday replicas (separate processes) on one cluster', () => {
  const cluster = new Cluster();
  const standIn = new SuperpositionStandIn();
  const replicas: MaydayProcess[] = [];
  let main: string;

  const env = () => ({
    SUPERPOSITION_URL: standIn.url,
    LEASE_DURATION_SECONDS: String(LEASE_SECONDS),
    RENEW_DEADLINE_SECONDS: '3',
    RETRY_PERIOD_SECONDS: String(RETRY_SECONDS),
  });

  beforeAll(async () => {
    main = buildMayday();
    await standIn.start();
    for (const name of ['replica-a', 'replica-b', 'replica-c']) replicas.push(new MaydayProcess(name, main, env()));
    await Promise.all(replicas.map((replica) => replica.start()));
  }, 600_000);

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.stop('SIGTERM')));
    await standIn.stop();
  });

  function send(replica: MaydayProcess, service: string, spec: ExperimentSpec, step: Step): Promise<Reply> {
    const payload = experiment({
      ...spec,
      status: step.status,
      traffic: step.traffic,
      chosen: step.chosen,
      lastModified: step.lastModified,
    });
    return replica.post('/webhooks/superposition', webhook(step.event, service, payload));
  }

  async function mainSelector(namespace: string, service: string): Promise<Record<string, string> | undefined> {
    return (await cluster.services(namespace)).find((item) => item.metadata?.name === service)?.spec?.selector;
  }

  it('elects exactly one leader; every replica is ready, and only the leader reports mayday_leader 1', async () => {
    await eventually(async () => {
      const leader = await currentLeader(replicas);
      expect(leader).toBeDefined();
      for (const replica of replicas) {
        expect((await replica.get('/health/ready')).status, replica.name).toBe(200);
        const metrics = await replica.get('/metrics');
        expect(metrics.body, replica.name).toMatch(new RegExp(`^mayday_leader ${replica === leader ? 1 : 0}$`, 'm'));
      }
    }, 20_000);
  });

  it('converges to the in-order result when duplicated, shuffled events go round-robin to three replicas at once, never recording one backwards', async () => {
    const namespaces = await Promise.all([cluster.createNamespace('rr'), cluster.createNamespace('rr')]);
    const endings: Ending[] = ['winner', 'control', 'discard', 'running', 'paused', 'winner'];
    const base = Date.now();
    const experiments = endings.map((ending, index) => {
      const service = `rr${index}`;
      standIn.workspace(service, { 'env.MODE': `mode-${index}` });
      const spec: ExperimentSpec = { id: experimentId(), context: { namespace: namespaces[index % 2] } };
      const steps = lifecycleSteps(ending, base);
      return { service, spec, steps, ending, namespace: namespaces[index % 2] };
    });

    // Every version of every record, as the API server stored them, in order.
    const history = new Map<string, { status: string; lastModified: string }[]>();
    const watching = await new Watch(cluster.kubeConfig).watch(
      `/api/v1/namespaces/${MAYDAY_NAMESPACE}/configmaps`,
      { labelSelector: 'mayday.superposition.io/role=record' },
      (_type: string, configMap: V1ConfigMap) => {
        const data = configMap.data ?? {};
        if (!data.experimentId) return;
        history.set(data.experimentId, [
          ...(history.get(data.experimentId) ?? []),
          { status: data.status, lastModified: data.lastModified },
        ]);
      },
      () => undefined,
    );

    let delivery = 0;
    let retried = 0;
    try {
      await Promise.all(
        experiments.map(async ({ service, spec, steps }) => {
          const deliveries = steps.flatMap((step) => [step, step]);
          const order = deliveries.map((step, index) => ({ step, key: index + Math.random() * 3.5 })).sort((a, b) => a.key - b.key);
          let started!: () => void;
          const someRunningStateAnswered = new Promise<void>((resolve) => (started = resolve));
          await Promise.all(
            order.map(async ({ step }, position) => {
              await new Promise((resolve) => setTimeout(resolve, position * 25 + Math.random() * 20));
              // As in Superposition, an ending follows the start by minutes, never before it is answered.
              if (step.status === 'CONCLUDED' || step.status === 'DISCARDED') await someRunningStateAnswered;
              const replica = replicas[delivery++ % replicas.length];
              // Superposition's retries (shortened): a replica may answer 503 when the others kept moving the experiment.
              const answers = await deliverLikeSuperposition(() => send(replica, service, spec, step), { firstDelayMs: 200 });
              retried += answers.length - 1;
              // Only 503 asks for another delivery: a 502 would be a write two replicas raced on, answered as a failure.
              expect(answers.filter((answer) => answer.status !== 200 && answer.status !== 503).map((answer) => answer.body)).toEqual([]);
              const last = answers[answers.length - 1];
              expect(last.status, JSON.stringify(answers.map((answer) => answer.body))).toBe(200);
              if (step.status === 'INPROGRESS' || step.status === 'PAUSED') started();
            }),
          );
        }),
      );

      await eventually(async () => {
        const expected = new Set<string>();
        for (const { service, spec, ending, namespace } of experiments) {
          const test1 = `${spec.id}-test1`;
          expected.add(`${namespace}/Service/${service}`);
          expected.add(`${namespace}/Ingress/${service}`);
          expected.add(`${namespace}/Deployment/${service}-dep-${ending === 'winner' ? test1 : `${spec.id}-control`}`);
          if (ending === 'running' || ending === 'paused') {
            expected.add(`${namespace}/Deployment/${service}-dep-${test1}`);
            expected.add(`${namespace}/Service/${service}-service-${test1}`);
            expected.add(`${namespace}/Ingress/${service}-ingress-${test1}`);
          }
        }
        const found = new Set<string>();
        for (const namespace of namespaces) {
          const [deployments, services, ingresses] = await Promise.all([
            cluster.deployments(namespace, MANAGED),
            cluster.services(namespace, MANAGED),
            cluster.ingresses(namespace, MANAGED),
          ]);
          for (const [kind, items] of [
            ['Deployment', deployments],
            ['Service', services],
            ['Ingress', ingresses],
          ] as const) {
            for (const item of items) found.add(`${namespace}/${kind}/${item.metadata?.name}`);
          }
        }
        // Nothing missing, nothing left over (no orphans).
        expect([...found].sort()).toEqual([...expected].sort());
        for (const { service, spec, ending, namespace } of experiments) {
          const stable = ending === 'winner' ? `${service}-dep-${spec.id}-test1` : `${service}-dep-${spec.id}-control`;
          expect(await mainSelector(namespace, service)).toEqual({ app: stable });
          if (ending === 'running' || ending === 'paused') {
            const canary = (await cluster.ingresses(namespace)).find(
              (item) => item.metadata?.name === `${service}-ingress-${spec.id}-test1`,
            );
            expect(canary?.metadata?.annotations?.[WEIGHT]).toBe(ending === 'running' ? '35' : '0');
          }
          const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });
          const status = { winner: 'CONCLUDED', control: 'CONCLUDED', discard: 'DISCARDED', running: 'INPROGRESS', paused: 'PAUSED' }[
            ending
          ];
          expect(record.data?.status).toBe(status);
        }
      }, 90_000);
    } finally {
      watching.abort();
    }

    // Each record only ever moved forward: running states by last_modified, and a terminal state stays.
    for (const { spec } of experiments) {
      const versions = history.get(spec.id) ?? [];
      expect(versions.length, `versions of the record of ${spec.id}`).toBeGreaterThan(0);
      for (const [index, version] of versions.entries()) {
        if (index === 0) continue;
        const previous = versions[index - 1];
        const terminal = (status: string) => status === 'CONCLUDED' || status === 'DISCARDED';
        if (terminal(previous.status)) expect(version.status, JSON.stringify(versions)).toBe(previous.status);
        else if (!terminal(version.status)) expect(version.lastModified >= previous.lastModified, JSON.stringify(versions)).toBe(true);
      }
    }
    process.stderr.write(`[replicas] ${delivery} deliveries over 3 replicas, ${retried} retried after a 5xx\n`);
  }, 240_000);

  it('lets exactly one of two experiments started at once on one service, at different replicas, win', async () => {
    const namespace = await cluster.createNamespace('claim');
    for (const round of [1, 2, 3]) {
      const service = `claimed${round}`;
      standIn.workspace(service, {});
      const first: ExperimentSpec = { id: experimentId(), context: { namespace } };
      const second: ExperimentSpec = { id: experimentId(), context: { namespace } };
      const step = { event: 'ExperimentStarted', status: 'INPROGRESS' as const, traffic: 10, lastModified: timestamp(Date.now(), 0) };
      const answers = await Promise.all([
        send(replicas[0], service, first, step),
        send(replicas[round % 2 ? 1 : 2], service, second, step),
      ]);
      expect(answers.map((answer) => answer.status).sort(), JSON.stringify(answers.map((answer) => answer.body))).toEqual([200, 422]);
      const loser = answers[0].status === 422 ? answers[0] : answers[1];
      expect(loser.body.message).toMatch(/one experiment at a time|still runs a canary/);
      const winner = answers[0].status === 200 ? first : second;
      const other = winner === first ? second : first;
      const names = await cluster.names(namespace);
      expect(names.deployments.filter((name) => name.startsWith(`${service}-`)).sort()).toEqual(
        [`${service}-dep-${winner.id}-control`, `${service}-dep-${winner.id}-test1`].sort(),
      );
      expect(names.deployments.some((name) => name.includes(other.id))).toBe(false);
      await expect(
        cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${other.id}` }),
      ).rejects.toThrow();
    }
  }, 120_000);

  it('hands the lease over on SIGTERM at once (released, not left to expire), and the replica exits cleanly', async () => {
    const leader = await eventually(async () => {
      const found = await currentLeader(replicas);
      expect(found).toBeDefined();
      return found!;
    });
    // Nest runs the shutdown hooks, then ends the process with the same signal (as an unhandled SIGTERM would).
    expect(await leader.stop('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' });
    // Released: the moment it has exited, the Lease no longer names it (nobody, or a survivor that took it at once).
    const lease = await leaderLease();
    expect(lease?.holder.startsWith(`${leader.name}_`), JSON.stringify(lease)).toBe(false);
    // (Its last log lines may not be flushed before the process ends: the Lease itself is the evidence. Without a
    // release, nobody could take it until a lease duration after the last renewal.)
    await eventually(async () => expect(await currentLeader(replicas.filter((replica) => replica !== leader))).toBeDefined(), 10_000);
    await leader.start();
  }, 120_000);

  it('completes a pending promotion after the leader is SIGKILLed: another replica takes the lease and acts on the winner becoming available', async () => {
    const namespace = await cluster.createNamespace('killed');
    const service = 'pend';
    standIn.workspace(service, {});
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 20 };
    const started = { event: 'ExperimentStarted', status: 'INPROGRESS' as const, traffic: 20, lastModified: '2026-08-20T07:40:00.000001Z' };
    expect((await send(replicas[0], service, spec, started)).status).toBe(200);
    const winner = `${service}-dep-${spec.id}-test1`;
    await eventually(async () => {
      const canary = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === `${service}-ingress-${spec.id}-test1`);
      expect(canary?.metadata?.annotations?.[WEIGHT]).toBe('20');
    }, 30_000);
    await holdNewPods(cluster, namespace, winner);
    const concluded = await send(replicas[1], service, spec, {
      event: 'ExperimentConcluded',
      status: 'CONCLUDED',
      traffic: 20,
      chosen: 'test1',
      lastModified: '2026-08-20T07:42:00.000001Z',
    });
    expect(concluded.body.result, JSON.stringify(concluded.body)).toBe('pending');

    const leader = (await currentLeader(replicas))!;
    expect(leader).toBeDefined();
    const killedAt = Date.now();
    await leader.stop('SIGKILL');
    const survivors = replicas.filter((replica) => replica !== leader);
    const successor = await eventually(async () => {
      const found = await currentLeader(survivors);
      expect(found).toBeDefined();
      return found!;
    }, 30_000);
    const takeoverMs = Date.now() - killedAt;
    process.stderr.write(
      `[replicas] lease taken over ${takeoverMs} ms after SIGKILL (lease ${LEASE_SECONDS} s, retry ${RETRY_SECONDS} s)\n`,
    );
    // client-go's bound is a lease duration and a retry period after the last renewal; a loaded machine may add some.
    expect(takeoverMs).toBeLessThan(2 * (LEASE_SECONDS + RETRY_SECONDS) * 1000);
    expect((await mainSelector(namespace, service))?.app, 'still pending').toBe(`${service}-dep-${spec.id}-control`);

    await releaseHeldPods(cluster, namespace);
    await eventually(async () => expect(await mainSelector(namespace, service)).toEqual({ app: winner }), 60_000);
    await eventually(async () => {
      expect(await cluster.names(namespace)).toEqual({ deployments: [winner], services: [service], ingresses: [service] });
      const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });
      expect(record.data).toMatchObject({ status: 'CONCLUDED', phase: 'applied' });
    }, 30_000);
    // The new leader did it, from the Deployment watch (the followers ignore it).
    await eventually(async () => {
      const completed = (replica: MaydayProcess) =>
        replica.logLines().some((line) => line.source === 'watch' && line.experimentId === spec.id && line.result === 'applied');
      expect(completed(successor)).toBe(true);
      for (const follower of survivors.filter((replica) => replica !== successor)) expect(completed(follower)).toBe(false);
    });
    await leader.start();
  }, 180_000);
  /** Stops every replica (each releases the Lease if it holds it) and starts these instead, in this order. */
  async function replaceAll(next: MaydayProcess[]): Promise<void> {
    await Promise.all(replicas.map((replica) => replica.stop('SIGTERM')));
    replicas.splice(0, replicas.length, ...next);
    for (const replica of next) await replica.start();
  }

  it('a leader cut off from the API server stops its background work within the renew deadline, and the new leader’s work stands', async () => {
    const api = new URL(controlPlane().apiServer);
    const proxy = new TcpProxy(api.hostname, Number(api.port));
    await proxy.start();
    try {
      // replica-p reaches the API server through the proxy only; started first, it takes the released Lease.
      const proxied = new MaydayProcess('replica-p', main, { ...env(), K8S_API_SERVER: `https://127.0.0.1:${proxy.port}` });
      await replaceAll([proxied, new MaydayProcess('replica-q', main, env()), new MaydayProcess('replica-r', main, env())]);
      await eventually(async () => expect(await currentLeader(replicas)).toBe(proxied), 30_000);

      const namespace = await cluster.createNamespace('cut');
      const service = 'cutsvc';
      standIn.workspace(service, {});
      const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 30 };
      const cutAt = Date.now();
      const cut = proxy.cut(15_000);
      // The webhook goes to a replica that still reaches the API server; the canary waits for its pod.
      const started = await send(replicas[1], service, spec, {
        event: 'ExperimentStarted',
        status: 'INPROGRESS',
        traffic: 30,
        lastModified: '2026-08-20T07:40:00.000001Z',
      });
      expect(started.status, JSON.stringify(started.body)).toBe(200);

      // The cut-off leader gives up at its renew deadline (counted from its last renewal, before the cut).
      const stepDown = await eventually(async () => {
        const line = proxied.logLines().find((entry) => String(entry.msg).startsWith('no longer leading: the Lease was not renewed'));
        expect(line).toBeDefined();
        return line!;
      }, 30_000);
      const stoppedAfterMs = Number(stepDown.time) - cutAt;
      // Another replica takes the Lease, converges what is unfinished, and raises the weight once the pod is ready.
      const successor = await eventually(async () => {
        const found = await currentLeader(replicas.slice(1));
        expect(found).toBeDefined();
        return found!;
      }, 30_000);
      const takenAfterMs = Date.now() - cutAt;
      await eventually(async () => {
        const canary = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === `${service}-ingress-${spec.id}-test1`);
        expect(canary?.metadata?.annotations?.[WEIGHT]).toBe('30');
      }, 60_000);
      process.stderr.write(
        `[replicas] cut leader stopped ${stoppedAfterMs} ms after the cut (renew deadline 3 s); ${successor.name} led ${takenAfterMs} ms after it\n`,
      );
      expect(stoppedAfterMs).toBeLessThan(3000 + 2000);

      const versions = async () => {
        const objects = [
          ...(await cluster.deployments(namespace, MANAGED)),
          ...(await cluster.services(namespace, MANAGED)),
          ...(await cluster.ingresses(namespace, MANAGED)),
          await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` }),
        ];
        return Object.fromEntries(objects.map((object) => [`${object.kind}/${object.metadata?.name}`, object.metadata?.resourceVersion]));
      };
      const before = await versions();
      // The old leader is back on the network: it sees the Lease held by another and stays a follower, writing nothing.
      await cut;
      await eventually(async () => {
        expect((await proxied.get('/health/ready')).status).toBe(200);
        expect((await proxied.get('/metrics')).body).toMatch(/^mayday_leader 0$/m);
      }, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 3 * RETRY_SECONDS * 1000));
      expect(await currentLeader(replicas)).toBe(successor);
      expect(await versions()).toEqual(before);
    } finally {
      await proxy.stop();
    }
  }, 300_000);

  it('answers every event through a rolling restart of all three replicas (a new one ready before an old one goes)', async () => {
    const namespace = await cluster.createNamespace('roll');
    const service = 'rollsvc';
    standIn.workspace(service, {});
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace } };
    const base = Date.now();
    let step = 0;
    let sending = true;
    let next = 0;
    const outcomes: Reply[][] = [];
    // The Service: any replica whose process runs (one shutting down answers 503 or refuses, and Superposition retries).
    const anyReplica = () => {
      const running = replicas.filter((replica) => replica.running);
      return running[next++ % running.length];
    };
    const client = (async () => {
      while (sending) {
        const current = step++;
        const event = current === 0 ? 'ExperimentStarted' : 'ExperimentInprogress';
        const state: Step = { event, status: 'INPROGRESS', traffic: 10 + (current % 40), lastModified: timestamp(base, current) };
        outcomes.push(await deliverLikeSuperposition(() => send(anyReplica(), service, spec, state)));
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    })();

    for (const [index, old] of [...replicas].entries()) {
      const fresh = new MaydayProcess(`${old.name}-${index + 2}`, main, env());
      await fresh.start();
      replicas.push(fresh);
      await old.stop('SIGTERM');
      replicas.splice(replicas.indexOf(old), 1);
    }
    sending = false;
    await client;

    const last = step - 1;
    const failed = outcomes.filter((answers) => answers[answers.length - 1].status !== 200);
    expect(failed, JSON.stringify(failed)).toEqual([]);
    const retriedEvents = outcomes.filter((answers) => answers.length > 1).length;
    process.stderr.write(`[replicas] rolling restart: ${outcomes.length} events, ${retriedEvents} needed a retry, all 2xx\n`);
    await eventually(async () => {
      const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });
      expect(record.data?.lastModified).toBe(timestamp(base, last));
      const canary = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === `${service}-ingress-${spec.id}-test1`);
      expect(canary?.metadata?.annotations?.[WEIGHT]).toBe(String(10 + (last % 40)));
    }, 60_000);
  }, 600_000);
});
