import { AppsV1Api, CoreV1Api, KubeConfig, type KubernetesObject, type V1ConfigMap, type V1Deployment } from '@kubernetes/client-node';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSENT_ANNOTATION } from '../../src/naming/labels';
import { MIGRATION_MARKER, recordToConfigMap, type ExperimentRecord } from '../../src/experiments/records/experiment-record';
import { resetProcessLogger } from '../support/logger-reset';
import { Cluster } from '../support/cluster';
import { controlPlane, maydayToken } from '../support/control-plane';
import { eventually } from '../support/eventually';
import { applyAll, namespacedManifests, rbacOf, serviceAccountToken, tenantWithEditRights } from '../support/mayday-rbac';
import { MAYDAY_NAMESPACE, startMayday, type Environment, type RunningMayday } from '../support/mayday';
import { experiment, experimentId, webhook, type ExperimentSpec } from '../support/payloads';
import { SuperpositionStandIn } from '../support/superposition-stand-in';

/**
 * The trust boundary (issue 10), against the real API server with real RBAC: Mayday runs as the
 * ServiceAccount of deploy/ (cluster-wide and namespaced variants); a tenant is a ServiceAccount bound to
 * `edit` in its own namespace only, and attacks with what that allows.
 */

const cluster = new Cluster();
// The cluster is this file's own (test/support/file-cluster.ts), started before any test runs.
const plane = () => controlPlane();
const caFile = () => join(plane().runDir, 'certs', 'apiserver.crt');
const MANAGED = 'app.kubernetes.io/managed-by=mayday';

/** Clients that authenticate with a bearer token (a ServiceAccount's), verifying the API server's certificate. */
function clientsFor(token: string): { core: CoreV1Api; apps: AppsV1Api } {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'local', server: plane().apiServer, caFile: caFile() }],
    users: [{ name: 'user', token }],
    contexts: [{ name: 'user', cluster: 'local', user: 'user' }],
    currentContext: 'user',
  });
  return { core: kubeConfig.makeApiClient(CoreV1Api), apps: kubeConfig.makeApiClient(AppsV1Api) };
}

/** The HTTP status of a Kubernetes call (200 when it succeeds). */
async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (error) {
    return (error as { code?: number }).code ?? 0;
  }
}

/** Mayday's log lines (JSON), collected from its pino destination (reset the process logger before starting it). */
function logCollector(): { stream: PassThrough; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new PassThrough();
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts) if (part.trim()) lines.push(JSON.parse(part));
  });
  return { stream, lines };
}

/** A log line's message (pino puts a logged string in `msg`). */
const text = (line: Record<string, unknown>) => String(line.msg ?? '');

/** A record ConfigMap as Mayday writes one, for an experiment of the given spec. */
function forgedRecord(spec: ExperimentSpec, workspace: string, where: string, claims: string, status = 'INPROGRESS'): V1ConfigMap {
  const payload = experiment({ ...spec, status: status as ExperimentSpec['status'] });
  const record: ExperimentRecord = {
    experimentId: spec.id,
    workspace,
    organisationId: 'localorg',
    namespace: claims,
    status: status as ExperimentRecord['status'],
    lastModified: payload.last_modified as string,
    event: 'ExperimentStarted',
    appliedAt: new Date().toISOString(),
    phase: 'applied',
    experiment: JSON.stringify(payload),
  };
  return recordToConfigMap(record, where);
}

/** A Deployment labelled as if Mayday had made it for an experiment. */
function forgedDeployment(name: string, experimentIdLabel: string, image = 'evil:1'): V1Deployment {
  return {
    metadata: {
      name,
      labels: {
        'app.kubernetes.io/managed-by': 'mayday',
        'mayday.superposition.io/experiment': experimentIdLabel,
        'mayday.superposition.io/workspace': 'shop',
        'mayday.superposition.io/role': 'canary',
        app: name,
      },
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
    },
  };
}

const EVIL = ['evil:1', 'evil:2'];
const evilVariants = [
  { suffix: 'control', type: 'CONTROL' as const, overrides: { 'container.image': EVIL[0] } },
  { suffix: 'e', type: 'EXPERIMENTAL' as const, overrides: { 'container.image': EVIL[1] } },
];

/** Every image of every Deployment in a namespace. */
async function images(namespace: string): Promise<string[]> {
  return (await cluster.deployments(namespace)).flatMap((deployment) => deployment.spec!.template.spec!.containers.map((c) => c.image!));
}

