import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { recordName } from '../../src/experiments/records/experiment-record';
import type { Cluster } from '../support/cluster';
import { startApiServer, stopApiServer, type ControlPlane } from '../support/control-plane';
import { eventually, settled } from '../support/eventually';
import { ClusterRooms } from '../../src/clusters/cluster-rooms.service';
import { useMaydayWithSuperposition } from '../support/harness';
import { MAYDAY_NAMESPACE } from '../support/mayday';
import { tenantWithEditRights } from '../support/mayday-rbac';
import { experimentId, type ExperimentSpec } from '../support/payloads';
import { testTools } from '../support/test-tools';
import { CLUSTER_A, CLUSTER_B, useTwoClusters } from '../support/two-clusters';

/**
 * One Mayday, two clusters (CLUSTERS=a,b; README, "Several clusters"): the file's cluster `a` (with
 * controllers) and a bare second control plane `b`, one kubeconfig naming both, Mayday's RBAC of deploy/
 * in each, Superposition through the stand-in. The experiment's context picks the cluster.
 */

/** A last_modified after every event a test sent so far. */
const later = () => new Date(Date.now() + 60_000).toISOString();
const eq = (name: string, value: unknown) => ({ '==': [{ var: name }, value] });
const within = (name: string, values: string[]) => ({ in: [{ var: name }, values] });

async function recordOf(cluster: Cluster, id: string): Promise<Record<string, string> | undefined> {
  try {
    return (await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: recordName(id) })).data;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

async function canaryWeight(cluster: Cluster, namespace: string, service: string, variantId: string): Promise<string | undefined> {
  const ingress = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === `${service}-ingress-${variantId}`);
  return ingress?.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight'];
}

/** A ServiceAccount bound to the built-in edit role in one namespace of one cluster, and its clients. */
async function tenantOf(cluster: Cluster, plane: ControlPlane, namespace: string): Promise<{ core: CoreV1Api; apps: AppsV1Api }> {
  const token = await tenantWithEditRights(cluster.kubeconfigPath, namespace);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'a', server: plane.apiServer, caFile: join(plane.runDir, 'certs', 'apiserver.crt') }],
    users: [{ name: 'tenant', token }],
    contexts: [{ name: 'tenant', cluster: 'a', user: 'tenant' }],
    currentContext: 'tenant',
  });
  const tenant = { core: kubeConfig.makeApiClient(CoreV1Api), apps: kubeConfig.makeApiClient(AppsV1Api) };
  // Edit rights here, none in Mayday's namespace.
  await expect(tenant.core.listNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE })).rejects.toMatchObject({ code: 403 });
  return tenant;
}

