import { Test } from '@nestjs/testing';
import type { V1ConfigMap, V1Deployment, V1Service } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlPlane } from '../support/control-plane';
import { MaydayConfigModule } from '../../src/config/config.module';
import {
  KubeConflictError,
  KubeForbiddenError,
  KubeInvalidError,
  KubeNotFoundError,
  KubeUnavailableError,
  KubeVersionConflictError,
} from '../../src/kubernetes/kube-errors';
import { KubeResourcesService } from '../../src/kubernetes/kube-resources.service';
import { KubernetesModule } from '../../src/kubernetes/kubernetes.module';
import { MetricsModule } from '../../src/metrics/metrics.module';
import { Cluster } from '../support/cluster';
import { closedPort } from '../support/ports';

async function kubeResources(env: Record<string, string>): Promise<KubeResourcesService> {
  const moduleRef = await Test.createTestingModule({
    imports: [MaydayConfigModule.forRoot({ WEBHOOK_AUTH: 'none', ...env }), MetricsModule, KubernetesModule],
  }).compile();
  return moduleRef.get(KubeResourcesService);
}

function deployment(namespace: string, name: string, replicas: unknown = 1): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'mayday', purpose: 'kube-test' } },
    spec: {
      replicas: replicas as number,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.25' }] } },
    },
  };
}