describe("Mayday's own permissions (deploy/ RBAC, the ServiceAccount's token)", () => {
  it('can no longer write or list ConfigMaps outside its namespace, and can write its records there', async () => {
    const namespace = await cluster.createNamespace('rbac');
    const mayday = clientsFor(maydayToken());
    const body = { metadata: { name: 'probe' }, data: { a: 'b' } };
    expect(await statusOf(mayday.core.createNamespacedConfigMap({ namespace, body }))).toBe(403);
    expect(await statusOf(mayday.core.listConfigMapForAllNamespaces({}))).toBe(403);
    expect(
      await statusOf(mayday.core.readNamespacedConfigMap({ namespace: 'kube-system', name: 'extension-apiserver-authentication' })),
    ).toBe(403);
    const name = `probe-${experimentId()}`;
    expect(
      await statusOf(mayday.core.createNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, body: { ...body, metadata: { name } } })),
    ).toBe(200);
    expect(await statusOf(mayday.core.deleteNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name }))).toBe(200);
    // What it keeps: Deployments anywhere.
    expect(await statusOf(mayday.apps.listDeploymentForAllNamespaces({}))).toBe(200);
  });
});

describe('a tenant with edit rights in one namespace cannot steer Mayday anywhere', () => {
  for (const gate of ['true', 'false'] as const) {
    describe(`readiness gate ${gate === 'true' ? 'on' : 'off'}`, () => {
      const standIn = new SuperpositionStandIn();
      const logs = logCollector();
      let mayday: RunningMayday;
      let tenantA: string;
      let tenantB: string;
      let tenant: { core: CoreV1Api; apps: AppsV1Api };

      beforeAll(async () => {
        await standIn.start();
        tenantA = await cluster.createNamespace('tenant-a');
        tenantB = await cluster.createNamespace('tenant-b');
        // The tenant: a ServiceAccount of tenant-a with the built-in `edit` role in tenant-a only.
        tenant = clientsFor(await tenantWithEditRights(cluster.kubeconfigPath, tenantA));
        await resetProcessLogger();
        mayday = await startMayday(
          { SUPERPOSITION_URL: standIn.url, CANARY_READINESS_GATE: gate, RESYNC_INTERVAL_SECONDS: '1', LOG_LEVEL: 'info' },
          { logDestination: logs.stream },
        );
      });
      afterAll(async () => {
        await mayday?.close();
        await standIn.stop();
      });

      it('a forged record and forged Deployments change nothing in any namespace; the record cannot be forged where Mayday reads it', async () => {
        // A real experiment runs in tenant-b: Mayday has its record (in its own namespace).
        const real: ExperimentSpec = { id: experimentId(), context: { namespace: tenantB }, traffic: 20 };
        standIn.workspace('shop', {});
        const realPayload = experiment(real);
        standIn.putExperiment('shop', realPayload);
        expect((await mayday.post('/webhooks/superposition', webhook('ExperimentStarted', 'shop', realPayload))).status).toBe(200);
        const resyncs = () => standIn.requests.filter((request) => request.path === `/experiments/${real.id}`).length;
        // The resync has converged to it once (its record now says ExperimentInprogress, as resyncs do).
        const afterStart = resyncs();
        await eventually(async () => expect(resyncs()).toBeGreaterThanOrEqual(afterStart + 2), 20_000);
        const tenantBBefore = await cluster.snapshot(tenantB);
        const realRecordBefore = await cluster.core.readNamespacedConfigMap({
          namespace: MAYDAY_NAMESPACE,
          name: `mayday-experiment-${real.id}`,
        });
        expect(realRecordBefore.data?.namespace).toBe(tenantB);

        // The attack of the issue: a record in tenant-a aimed at tenant-b, concluded with a pending promotion,
        // and Deployments labelled as Mayday's for it and for the real experiment.
        const forged: ExperimentSpec = { id: experimentId(), context: { namespace: tenantB }, variants: evilVariants, traffic: 50 };
        const forgedInA = forgedRecord(forged, 'shop', tenantA, tenantB);
        forgedInA.metadata!.namespace = undefined;
        expect(await statusOf(tenant.core.createNamespacedConfigMap({ namespace: tenantA, body: forgedInA }))).toBe(200);
        const concluded = forgedRecord({ ...forged, chosen: 'e' }, 'shop', tenantA, tenantB, 'CONCLUDED');
        concluded.metadata!.name = `mayday-experiment-${real.id}`;
        concluded.metadata!.namespace = undefined;
        concluded.data!.phase = 'promotion-pending';
        expect(await statusOf(tenant.core.createNamespacedConfigMap({ namespace: tenantA, body: concluded }))).toBe(200);
        expect(
          await statusOf(tenant.apps.createNamespacedDeployment({ namespace: tenantA, body: forgedDeployment('bait', forged.id) })),
        ).toBe(200);
        expect(
          await statusOf(tenant.apps.createNamespacedDeployment({ namespace: tenantA, body: forgedDeployment('lure', real.id) })),
        ).toBe(200);

        // Where Mayday does read records, the tenant cannot write: 403 from the API server.
        const inMaydays = forgedRecord(forged, 'shop', MAYDAY_NAMESPACE, tenantB);
        expect(await statusOf(tenant.core.createNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, body: inMaydays }))).toBe(403);
        expect(
          await statusOf(
            tenant.core.patchNamespacedConfigMap({
              namespace: MAYDAY_NAMESPACE,
              name: `mayday-experiment-${real.id}`,
              body: [{ op: 'add', path: '/data/namespace', value: tenantA }],
            }),
          ),
        ).toBe(403);
        const tenantAAfterAttack = await cluster.snapshot(tenantA);

        // Mayday has seen all of it: the resync re-read the real experiment at least twice more since, and
        // (with the gate) the watch looked at the lure Deployment and refused to follow it into tenant-a.
        const resyncsBefore = resyncs();
        await eventually(async () => expect(resyncs()).toBeGreaterThanOrEqual(resyncsBefore + 2), 20_000);
        if (gate === 'true') {
          await eventually(async () =>
            expect(logs.lines.some((line) => text(line).includes(`a Deployment in ${tenantA} names experiment ${real.id}`))).toBe(true),
          );
        }

        // Nothing changed anywhere: tenant-b and tenant-a object for object (resourceVersions), the real record,
        // no evil image in either namespace, no object or record of the forged experiment anywhere, and
        // Superposition was never asked about it.
        expect(await cluster.snapshot(tenantB)).toEqual(tenantBBefore);
        expect(await cluster.snapshot(tenantA)).toEqual(tenantAAfterAttack);
        const realRecordAfter = await cluster.core.readNamespacedConfigMap({
          namespace: MAYDAY_NAMESPACE,
          name: `mayday-experiment-${real.id}`,
        });
        expect(realRecordAfter.metadata?.resourceVersion).toBe(realRecordBefore.metadata?.resourceVersion);
        expect(await images(tenantB)).not.toEqual(expect.arrayContaining([EVIL[0]]));
        expect((await images(tenantB)).filter((image) => EVIL.includes(image))).toEqual([]);
        const forgedObjects = await Promise.all([
          cluster.apps.listDeploymentForAllNamespaces({ labelSelector: `mayday.superposition.io/experiment=${forged.id}` }),
          cluster.core.listServiceForAllNamespaces({ labelSelector: `mayday.superposition.io/experiment=${forged.id}` }),
          cluster.core.listConfigMapForAllNamespaces({ labelSelector: `mayday.superposition.io/experiment=${forged.id}` }),
        ]);
        const forgedNames = forgedObjects.flatMap((list) =>
          (list.items as KubernetesObject[]).map((item) => `${item.metadata?.namespace}/${item.metadata?.name}`),
        );
        expect(forgedNames.sort()).toEqual(
          // Only what the tenant made itself (its second forged record is named after the real experiment).
          [`${tenantA}/bait`, `${tenantA}/mayday-experiment-${forged.id}`, `${tenantA}/mayday-experiment-${real.id}`].sort(),
        );
        expect(standIn.requests.some((request) => request.path.includes(forged.id))).toBe(false);
        const status = await mayday.get(`/experiments/${forged.id}`);
        expect(status.status).toBe(404);
      });
    });
  }
});

