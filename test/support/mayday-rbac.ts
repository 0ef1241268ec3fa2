import { CoreV1Api, KubeConfig, KubernetesObjectApi, loadAllYaml, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { MIGRATION_MARKER } from '../../src/experiments/records/experiment-record';

export const DEPLOY = resolve(__dirname, '../../deploy');
/** The namespace deploy/ installs Mayday in; the e2e Maydays keep their records there too. */
export const MAYDAY_NAMESPACE = 'mayday-system';

const RBAC_KINDS = new Set(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

/** The objects of deploy/base as kubectl apply -k deploy/ would apply them (the files its kustomization lists). */
export function baseManifests(): KubernetesObject[] {
  const base = join(DEPLOY, 'base');
  const kustomization = readFileSync(join(base, 'kustomization.yaml'), 'utf8');
  const files = [...kustomization.matchAll(/^\s*-\s*(\S+\.ya?ml)\s*$/gm)].map((match) => match[1]);
  return files.flatMap((file) => loadAllYaml(readFileSync(join(base, file), 'utf8')) as KubernetesObject[]).filter(Boolean);
}

/** deploy/namespaced rendered by kustomize (kubectl's built-in one), as objects. */
export function namespacedManifests(): KubernetesObject[] {
  const rendered = execFileSync('kubectl', ['kustomize', join(DEPLOY, 'namespaced')], { encoding: 'utf8' });
  return (loadAllYaml(rendered) as KubernetesObject[]).filter(Boolean);
}

/** Only the objects that make Mayday's identity and permissions. */
export function rbacOf(objects: KubernetesObject[]): KubernetesObject[] {
  return objects.filter((object) => RBAC_KINDS.has(object.kind!));
}

/** Applies objects as they are (server-side apply as the test's admin) and waits for nothing. */
export async function applyAll(kubeconfigPath: string, objects: KubernetesObject[]): Promise<void> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const api = KubernetesObjectApi.makeApiClient(kubeConfig);
  for (const object of objects) {
    await api.patch(object, undefined, undefined, 'mayday-tests', true, PatchStrategy.ServerSideApply);
  }
}

/** A token for a ServiceAccount from the TokenRequest API (what a pod's projected token is), valid for hours. */
export async function serviceAccountToken(kubeconfigPath: string, namespace: string, name: string): Promise<string> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const answer = await core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: [], expirationSeconds: 6 * 3600 } },
  });
  const token = answer.status?.token;
  if (!token) throw new Error(`the TokenRequest API gave no token for ${namespace}/${name}`);
  return token;
}

/**
 * The threat model's adversary: a ServiceAccount `name` of `namespace` bound to the built-in `edit` role in
 * that namespace only; returns its token. `edit` is an aggregated ClusterRole (its rules are those of
 * system:aggregate-to-edit and -view, which the clusterrole-aggregation controller copies in): bound to all
 * three, the tenant has exactly edit's rights whether or not a controller manager runs.
 */
export async function tenantWithEditRights(kubeconfigPath: string, namespace: string, name = 'tenant'): Promise<string> {
  await applyAll(kubeconfigPath, [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } } as KubernetesObject,
    ...['edit', 'system:aggregate-to-edit', 'system:aggregate-to-view'].map(
      (role) =>
        ({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: `${name}-${role.replaceAll(':', '-')}`, namespace },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
          subjects: [{ kind: 'ServiceAccount', name, namespace }],
        }) as KubernetesObject,
    ),
  ]);
  return serviceAccountToken(kubeconfigPath, namespace, name);
}

/**
 * Installs exactly the RBAC of deploy/base (ServiceAccount mayday in mayday-system, its ClusterRole and
 * binding, the records Role) and returns a token of that ServiceAccount: the identity every e2e Mayday
 * runs with unless a test gives it another one.
 */
export async function installMaydayRbac(kubeconfigPath: string): Promise<string> {
  await applyAll(kubeconfigPath, rbacOf(baseManifests()));
  // This cluster never held records of an earlier Mayday: a Mayday run as admin (a few tests do) must not
  // go looking for them and move another test's planted ones (only security.e2e-spec.ts's own does).
  await applyAll(kubeconfigPath, [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: MIGRATION_MARKER, namespace: MAYDAY_NAMESPACE, labels: { 'app.kubernetes.io/managed-by': 'mayday' } },
      data: { migratedAt: new Date().toISOString(), moved: '' },
    } as KubernetesObject,
  ]);
  return serviceAccountToken(kubeconfigPath, MAYDAY_NAMESPACE, 'mayday');
}