describe('KubeResourcesService against a real kube-apiserver', () => {
  const cluster = new Cluster();
  let kube: KubeResourcesService;
  let namespace: string;

  beforeAll(async () => {
    kube = await kubeResources({ KUBECONFIG: controlPlane().kubeconfig });
    namespace = await cluster.createNamespace('kube');
  });

  it('creates with server-side apply, and applying the same object again changes nothing', async () => {
    const first = await kube.apply(deployment(namespace, 'web'));
    expect(first.metadata?.resourceVersion).toBeTruthy();
    const managers = first.metadata?.managedFields?.map((entry) => `${entry.manager}/${entry.operation}`);
    expect(managers).toContain('mayday/Apply');
    const second = await kube.apply(deployment(namespace, 'web'));
    // The Deployment controller writes its status meanwhile (a new resourceVersion); the apply itself wrote nothing.
    const maydayEntry = (object: V1Deployment) => object.metadata?.managedFields?.find((entry) => entry.manager === 'mayday');
    expect(second.metadata?.generation).toBe(first.metadata?.generation);
    expect(maydayEntry(second)).toEqual(maydayEntry(first));
    const read = await kube.read<V1Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'web' });
    expect(read?.spec?.replicas).toBe(1);
  });

  it('reports a field owned by another manager as a conflict unless forced', async () => {
    await kube.apply(deployment(namespace, 'owned'));
    await cluster.apps.patchNamespacedDeployment({
      namespace,
      name: 'owned',
      fieldManager: 'someone-else',
      body: [{ op: 'replace', path: '/spec/replicas', value: 3 }],
    });
    const conflict = await kube.apply(deployment(namespace, 'owned', 2), { force: false }).catch((error) => error);
    expect(conflict).toBeInstanceOf(KubeConflictError);
    expect(conflict.statusCode).toBe(409);
    expect(conflict.message).toMatch(/conflict/i);
    expect(conflict.transient).toBe(true);
    const forced = await kube.apply(deployment(namespace, 'owned', 2), { force: true });
    expect(forced.spec?.replicas).toBe(2);
  });

  it('refuses a stale resourceVersion with a conflict', async () => {
    const created = await kube.apply<V1ConfigMap>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'stale', namespace },
      data: { a: '1' },
    });
    await kube.apply<V1ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'stale', namespace }, data: { a: '2' } });
    const stale = await kube
      .apply<V1ConfigMap>({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'stale', namespace, resourceVersion: created.metadata!.resourceVersion },
        data: { a: '3' },
      })
      .catch((error) => error);
    expect(stale).toBeInstanceOf(KubeConflictError);
    expect(stale.reason).toBe('Conflict');
    // A conditional apply is never sent again as it is (the route fence: the event is judged again instead).
    expect(stale).toBeInstanceOf(KubeVersionConflictError);
    expect(stale.transient).toBe(false);
  });

  it('applies over the uid and resourceVersion named when they are current; a conflict when the object went meanwhile', async () => {
    const live = await kube.apply<V1ConfigMap>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'fenced', namespace },
      data: { a: '1' },
    });
    const { uid, resourceVersion } = live.metadata!;
    const over = await kube.apply<V1ConfigMap>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'fenced', namespace, uid, resourceVersion },
      data: { a: '2' },
    });
    expect(over.data).toEqual({ a: '2' });
    await cluster.core.deleteNamespacedConfigMap({ namespace, name: 'fenced' });
    // With the resourceVersion alone the API server would create the object again; the uid makes it fail.
    const gone = await kube
      .apply<V1ConfigMap>({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'fenced', namespace, uid, resourceVersion: over.metadata!.resourceVersion },
        data: { a: '3' },
      })
      .catch((error) => error);
    expect(gone).toBeInstanceOf(KubeVersionConflictError);
    expect(await kube.read({ apiVersion: 'v1', kind: 'ConfigMap', namespace, name: 'fenced' })).toBeUndefined();
  });

  it('treats deleting or reading an absent object as no error', async () => {
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'never-existed' };
    expect(await kube.delete(ref)).toBe(false);
    expect(await kube.read(ref)).toBeUndefined();
    await kube.apply(deployment(namespace, 'doomed'));
    expect(await kube.delete({ ...ref, name: 'doomed' })).toBe(true);
  });

  it('deletes only the object with the expected uid', async () => {
    const created = await kube.apply(deployment(namespace, 'guarded'));
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'guarded' };
    const wrongUid = await kube.delete(ref, { uid: '00000000-0000-0000-0000-000000000000' }).catch((error) => error);
    expect(wrongUid).toBeInstanceOf(KubeConflictError);
    expect(await kube.read(ref)).toBeDefined();
    expect(await kube.delete(ref, { uid: created.metadata!.uid })).toBe(true);
  });

  it('lists by label selector', async () => {
    await kube.apply(deployment(namespace, 'listed'));
    const listed = await kube.list<V1Deployment>('apps/v1', 'Deployment', namespace, 'purpose=kube-test');
    expect(listed.map((item) => item.metadata?.name)).toContain('listed');
    expect(listed.every((item) => item.kind === 'Deployment' && item.apiVersion === 'apps/v1')).toBe(true);
    expect(await kube.list('apps/v1', 'Deployment', namespace, 'purpose=nothing')).toEqual([]);
  });

  it('turns a wrong type in an apply body into an invalid error, not a transient one', async () => {
    const error = await kube.apply(deployment(namespace, 'bad-type', 'three')).catch((failure) => failure);
    expect(error).toBeInstanceOf(KubeInvalidError);
    expect(error.transient).toBe(false);
    expect(await kube.read({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: 'bad-type' })).toBeUndefined();
  });

  it('turns a validation failure into an invalid error with the API server message', async () => {
    const error = await kube
      .apply<V1Service>({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'bad-port', namespace },
        spec: { ports: [{ port: 70000, protocol: 'TCP' }] },
      })
      .catch((failure) => failure);
    expect(error).toBeInstanceOf(KubeInvalidError);
    expect(error.statusCode).toBe(422);
    expect(error.message).toContain('spec.ports[0].port');
  });

  it('tells a missing namespace apart from a missing object', async () => {
    const error = await kube.apply(deployment('no-such-namespace', 'web')).catch((failure) => failure);
    expect(error).toBeInstanceOf(KubeNotFoundError);
    expect(error.detailsKind).toBe('namespaces');
    expect(error.message).toContain('no-such-namespace');
  });

  it('replaces a Service selector outright instead of merging it', async () => {
    await cluster.core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: 'legacy' },
        spec: { selector: { app: 'legacy', tier: 'x' }, ports: [{ port: 80, protocol: 'TCP' }] },
      },
    });
    const patched = await kube.replaceServiceSelector(namespace, 'legacy', { app: 'winner' });
    expect(patched.spec?.selector).toEqual({ app: 'winner' });
  });

  it('reports RBAC denial as forbidden', async () => {
    const limited = await kubeResources({
      K8S_API_SERVER: controlPlane().apiServer,
      K8S_TOKEN: controlPlane().limitedToken,
      K8S_INSECURE_SKIP_TLS_VERIFY: 'true',
    });
    const error = await limited.list('apps/v1', 'Deployment', namespace).catch((failure) => failure);
    expect(error).toBeInstanceOf(KubeForbiddenError);
    expect(error.statusCode).toBe(403);
    expect(error.message).toMatch(/forbidden/i);
  });

  it('reports a bad token as forbidden (401)', async () => {
    const stranger = await kubeResources({
      K8S_API_SERVER: controlPlane().apiServer,
      K8S_TOKEN: 'not-a-token',
      K8S_INSECURE_SKIP_TLS_VERIFY: 'true',
    });
    const error = await stranger.serverVersion().catch((failure) => failure);
    expect(error).toBeInstanceOf(KubeForbiddenError);
    expect(error.statusCode).toBe(401);
  });

  it('verifies TLS against K8S_CA_FILE', async () => {
    const verified = await kubeResources({
      K8S_API_SERVER: controlPlane().apiServer,
      K8S_TOKEN: controlPlane().adminToken,
      K8S_CA_FILE: `${controlPlane().runDir}/certs/apiserver.crt`,
    });
    expect(await verified.serverVersion()).toMatch(/^v1\./);
    const unverified = await kubeResources({ K8S_API_SERVER: controlPlane().apiServer, K8S_TOKEN: controlPlane().adminToken });
    const error = await unverified.serverVersion().catch((failure) => failure);
    expect(error).toBeInstanceOf(KubeUnavailableError);
    expect(error.statusCode).toBe(0);
  });

  it('reports an unreachable API server as unavailable', async () => {
    // A port nothing listens on (not port 1: fetch refuses that one as a "bad port" before connecting).
    const nowhere = await kubeResources({
      K8S_API_SERVER: `https://127.0.0.1:${await closedPort()}`,
      K8S_TOKEN: 'x',
      K8S_INSECURE_SKIP_TLS_VERIFY: 'true',
    });
    const error = await nowhere.serverVersion().catch((failure) => failure);
    expect(error).toBeInstanceOf(KubeUnavailableError);
    expect(error.transient).toBe(true);
    expect(error.message).toContain('ECONNREFUSED');
  });

  afterAll(async () => {
    await cluster.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  });
});