describe('protected namespaces and the consent annotation (the kube-dns scenario)', () => {
  const standIn = new SuperpositionStandIn();
  let open: RunningMayday;
  let allowingKubeSystem: RunningMayday;
  let namespace: string;

  beforeAll(async () => {
    await standIn.start();
    namespace = await cluster.createNamespace('consent');
    // A kube-dns Service as clusters have one (the test API server has no add-ons).
    await cluster.core
      .createNamespacedService({
        namespace: 'kube-system',
        body: {
          metadata: { name: 'kube-dns', labels: { 'k8s-app': 'kube-dns' } },
          spec: { selector: { 'k8s-app': 'kube-dns' }, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] },
        },
      })
      .catch((error: { code?: number }) => {
        if (error.code !== 409) throw error;
      });
    open = await startMayday({ SUPERPOSITION_URL: standIn.url });
    allowingKubeSystem = await startMayday({ SUPERPOSITION_URL: standIn.url, ALLOWED_NAMESPACES: `kube-system,${namespace}` });
  });
  afterAll(async () => {
    await open?.close();
    await allowingKubeSystem?.close();
    await standIn.stop();
  });

  function deliver(mayday: RunningMayday, event: string, workspace: string, spec: ExperimentSpec) {
    const payload = experiment(spec);
    if (!standIn.hasWorkspace(workspace)) standIn.workspace(workspace, {});
    standIn.putExperiment(workspace, payload);
    return mayday.post('/webhooks/superposition', webhook(event, workspace, payload));
  }

  it('refuses kube-system, kube-public, kube-node-lease and its own namespace with a 403 unless ALLOWED_NAMESPACES names them', async () => {
    const kubeSystem = await cluster.snapshot('kube-system');
    for (const protectedNamespace of ['kube-system', 'kube-public', 'kube-node-lease', MAYDAY_NAMESPACE]) {
      const answer = await deliver(open, 'ExperimentStarted', 'kube-dns', {
        id: experimentId(),
        context: { namespace: protectedNamespace },
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(403);
      expect(answer.body.message).toContain(`namespace "${protectedNamespace}"`);
      expect(answer.body.message).toContain('ALLOWED_NAMESPACES');
    }
    expect(await cluster.snapshot('kube-system')).toEqual(kubeSystem);
  });

  it("even where allowed, never touches a Service it did not make without its owner's consent: 422 naming it and the annotation, selector kept", async () => {
    const kubeSystem = await cluster.snapshot('kube-system');
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace: 'kube-system' } };
    const started = await deliver(allowingKubeSystem, 'ExperimentStarted', 'kube-dns', spec);
    expect(started.status).toBe(422);
    expect(started.body.message).toContain('Service kube-system/kube-dns');
    expect(started.body.message).toContain(`${CONSENT_ANNOTATION}: "kube-dns"`);
    const concluded = await deliver(allowingKubeSystem, 'ExperimentConcluded', 'kube-dns', {
      ...spec,
      status: 'CONCLUDED',
      chosen: 'test1',
    });
    expect(concluded.status).toBe(422);
    expect(await cluster.snapshot('kube-system')).toEqual(kubeSystem);
    const dns = await cluster.core.readNamespacedService({ namespace: 'kube-system', name: 'kube-dns' });
    expect(dns.spec?.selector).toEqual({ 'k8s-app': 'kube-dns' });
  });

  it('promotes onto a foreign main Service only once it carries the annotation for exactly this workspace', async () => {
    await cluster.core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: 'shop', annotations: { [CONSENT_ANNOTATION]: 'another-workspace' } },
        spec: { selector: { app: 'legacy', tier: 'web' }, ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] },
      },
    });
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 30 };
    const before = await cluster.snapshot(namespace);
    const refused = await deliver(allowingKubeSystem, 'ExperimentStarted', 'shop', spec);
    expect(refused.status).toBe(422);
    expect(refused.body.message).toContain(`Service ${namespace}/shop`);
    expect(await cluster.snapshot(namespace)).toEqual(before);

    // The owner consents: from now on the Service is the main path of workspace "shop".
    await cluster.core.patchNamespacedService({
      namespace,
      name: 'shop',
      body: [{ op: 'replace', path: `/metadata/annotations/${CONSENT_ANNOTATION.replace('/', '~1')}`, value: 'shop' }],
    });
    expect((await deliver(allowingKubeSystem, 'ExperimentStarted', 'shop', spec)).status).toBe(200);
    const promoted = await deliver(allowingKubeSystem, 'ExperimentConcluded', 'shop', { ...spec, status: 'CONCLUDED', chosen: 'test1' });
    expect(promoted.status, JSON.stringify(promoted.body)).toBe(200);
    // With the readiness gate the switch may wait for the winner's pods (answered `pending`).
    await eventually(async () => {
      const main = await cluster.core.readNamespacedService({ namespace, name: 'shop' });
      expect(main.spec?.selector).toEqual({ app: `shop-dep-${spec.id}-test1` });
    }, 60_000);
  });

  it('binds an experiment to the namespace its record names: the same id for another namespace is refused and logged', async () => {
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace } };
    expect((await deliver(allowingKubeSystem, 'ExperimentStarted', 'bound', spec)).status).toBe(200);
    const elsewhere = await cluster.createNamespace('elsewhere');
    const moved = await deliver(open, 'ExperimentInprogress', 'bound', { ...spec, context: { namespace: elsewhere }, traffic: 40 });
    expect(moved.status).toBe(422);
    expect(moved.body.message).toContain(`bound to namespace "${namespace}"`);
    expect(await cluster.snapshot(elsewhere)).toEqual({});
  });
});