describe('several clusters from one Mayday', () => {
  const two = useTwoClusters();
  // Cluster b has no controllers: without the gate, weights and promotions follow the events alone.
  const harness = useMaydayWithSuperposition(() => ({
    KUBECONFIG: two.kubeconfig,
    CLUSTERS: `${CLUSTER_A},${CLUSTER_B}`,
    CANARY_READINESS_GATE: 'false',
    // A cluster that is down answers its events within a second or two (503), not after the default 6 s of retries.
    KUBE_RETRY_BUDGET_MS: '1000',
  }));

  it('puts an experiment in the cluster its context names (the current context without one), and its record there', async () => {
    const namespace = await two.createNamespace('one-each');
    const inA: ExperimentSpec = { id: experimentId(), context: { cluster: CLUSTER_A, namespace } };
    const inB: ExperimentSpec = { id: experimentId(), context: { and: [eq('namespace', namespace), eq('cluster', CLUSTER_B)] } };
    const byDefault: ExperimentSpec = { id: experimentId(), context: { namespace } };

    const answerA = await harness.deliver('ExperimentStarted', 'svca', inA);
    expect(answerA.status, JSON.stringify(answerA.body)).toBe(200);
    expect(answerA.body).toMatchObject({ result: 'applied', cluster: CLUSTER_A, namespace });
    const answerB = await harness.deliver('ExperimentStarted', 'svcb', inB);
    expect(answerB.status, JSON.stringify(answerB.body)).toBe(200);
    expect(answerB.body).toMatchObject({ result: 'applied', cluster: CLUSTER_B, namespace });
    const answerDefault = await harness.deliver('ExperimentStarted', 'svcd', byDefault);
    expect(answerDefault.body).toMatchObject({ result: 'applied', cluster: CLUSTER_A });

    expect((await two.clusterA.names(namespace)).deployments).toEqual([
      `svca-dep-${inA.id}-control`,
      `svca-dep-${inA.id}-test1`,
      `svcd-dep-${byDefault.id}-control`,
      `svcd-dep-${byDefault.id}-test1`,
    ]);
    expect(await two.clusterB.names(namespace)).toEqual({
      deployments: [`svcb-dep-${inB.id}-control`, `svcb-dep-${inB.id}-test1`],
      services: ['svcb', `svcb-service-${inB.id}-test1`],
      ingresses: ['svcb', `svcb-ingress-${inB.id}-test1`],
    });
    expect(await canaryWeight(two.clusterB, namespace, 'svcb', `${inB.id}-test1`)).toBe('10');
    // Each cluster holds the records of its own experiments, and only those.
    expect(await recordOf(two.clusterA, inA.id)).toBeDefined();
    expect(await recordOf(two.clusterB, inA.id)).toBeUndefined();
    expect(await recordOf(two.clusterB, inB.id)).toMatchObject({ namespace, workspace: 'svcb' });
    expect(await recordOf(two.clusterA, inB.id)).toBeUndefined();
    // The Events are written in the cluster concerned.
    await eventually(async () =>
      expect((await two.clusterB.snapshot(namespace)).Events).toEqual(
        expect.arrayContaining([expect.stringMatching(new RegExp(`^Normal CanaryCreated Deployment/svcb-dep-${inB.id}-test1`))]),
      ),
    );
  });

  it('rolls an experiment whose context names both clusters out in both, and concludes it in both', async () => {
    const namespace = await two.createNamespace('spanning');
    const spec: ExperimentSpec = {
      id: experimentId(),
      context: { and: [eq('namespace', namespace), within('cluster', [CLUSTER_A, CLUSTER_B])] },
      traffic: 20,
    };
    const started = await harness.deliver('ExperimentStarted', 'span', spec);
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    expect(started.body).toMatchObject({ result: 'applied', experimentId: spec.id });
    expect(started.body.clusters.map((report: any) => [report.cluster, report.statusCode, report.result])).toEqual([
      [CLUSTER_A, 200, 'applied'],
      [CLUSTER_B, 200, 'applied'],
    ]);
    for (const cluster of [two.clusterA, two.clusterB]) {
      expect(await canaryWeight(cluster, namespace, 'span', `${spec.id}-test1`)).toBe('20');
      // Each cluster's record holds the experiment as that cluster sees it: its own cluster only.
      expect(JSON.parse((await recordOf(cluster, spec.id))!.experiment).context.and[1]).toEqual(
        eq('cluster', cluster === two.clusterA ? CLUSTER_A : CLUSTER_B),
      );
    }
    // Superposition resolved each variant once per cluster, with that cluster in the context.
    const resolvedClusters = harness.standIn
      .resolveRequests()
      .map((request) => (request.body as { context?: { cluster?: string; variantIds?: string[] } })?.context)
      .filter((context) => context?.variantIds?.[0] === `${spec.id}-test1`)
      .map((context) => context?.cluster)
      .sort();
    expect(resolvedClusters).toEqual([CLUSTER_A, CLUSTER_B]);

    // The status API and the metrics show each cluster.
    const status = await harness.mayday.get(`/experiments/${spec.id}`);
    expect(status.status).toBe(200);
    expect(status.body.clusters.map((view: any) => [view.cluster, view.namespace, view.status])).toEqual([
      [CLUSTER_A, namespace, 'INPROGRESS'],
      [CLUSTER_B, namespace, 'INPROGRESS'],
    ]);
    const list = await harness.mayday.get(`/experiments?namespace=${namespace}`);
    expect(list.body.experiments.map((view: any) => view.cluster).sort()).toEqual([CLUSTER_A, CLUSTER_B]);
    const metrics = await harness.mayday.get('/metrics');
    expect(metrics.body).toMatch(new RegExp(`mayday_canary_weight\\{[^}]*experiment="${spec.id}"[^}]*cluster="${CLUSTER_B}"\\} 20`));
    expect(metrics.body).toMatch(/mayday_webhook_events_total\{[^}]*cluster="b"\}/);
    expect(metrics.body.match(/^# TYPE mayday_process_cpu_user_seconds_total/gm)).toHaveLength(1);

    const concluded = await harness.deliver('ExperimentConcluded', 'span', { ...spec, status: 'CONCLUDED', chosen: 'test1' });
    expect(concluded.status, JSON.stringify(concluded.body)).toBe(200);
    for (const cluster of [two.clusterA, two.clusterB]) {
      await eventually(async () =>
        expect(await cluster.names(namespace)).toEqual({
          deployments: [`span-dep-${spec.id}-test1`],
          services: ['span'],
          ingresses: ['span'],
        }),
      );
      const main = await cluster.core.readNamespacedService({ namespace, name: 'span' });
      expect(main.spec?.selector).toEqual({ app: `span-dep-${spec.id}-test1` });
      expect((await recordOf(cluster, spec.id))?.status).toBe('CONCLUDED');
    }
  });

  it("shows each cluster's part of an experiment on the rollout page", async () => {
    const namespace = await two.createNamespace('page');
    const spec: ExperimentSpec = {
      id: experimentId(),
      context: { and: [eq('namespace', namespace), within('cluster', [CLUSTER_A, CLUSTER_B])] },
      traffic: 15,
    };
    expect((await harness.deliver('ExperimentStarted', 'pagesvc', spec)).status).toBe(200);
    const { chromium: executablePath } = testTools();
    const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${harness.mayday.url}/ui/`);
      // WEBHOOK_AUTH=none in this file: the page shows the board without a sign-in.
      const cards = page.locator(`[data-testid="experiment"][data-experiment-id="${spec.id}"]`);
      await eventually(async () => expect(await cards.count()).toBe(2));
      const clusters = await cards.locator('[data-testid="cluster"]').allTextContents();
      expect(clusters.map((label) => label.trim()).sort()).toEqual([`cluster ${CLUSTER_A}`, `cluster ${CLUSTER_B}`]);
    } finally {
      await browser.close();
    }
  });

  it("reports each cluster's own resync round on GET /resync, the default cluster's also as `last`", async () => {
    // RESYNC_INTERVAL_SECONDS is 0 in the tests: one round in each cluster, as each one's timer would start it.
    const before = (await harness.mayday.get('/resync')).body;
    expect(before.clusters).toEqual([
      { cluster: CLUSTER_A, last: null },
      { cluster: CLUSTER_B, last: null },
    ]);
    const rounds = await Promise.all(harness.mayday.app.get(ClusterRooms).all.map((room) => room.reconciler.resync()));
    const { body } = await harness.mayday.get('/resync');
    expect(body.clusters).toEqual([
      { cluster: CLUSTER_A, last: rounds[0] },
      { cluster: CLUSTER_B, last: rounds[1] },
    ]);
    expect(body.last).toEqual(rounds[0]);
    expect(rounds[0]).not.toBe(rounds[1]);
  });

  it('refuses an unknown cluster with a 422 naming the dimension and the clusters, and writes nothing in either', async () => {
    const namespace = await two.createNamespace('unknown');
    const named: ExperimentSpec = { id: experimentId(), context: { cluster: 'c', namespace } };
    const answer = await harness.deliver('ExperimentStarted', 'lost', named);
    expect(answer.status).toBe(422);
    expect(answer.body.message).toBe('context dimension "cluster" names "c"; the clusters Mayday knows (CLUSTERS) are a, b');
    // One known and one unknown: refused as a whole, before anything is written in the known one.
    const partly: ExperimentSpec = { id: experimentId(), context: { and: [eq('namespace', namespace), within('cluster', ['a', 'c'])] } };
    const partlyAnswer = await harness.deliver('ExperimentStarted', 'lost', partly);
    expect(partlyAnswer.status).toBe(422);
    expect(partlyAnswer.body.message).toMatch(/names "c"/);
    for (const cluster of [two.clusterA, two.clusterB]) {
      expect(await cluster.snapshot(namespace)).toEqual({});
      expect(await recordOf(cluster, named.id)).toBeUndefined();
      expect(await recordOf(cluster, partly.id)).toBeUndefined();
    }
  });

  it('never lets what a tenant writes in cluster a make Mayday write in cluster b', async () => {
    const namespace = await two.createNamespace('tenant');
    const own: ExperimentSpec = { id: experimentId(), context: { cluster: CLUSTER_A, namespace } };
    expect((await harness.deliver('ExperimentStarted', 'tsvc', own)).status).toBe(200);
    const canary = `tsvc-dep-${own.id}-test1`;
    // The tenant, with the built-in edit rights in this namespace of cluster a, labels the canary and a
    // Deployment of its own as cluster b's, and plants a record-like ConfigMap and a "cluster" ConfigMap naming b.
    const tenant = await tenantOf(two.clusterA, two.a, namespace);
    const claimB = { 'mayday.superposition.io/cluster': CLUSTER_B, cluster: CLUSTER_B };
    const live = await tenant.apps.readNamespacedDeployment({ namespace, name: canary });
    live.metadata!.labels = { ...live.metadata!.labels, ...claimB };
    live.metadata!.annotations = { ...live.metadata!.annotations, ...claimB };
    await tenant.apps.replaceNamespacedDeployment({ namespace, name: canary, body: live });
    await tenant.apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: {
          name: `tsvc-dep-${own.id}-rogue`,
          labels: { 'mayday.superposition.io/workspace': 'tsvc', 'mayday.superposition.io/experiment': own.id, ...claimB },
        },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'rogue' } },
          template: { metadata: { labels: { app: 'rogue' } }, spec: { containers: [{ name: 'c', image: 'rogue:1' }] } },
        },
      },
    });
    for (const [name, data] of [
      [recordName(own.id), { namespace, workspace: 'tsvc', cluster: CLUSTER_B, experimentId: own.id }],
      ['mayday-cluster', { cluster: CLUSTER_B, [CLUSTER_B]: namespace }],
    ] as const) {
      await tenant.core.createNamespacedConfigMap({ namespace, body: { metadata: { name, labels: claimB }, data } });
    }

    // The watch in cluster a sees those changes, and the experiment goes on: still only in cluster a.
    const ramp = await harness.deliver('ExperimentInprogress', 'tsvc', { ...own, traffic: 30, lastModified: later() });
    expect(ramp.status, JSON.stringify(ramp.body)).toBe(200);
    expect(ramp.body.cluster).toBe(CLUSTER_A);
    expect(await canaryWeight(two.clusterA, namespace, 'tsvc', `${own.id}-test1`)).toBe('30');
    expect(await settled(() => two.clusterB.snapshot(namespace))).toEqual({});
    expect(await recordOf(two.clusterB, own.id)).toBeUndefined();
  });

  it('keeps serving cluster a while cluster b is down (b gets 503), and converges b when it is back', async () => {
    const namespace = await two.createNamespace('outage');
    const spanning: ExperimentSpec = {
      id: experimentId(),
      context: { and: [eq('namespace', namespace), within('cluster', [CLUSTER_A, CLUSTER_B])] },
      traffic: 10,
    };
    const onlyB: ExperimentSpec = { id: experimentId(), context: { cluster: CLUSTER_B, namespace } };
    // One ramp, delivered again as Superposition retries it: the same last_modified every time.
    const ramped: ExperimentSpec = { ...spanning, traffic: 30, lastModified: later() };
    expect((await harness.deliver('ExperimentStarted', 'both', spanning)).status).toBe(200);

    await stopApiServer(two.b);
    try {
      const onlyA: ExperimentSpec = { id: experimentId(), context: { cluster: CLUSTER_A, namespace } };
      const answerA = await harness.deliver('ExperimentStarted', 'onlya', onlyA);
      expect(answerA.status, JSON.stringify(answerA.body)).toBe(200);
      expect(answerA.body.cluster).toBe(CLUSTER_A);

      const answerB = await harness.deliver('ExperimentStarted', 'onlyb', onlyB);
      expect(answerB.status, JSON.stringify(answerB.body)).toBe(503);
      expect(answerB.headers?.get('retry-after')).toBe('1');
      expect(answerB.body.clusters).toEqual([expect.objectContaining({ cluster: CLUSTER_B, statusCode: 503 })]);

      // A ramp of the experiment in both: applied in a, 503 for b, with the report per cluster.
      const ramp = await harness.deliver('ExperimentInprogress', 'both', ramped);
      expect(ramp.status, JSON.stringify(ramp.body)).toBe(503);
      expect(ramp.body.message).toMatch(/^cluster "b": /);
      expect(ramp.body.clusters.map((report: any) => [report.cluster, report.statusCode])).toEqual([
        [CLUSTER_A, 200],
        [CLUSTER_B, 503],
      ]);
      expect(await canaryWeight(two.clusterA, namespace, 'both', `${spanning.id}-test1`)).toBe('30');

      // Ready while the default cluster answers, naming the one that does not.
      const ready = await harness.mayday.get('/health/ready');
      expect(ready.status, JSON.stringify(ready.body)).toBe(200);
      expect(ready.body.details.kubernetes).toMatchObject({
        status: 'up',
        defaultCluster: CLUSTER_A,
        failing: [CLUSTER_B],
        clusters: { a: { status: 'up' }, b: { status: 'down' } },
      });
    } finally {
      await startApiServer(two.b);
    }

    // Superposition delivers again: both converge, and cluster a (already there) changes nothing.
    const again = await eventually(
      async () => {
        const answer = await harness.deliver('ExperimentInprogress', 'both', ramped);
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        return answer;
      },
      30_000,
      500,
    );
    // Cluster a applied it already: the same state again, every object unchanged; cluster b catches up.
    const [inA, inB] = again.body.clusters;
    expect([inA.cluster, inA.result, inB.cluster, inB.result]).toEqual([CLUSTER_A, 'applied', CLUSTER_B, 'applied']);
    expect(inA.actions.length).toBeGreaterThan(0);
    expect(inA.actions.filter((action: any) => action.action !== 'unchanged')).toEqual([]);
    expect(inB.actions.filter((action: any) => action.action === 'updated').map((action: any) => action.kind)).toEqual(['Ingress']);
    expect(await canaryWeight(two.clusterB, namespace, 'both', `${spanning.id}-test1`)).toBe('30');
    const retried = await harness.deliver('ExperimentStarted', 'onlyb', onlyB);
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect((await two.clusterB.names(namespace)).deployments).toContain(`onlyb-dep-${onlyB.id}-test1`);
    expect((await two.clusterA.names(namespace)).deployments).not.toContain(`onlyb-dep-${onlyB.id}-test1`);
    const ready = await harness.mayday.get('/health/ready');
    expect(ready.body.details.kubernetes.failing).toEqual([]);
  }, 120_000);
});