describe('closed by default, and hostile input', () => {
  const TOKEN = 'a-webhook-token-of-at-least-32-characters';
  const auth = { authorization: `Bearer ${TOKEN}` };
  let mayday: RunningMayday;
  let scoped: RunningMayday;
  let namespace: string;

  beforeAll(async () => {
    namespace = await cluster.createNamespace('hostile');
    mayday = await startMayday({ WEBHOOK_TOKEN: TOKEN, METRICS_AUTH: 'token', WEBHOOK_MAX_BODY_BYTES: String(4 * 1024 * 1024) });
    scoped = await startMayday({ WEBHOOK_TOKEN: TOKEN, ALLOWED_NAMESPACES: namespace });
  });
  afterAll(async () => {
    await mayday?.close();
    await scoped?.close();
  });

  const send = (target: RunningMayday, event: string, workspace: string, payload: Record<string, unknown>, organisation?: string) =>
    target.post('/webhooks/superposition', webhook(event, workspace, payload, organisation), auth);

  it('puts /metrics behind the token with METRICS_AUTH=token', async () => {
    expect((await mayday.get('/metrics')).status).toBe(401);
    expect((await mayday.get('/metrics', auth)).status).toBe(200);
    expect((await scoped.get('/metrics')).status).toBe(200);
  });

  it('answers 400 to workspace or organisation ids that are not plain identifiers, and to a {"var": "__proto__"} context', async () => {
    const payload = experiment({ id: experimentId(), context: { namespace } });
    for (const workspace of ['shop\r\nx-evil: 1', 'shöp', 'shop/../x']) {
      const answer = await send(mayday, 'ExperimentStarted', workspace, payload);
      expect(answer.status, workspace).toBe(400);
      expect(answer.body.message).toContain('event_info.workspace_id must be a plain identifier');
    }
    expect((await send(mayday, 'ExperimentStarted', 'shop', payload, 'org\nx')).status).toBe(400);
    const polluted = experiment({
      id: experimentId(),
      context: { and: [{ '==': [{ var: '__proto__' }, { namespace: 'kube-system' }] }, { '==': [{ var: 'namespace' }, namespace] }] },
    });
    const answer = await send(mayday, 'ExperimentStarted', 'shop', polluted);
    expect(answer.status).toBe(400);
    expect(answer.body.message).toContain('{"var": "__proto__"} does not name a dimension');
    expect(await cluster.snapshot(namespace)).toEqual({});
  });

  it('answers 413 before any write to an experiment whose record would not fit in a ConfigMap', async () => {
    const payload = experiment({ id: experimentId(), context: { namespace } });
    payload.description = 'x'.repeat(1024 * 1024 + 1);
    const answer = await send(mayday, 'ExperimentStarted', 'big', payload);
    expect(answer.status).toBe(413);
    expect(answer.body.message).toContain('over the 1048576 bytes a ConfigMap holds');
    expect(await cluster.snapshot(namespace)).toEqual({});
  });

  it('answers 422 to replicas above MAX_REPLICAS and to more than 16 variants', async () => {
    const tooMany = experiment({
      id: experimentId(),
      context: { namespace },
      variants: [
        { suffix: 'control', type: 'CONTROL', overrides: { 'container.image': 'nginx:1.25' } },
        { suffix: 'test1', type: 'EXPERIMENTAL', overrides: { 'container.image': 'nginx:1.27', replicas: 101 } },
      ],
    });
    const replicas = await send(mayday, 'ExperimentStarted', 'replicas', tooMany);
    expect(replicas.status).toBe(422);
    expect(replicas.body.message).toContain('config key "replicas" must be an integer from 0 to 100');
    const variants = experiment({
      id: experimentId(),
      context: { namespace },
      status: 'DISCARDED',
      variants: Array.from({ length: 17 }, (_, index) => ({
        suffix: index === 0 ? 'control' : `v${index}`,
        type: index === 0 ? ('CONTROL' as const) : ('EXPERIMENTAL' as const),
        overrides: { 'container.image': 'nginx:1.27' },
      })),
    });
    const answer = await send(mayday, 'ExperimentDiscarded', 'variants', variants);
    expect(answer.status).toBe(422);
    expect(answer.body.message).toBe('payload.variants holds 17 variants; Mayday handles at most 16');
    expect(await cluster.snapshot(namespace)).toEqual({});
  });

  it('answers 400, never 500, to repeated or nested query parameters on the status API, and shows only in-scope experiments', async () => {
    for (const query of ['?status=INPROGRESS&status=PAUSED', '?namespace=a&namespace=b', '?workspace=a&workspace=b']) {
      const answer = await mayday.get(`/experiments${query}`, auth);
      expect(answer.status, query).toBe(400);
    }
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace } };
    expect((await send(scoped, 'ExperimentStarted', 'inscope', experiment(spec))).status).toBe(200);
    const listed = await scoped.get('/experiments', auth);
    expect(listed.status).toBe(200);
    const namespaces = new Set((listed.body.experiments as { namespace: string }[]).map((view) => view.namespace));
    expect([...namespaces]).toEqual([namespace]);
    // The records of every other namespace are in the same place, and not shown.
    expect(((await mayday.get('/experiments', auth)).body.experiments as unknown[]).length).toBeGreaterThan(
      listed.body.experiments.length - 1,
    );
  });
});

describe('the namespaced install (deploy/namespaced: Roles in the listed namespaces, no ClusterRole)', () => {
  const standIn = new SuperpositionStandIn();
  let home: string;
  let first: string;
  let second: string;
  let token: string;
  const running: RunningMayday[] = [];

  beforeAll(async () => {
    await standIn.start();
    [home, first, second] = await Promise.all([
      cluster.createNamespace('scoped-home'),
      cluster.createNamespace('scoped-a'),
      cluster.createNamespace('scoped-b'),
    ]);
    // deploy/namespaced as kustomize renders it, with its namespaces renamed to this test's: Mayday's
    // own namespace to `home`, the example namespace (mumbai) to `first`, and a copy of its Role for `second`.
    const objects = rbacOf(namespacedManifests());
    expect(objects.map((object) => `${object.kind}/${object.metadata?.name}@${object.metadata?.namespace ?? ''}`).sort()).toEqual(
      [
        'Namespace/mayday-system@',
        'Role/mayday-records@mayday-system',
        'RoleBinding/mayday-records@mayday-system',
        'Role/mayday@mumbai',
        'RoleBinding/mayday@mumbai',
        'ServiceAccount/mayday@mayday-system',
      ].sort(),
    );
    const renamed = JSON.parse(
      JSON.stringify(objects).replaceAll('"mayday-system"', JSON.stringify(home)).replaceAll('"mumbai"', JSON.stringify(first)),
    );
    const perNamespace = renamed.filter((object: KubernetesObject) => object.metadata?.namespace === first);
    const copies = JSON.parse(JSON.stringify(perNamespace).replaceAll(JSON.stringify(first), JSON.stringify(second)));
    await applyAll(
      cluster.kubeconfigPath,
      [...renamed, ...copies].filter((object: KubernetesObject) => object.kind !== 'Namespace'),
    );
    token = await serviceAccountToken(cluster.kubeconfigPath, home, 'mayday');
  });
  afterAll(async () => {
    await Promise.all(running.map((mayday) => mayday.close()));
    await standIn.stop();
  });

  const start = async (env: Environment) => {
    const mayday = await startMayday({
      K8S_API_SERVER: plane().apiServer,
      K8S_TOKEN: token,
      K8S_CA_FILE: caFile(),
      MAYDAY_NAMESPACE: home,
      ALLOWED_NAMESPACES: `${first},${second}`,
      SUPERPOSITION_URL: standIn.url,
      ...env,
    });
    running.push(mayday);
    return mayday;
  };

  function deliver(mayday: RunningMayday, event: string, workspace: string, spec: ExperimentSpec) {
    const payload = experiment(spec);
    if (!standIn.hasWorkspace(workspace)) standIn.workspace(workspace, {});
    standIn.putExperiment(workspace, payload);
    return mayday.post('/webhooks/superposition', webhook(event, workspace, payload));
  }

  function apiCalls(metrics: string, verb: string): number {
    return metrics
      .split('\n')
      .filter((line) => line.startsWith('mayday_kube_api_calls_total{') && line.includes(`verb="${verb}"`))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  }

  it('has no right outside the listed namespaces', async () => {
    const scoped = clientsFor(token);
    expect(await statusOf(scoped.apps.listDeploymentForAllNamespaces({}))).toBe(403);
    expect(await statusOf(scoped.apps.listNamespacedDeployment({ namespace: 'default' }))).toBe(403);
    expect(await statusOf(scoped.core.listNamespacedConfigMap({ namespace: first }))).toBe(403);
    expect(await statusOf(scoped.apps.listNamespacedDeployment({ namespace: second }))).toBe(200);
  });

  it.each(['nginx', 'gateway-api'])(
    'runs the whole lifecycle with %s, from informers that watch only the listed namespaces',
    async (provider) => {
      const mayday = await start(
        provider === 'nginx'
          ? { TRAFFIC_PROVIDER: 'nginx' }
          : { TRAFFIC_PROVIDER: 'gateway-api', GATEWAY_NAME: 'gw', GATEWAY_NAMESPACE: first },
      );
      await eventually(async () => expect((await mayday.get('/health/ready')).status).toBe(200), 20_000);
      const workspace = `scoped-${provider === 'nginx' ? 'ng' : 'gw'}`;
      const spec: ExperimentSpec = { id: experimentId(), context: { namespace: first }, traffic: 10 };
      expect((await deliver(mayday, 'ExperimentStarted', workspace, spec)).status).toBe(200);
      expect((await deliver(mayday, 'ExperimentInprogress', workspace, { ...spec, traffic: 40 })).status).toBe(200);

      // A repeated delivery is answered from the caches alone: the namespaced informers are synced.
      await eventually(async () => {
        const before = (await mayday.get('/metrics')).body as string;
        const again = await deliver(mayday, 'ExperimentInprogress', workspace, { ...spec, traffic: 40 });
        expect(again.status).toBe(200);
        const after = (await mayday.get('/metrics')).body as string;
        expect(apiCalls(after, 'get') + apiCalls(after, 'list')).toBe(apiCalls(before, 'get') + apiCalls(before, 'list'));
      }, 20_000);

      expect((await deliver(mayday, 'ExperimentPaused', workspace, { ...spec, status: 'PAUSED', traffic: 40 })).status).toBe(200);
      const concluded = await deliver(mayday, 'ExperimentConcluded', workspace, { ...spec, status: 'CONCLUDED', chosen: 'test1' });
      expect(concluded.status, JSON.stringify(concluded.body)).toBe(200);
      // The promotion may wait for the winner to be available (the readiness gate): the watch of the
      // listed namespaces completes it without another webhook.
      await eventually(async () => {
        const main = await cluster.core.readNamespacedService({ namespace: first, name: workspace });
        expect(main.spec?.selector).toEqual({ app: `${workspace}-dep-${spec.id}-test1` });
        expect((await cluster.deployments(first, `mayday.superposition.io/workspace=${workspace}`)).map((d) => d.metadata?.name)).toEqual([
          `${workspace}-dep-${spec.id}-test1`,
        ]);
      }, 60_000);

      // A discard in the second listed namespace; the record lives in Mayday's own namespace.
      const other: ExperimentSpec = { id: experimentId(), context: { namespace: second } };
      expect((await deliver(mayday, 'ExperimentStarted', workspace, other)).status).toBe(200);
      expect((await deliver(mayday, 'ExperimentDiscarded', workspace, { ...other, status: 'DISCARDED' })).status).toBe(200);
      const record = await cluster.core.readNamespacedConfigMap({ namespace: home, name: `mayday-experiment-${other.id}` });
      expect(record.data).toMatchObject({ namespace: second, status: 'DISCARDED' });
      expect(
        (await cluster.deployments(second, `${MANAGED},mayday.superposition.io/workspace=${workspace}`)).map((d) => d.metadata?.name),
      ).toEqual([`${workspace}-dep-${other.id}-control`]);

      // Outside the list: 403, as before.
      expect(
        (await deliver(mayday, 'ExperimentStarted', workspace, { id: experimentId(), context: { namespace: 'default' } })).status,
      ).toBe(403);
    },
    180_000,
  );

  it('keeps the readiness gate working on namespaced informers (a canary waits at weight 0)', async () => {
    const mayday = await start({ CANARY_READINESS_GATE: 'true' });
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace: second }, traffic: 30 };
    const answer = await deliver(mayday, 'ExperimentStarted', 'gatedscope', spec);
    expect(answer.status).toBe(200);
    expect(answer.body.canaries[0]).toMatchObject({ weight: 0, state: { phase: 'waiting' } });
    await eventually(async () => expect((await mayday.get('/health/ready')).status).toBe(200), 20_000);
  });
});

describe('records of an earlier Mayday are moved once into its namespace', () => {
  it('moves records bound to their own namespace (deleted there by uid), leaves forged ones, and never looks again', async () => {
    const legacy = await cluster.createNamespace('legacy');
    const home = await cluster.createNamespace('mayday-home');
    const genuine: ExperimentSpec = { id: experimentId(), context: { namespace: legacy } };
    const forged: ExperimentSpec = { id: experimentId(), context: { namespace: 'kube-system' } };
    const genuineRecord = forgedRecord(genuine, 'old', legacy, legacy);
    const forgedInLegacy = forgedRecord(forged, 'old', legacy, 'kube-system');
    await cluster.core.createNamespacedConfigMap({ namespace: legacy, body: genuineRecord });
    await cluster.core.createNamespacedConfigMap({ namespace: legacy, body: forgedInLegacy });

    // The upgrade: run with the permission deploy/upgrade/ grants (here: the admin's), in a fresh namespace.
    const logs = logCollector();
    await resetProcessLogger();
    const mayday = await startMayday(
      { KUBECONFIG: cluster.kubeconfigPath, MAYDAY_NAMESPACE: home, LOG_LEVEL: 'info' },
      { logDestination: logs.stream },
    );
    try {
      await eventually(async () => {
        const marker = await cluster.core.readNamespacedConfigMap({ namespace: home, name: MIGRATION_MARKER });
        expect(marker.data?.moved).toBe(`${legacy}/mayday-experiment-${genuine.id}`);
      });
      const moved = await cluster.core.readNamespacedConfigMap({ namespace: home, name: `mayday-experiment-${genuine.id}` });
      expect(moved.data).toEqual(genuineRecord.data);
      const left = (await cluster.core.listNamespacedConfigMap({ namespace: legacy })).items.map((item) => item.metadata?.name);
      expect(left).toContain(`mayday-experiment-${forged.id}`);
      expect(left).not.toContain(`mayday-experiment-${genuine.id}`);
      expect(logs.lines.some((line) => text(line).includes(`claims namespace "kube-system"`))).toBe(true);
      expect((await mayday.get(`/experiments/${genuine.id}`)).body).toMatchObject({
        namespace: legacy,
        record: `${home}/mayday-experiment-${genuine.id}`,
      });
      expect((await mayday.get(`/experiments/${forged.id}`)).status).toBe(404);
    } finally {
      await mayday.close();
    }

    // Once done, never again: a record planted later in an experiment namespace stays where it is, unread.
    const later: ExperimentSpec = { id: experimentId(), context: { namespace: legacy } };
    await cluster.core.createNamespacedConfigMap({ namespace: legacy, body: forgedRecord(later, 'old', legacy, legacy) });
    const again = await startMayday({ KUBECONFIG: cluster.kubeconfigPath, MAYDAY_NAMESPACE: home });
    try {
      expect((await again.get(`/experiments/${later.id}`)).status).toBe(404);
      expect(await statusOf(cluster.core.readNamespacedConfigMap({ namespace: home, name: `mayday-experiment-${later.id}` }))).toBe(404);
    } finally {
      await again.close();
    }
  });
});
