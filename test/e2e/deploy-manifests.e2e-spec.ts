import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  loadAllYaml,
  PatchStrategy,
  type KubernetesObject,
  type V1ClusterRole,
  type V1ClusterRoleBinding,
  type V1ConfigMap,
  type V1Container,
  type V1Deployment,
  type V1Namespace,
  type V1Role,
  type V1RoleBinding,
  type V1Service,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMaydayConfig } from '../../src/config/mayday-config';
import { Cluster } from '../support/cluster';

const ROOT = resolve(__dirname, '../..');
const DEPLOY = join(ROOT, 'deploy', 'base');
const NAMESPACE = 'mayday-system';

interface Manifest {
  file: string;
  /** The YAML text of the whole file (for the unknown-field check). */
  text: string;
  object: KubernetesObject;
}

/** Every YAML document of every file in deploy/base except kustomization.yaml, in file order. */
function readManifests(): Manifest[] {
  const files = readdirSync(DEPLOY)
    .filter((file) => /\.ya?ml$/.test(file) && file !== 'kustomization.yaml')
    .sort();
  return files.flatMap((file) => {
    const text = readFileSync(join(DEPLOY, file), 'utf8');
    return loadAllYaml(text)
      .filter((object): object is KubernetesObject => object !== null && object !== undefined)
      .map((object) => ({ file, text, object }));
  });
}

const manifests = readManifests();

function only<T extends KubernetesObject>(kind: string): T {
  const found = manifests.filter((manifest) => manifest.object.kind === kind);
  expect(found, `exactly one ${kind} in deploy/`).toHaveLength(1);
  return found[0].object as T;
}

const label = (object: KubernetesObject) => `${object.kind}/${object.metadata?.name} (deploy/${fileOf(object)})`;
const fileOf = (object: KubernetesObject) => manifests.find((manifest) => manifest.object === object)?.file;

/** The API server's own words: ApiException.body is the Status (as a JSON string or already parsed). */
function apiMessage(error: unknown): string {
  const failure = error as { code?: number; body?: unknown; message?: string };
  let status: { reason?: string; message?: string } | undefined;
  try {
    status = typeof failure.body === 'string' ? JSON.parse(failure.body) : (failure.body as typeof status);
  } catch {
    return `HTTP ${failure.code}: ${String(failure.body)}`;
  }
  if (status?.message) return `HTTP ${failure.code} ${status.reason ?? ''}: ${status.message}`;
  return failure.message ?? String(error);
}

/** A typed client-node object as plain JSON (drops undefined properties, dates become strings). */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/**
 * Paths of `sent` whose value the API server did not keep in `returned`. A field the server does
 * not know (newer than its version) is dropped silently by Kubernetes 1.20, so it shows up here.
 */
function missingPaths(sent: unknown, returned: unknown, path = ''): string[] {
  if (Array.isArray(sent)) {
    if (!Array.isArray(returned)) return [path];
    return sent.flatMap((item, index) => missingPaths(item, returned[index], `${path}[${index}]`));
  }
  if (sent !== null && typeof sent === 'object') {
    if (returned === null || typeof returned !== 'object') return [path];
    return Object.entries(sent).flatMap(([key, value]) =>
      missingPaths(value, (returned as Record<string, unknown>)[key], path ? `${path}.${key}` : key),
    );
  }
  return sent === returned ? [] : [`${path} (sent ${JSON.stringify(sent)}, got ${JSON.stringify(returned)})`];
}

/** Every mapping key written in a YAML text, comments left out. */
function yamlKeys(text: string): Set<string> {
  const keys = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^\s*(?:-\s+)?([A-Za-z_][\w.\-/]*)\s*:(?:\s|$)/.exec(line);
    if (match && !line.trimStart().startsWith('#')) keys.add(match[1]);
  }
  return keys;
}

/** Every key of a JSON value, at any depth. */
function jsonKeys(value: unknown, keys = new Set<string>()): Set<string> {
  if (Array.isArray(value)) value.forEach((item) => jsonKeys(item, keys));
  else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      keys.add(key);
      jsonKeys(child, keys);
    }
  }
  return keys;
}

describe('deploy/ manifests', () => {
  it('has the expected objects, all of them listed in kustomization.yaml', () => {
    const kinds = manifests.map((manifest) => `${manifest.object.kind}/${manifest.object.metadata?.name}`).sort();
    expect(kinds).toEqual(
      [
        'ClusterRole/mayday',
        'ClusterRoleBinding/mayday',
        'ConfigMap/mayday-config',
        'Deployment/mayday',
        `Namespace/${NAMESPACE}`,
        'PodDisruptionBudget/mayday',
        'Role/mayday-records',
        'RoleBinding/mayday-records',
        'Service/mayday',
        'ServiceAccount/mayday',
      ].sort(),
    );
    // deploy/ ships no webhook token: a published one would be everyone's (README shows how to make one).
    expect(kinds.filter((kind) => kind.startsWith('Secret/'))).toEqual([]);
    expect(readFileSync(join(ROOT, 'deploy', 'kustomization.yaml'), 'utf8')).toMatch(/^resources:\n\s+- base\n/m);

    const kustomization = readFileSync(join(DEPLOY, 'kustomization.yaml'), 'utf8');
    const listed = [...kustomization.matchAll(/^\s*-\s*(\S+\.ya?ml)\s*$/gm)].map((match) => match[1]).sort();
    expect(listed).toEqual([...new Set(manifests.map((manifest) => manifest.file))].sort());

    for (const { object } of manifests) {
      const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(object.kind!);
      expect(object.metadata?.namespace, label(object)).toBe(clusterScoped ? undefined : NAMESPACE);
    }
  });

  it('uses no field that client-node does not know (a typo would be dropped silently)', () => {
    for (const { text, file } of new Map(manifests.map((manifest) => [manifest.file, manifest])).values()) {
      const known = new Set<string>();
      for (const manifest of manifests.filter((candidate) => candidate.file === file)) {
        jsonKeys(plain(manifest.object), known);
      }
      const unknown = [...yamlKeys(text)].filter((key) => !known.has(key));
      expect(unknown.join(', '), `deploy/${file}: keys lost when parsed into Kubernetes types`).toBe('');
    }
  });

  it('grants the ClusterRole exactly the permissions Mayday needs', () => {
    const role = only<V1ClusterRole>('ClusterRole');
    const crud = ['create', 'get', 'list', 'watch', 'update', 'patch', 'delete'];
    const expected = new Set<string>();
    for (const resource of ['apps/deployments', '/services', 'networking.k8s.io/ingresses', 'gateway.networking.k8s.io/httproutes']) {
      for (const verb of crud) expected.add(`${resource}:${verb}`);
    }
    for (const verb of ['create', 'patch']) expected.add(`events.k8s.io/events:${verb}`);
    for (const verb of ['get', 'list', 'watch']) expected.add(`/pods:${verb}`);

    const granted = new Set<string>();
    for (const rule of role.rules ?? []) {
      expect(rule.resourceNames ?? [], 'no resourceNames').toEqual([]);
      expect(rule.nonResourceURLs ?? [], 'no nonResourceURLs').toEqual([]);
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          for (const verb of rule.verbs) granted.add(`${group}/${resource}:${verb}`);
        }
      }
    }
    expect(
      [...granted].filter((entry) => entry.includes('*')),
      'no wildcards',
    ).toEqual([]);
    expect([...granted].sort()).toEqual([...expected].sort());

    const binding = only<V1ClusterRoleBinding>('ClusterRoleBinding');
    const account = only<V1ServiceAccount>('ServiceAccount');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata!.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: account.metadata!.name, namespace: NAMESPACE }]);
  });

  it("grants ConfigMaps (the records) and the leader Lease only in Mayday's own namespace, through a Role", () => {
    const role = only<V1Role>('Role');
    const binding = only<V1RoleBinding>('RoleBinding');
    const account = only<V1ServiceAccount>('ServiceAccount');
    expect(role.metadata?.namespace).toBe(NAMESPACE);
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get', 'list', 'watch', 'update', 'patch', 'delete'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['mayday-leader'], verbs: ['get', 'update'] },
    ]);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata!.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: account.metadata!.name, namespace: NAMESPACE }]);
  });

  it('runs two non-root, read-only Maydays with their probes, config and webhook token', () => {
    const deployment = only<V1Deployment>('Deployment');
    const configMap = only<V1ConfigMap>('ConfigMap');
    const service = only<V1Service>('Service');
    const account = only<V1ServiceAccount>('ServiceAccount');
    const spec = deployment.spec!;
    const pod = spec.template.spec!;
    expect(pod.containers).toHaveLength(1);
    const container: V1Container = pod.containers[0];

    expect(spec.replicas).toBe(2);
    expect(spec.strategy?.type).toBe('RollingUpdate');
    expect(spec.strategy?.rollingUpdate?.maxUnavailable, 'a new replica is ready before an old one goes').toBe(0);
    const spread = pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    expect(spread.map((term) => term.podAffinityTerm.topologyKey)).toEqual(['kubernetes.io/hostname']);
    expect(spread[0].podAffinityTerm.labelSelector?.matchLabels).toEqual(spec.selector.matchLabels);
    const budget = only<KubernetesObject & { spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } }>(
      'PodDisruptionBudget',
    );
    expect(budget.spec.minAvailable).toBe(1);
    expect(budget.spec.selector.matchLabels).toEqual(spec.selector.matchLabels);
    const podName = container.env?.find((variable) => variable.name === 'POD_NAME');
    expect(podName?.valueFrom?.fieldRef, 'the Lease names the pod holding it').toEqual({ fieldPath: 'metadata.name' });
    expect(pod.serviceAccountName).toBe(account.metadata!.name);
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(pod.terminationGracePeriodSeconds).toBe(30);

    expect(container.ports).toEqual([{ name: 'http', containerPort: 8090, protocol: 'TCP' }]);
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/health/ready', port: 'http' });

    const security = container.securityContext!;
    expect(security.runAsNonRoot).toBe(true);
    expect(security.runAsUser).toBe(1000);
    expect(security.readOnlyRootFilesystem).toBe(true);
    expect(security.allowPrivilegeEscalation).toBe(false);
    expect(security.capabilities?.drop).toEqual(['ALL']);
    expect(security.seccompProfile?.type).toBe('RuntimeDefault');
    const tmp = container.volumeMounts?.find((mount) => mount.mountPath === '/tmp');
    expect(pod.volumes?.find((volume) => volume.name === tmp?.name)?.emptyDir, 'an emptyDir at /tmp').toBeDefined();

    expect(container.resources?.requests).toEqual({ cpu: '50m', memory: '128Mi' });
    expect(container.resources?.limits).toEqual({ memory: '320Mi' });

    const token = container.env?.find((variable) => variable.name === 'WEBHOOK_TOKEN');
    expect(token?.valueFrom?.secretKeyRef).toEqual({ name: 'mayday-webhook', key: 'token' });
    const podNamespace = container.env?.find((variable) => variable.name === 'POD_NAMESPACE');
    expect(podNamespace?.valueFrom?.fieldRef).toEqual({ fieldPath: 'metadata.namespace' });
    expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata!.name } }]);

    // The Service reaches the pod on the named port.
    expect(service.spec?.type).toBe('ClusterIP');
    expect(service.spec?.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    const podLabels = spec.template.metadata?.labels ?? {};
    for (const [key, value] of Object.entries(service.spec?.selector ?? {})) expect(podLabels[key]).toBe(value);
    for (const [key, value] of Object.entries(spec.selector.matchLabels ?? {})) expect(podLabels[key]).toBe(value);

    // The environment the pod gets (image ENV, ConfigMap, the Secret README makes, the downward API) is one
    // Mayday accepts, on the probed port, keeping its records in the namespace the Role grants.
    const secretToken = 'f'.repeat(64);
    const config = loadMaydayConfig({
      NODE_ENV: 'production',
      HOST: '0.0.0.0',
      PORT: '8090',
      ...configMap.data,
      WEBHOOK_TOKEN: secretToken,
      POD_NAMESPACE: deployment.metadata!.namespace,
    });
    expect(config.port).toBe(container.ports![0].containerPort);
    expect(config.webhook.token).toBe(secretToken);
    expect(config.maydayNamespace).toBe(only<V1Role>('Role').metadata!.namespace);
    expect(() => loadMaydayConfig({ ...configMap.data }), 'no token, no start').toThrow(/WEBHOOK_TOKEN is required/);
  });
});

describe('deploy/ manifests on a real API server (server-side apply, dry run)', () => {
  let cluster: Cluster;
  const results: { manifest: Manifest; sent: KubernetesObject; returned?: KubernetesObject; error?: string }[] = [];

  beforeAll(async () => {
    cluster = new Cluster();
    const namespace = only<V1Namespace>('Namespace');
    // Dry runs of namespaced objects fail when their namespace does not exist: create it for real.
    try {
      await cluster.objects.create(namespace);
    } catch (error) {
      if ((error as { code?: number }).code !== 409) throw new Error(`Namespace ${NAMESPACE}: ${apiMessage(error)}`, { cause: error });
    }
    for (const manifest of manifests) {
      if (manifest.object.kind === 'Namespace') continue;
      // Kubernetes 1.20 serves PodDisruptionBudget as policy/v1beta1 only (policy/v1 came in 1.21, with the same fields).
      const sent = manifest.object.kind === 'PodDisruptionBudget' ? { ...manifest.object, apiVersion: 'policy/v1beta1' } : manifest.object;
      try {
        // Applied, not created: the e2e set-up installed the RBAC objects for real (Mayday runs with them).
        const returned = await cluster.objects.patch(sent, undefined, 'All', 'mayday-tests', true, PatchStrategy.ServerSideApply);
        results.push({ manifest, sent, returned });
      } catch (error) {
        results.push({ manifest, sent, error: apiMessage(error) });
      }
    }
  });

  it('accepts every object', () => {
    const failures = results.filter((result) => result.error).map((result) => `${label(result.sent)}: ${result.error}`);
    // Joined into one string so that the API server's messages show in full when this fails.
    expect(failures.join('\n')).toBe('');
    expect(results).toHaveLength(manifests.length - 1);
  });

  it('keeps every field (nothing newer than the server, Kubernetes 1.20)', () => {
    for (const { sent, returned } of results) {
      expect(returned, label(sent)).toBeDefined();
      const body = plain(sent) as Record<string, unknown>;
      const answer = plain(returned) as Record<string, unknown>;
      expect(missingPaths(body, answer).join('\n'), `${label(sent)}: fields the API server dropped or changed`).toBe('');
    }
  });

  it('did not persist anything but the namespace (dry run)', async () => {
    const deployments = await cluster.deployments(NAMESPACE);
    expect(deployments).toEqual([]);
  });
});

describe('Dockerfile', () => {
  /** Instructions with continuation lines joined and comments dropped, grouped into build stages. */
  function stages(): { keyword: string; args: string }[][] {
    const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const lines = text.split('\n').filter((line) => !/^\s*#/.test(line));
    const instructions = lines
      .join('\n')
      .replace(/\\\n/g, ' ')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line)
      .map((line) => {
        const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line)!;
        return { keyword: keyword.toUpperCase(), args };
      });
    const result: { keyword: string; args: string }[][] = [];
    for (const instruction of instructions) {
      // Build arguments declared before the first stage (the base image) belong to no stage.
      if (instruction.keyword === 'ARG' && result.length === 0) continue;
      if (instruction.keyword === 'FROM') result.push([]);
      expect(result.length, `${instruction.keyword} before the first FROM`).toBeGreaterThan(0);
      result[result.length - 1].push(instruction);
    }
    return result;
  }

  it('builds in one stage and runs production dependencies as a non-root user in another', () => {
    const all = stages();
    expect(all).toHaveLength(2);
    // Both stages on the base given by the NODE_IMAGE build argument, Node.js 24 LTS by default.
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/^ARG NODE_IMAGE=node:24-bookworm-slim$/m);
    for (const stage of all) expect(stage[0].args).toMatch(/^\$\{NODE_IMAGE\}(\s|$)/);
    const [build, runtime] = all;
    const runs = (stage: typeof build) => stage.filter((i) => i.keyword === 'RUN').map((i) => i.args);

    expect(runs(build).some((command) => /\bnpm ci\b/.test(command))).toBe(true);
    expect(runs(build).some((command) => /\bnpm run build\b/.test(command))).toBe(true);

    expect(runs(runtime).some((command) => /\bnpm ci --omit=dev\b/.test(command))).toBe(true);
    expect(runtime.some((i) => i.keyword === 'COPY' && /--from=\S+\s+\S*dist\b/.test(i.args))).toBe(true);

    const users = runtime.filter((i) => i.keyword === 'USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users[users.length - 1].args.split(':')[0];
    expect(['root', '0']).not.toContain(user);
    expect(user, 'numeric, so that runAsNonRoot can verify it').toMatch(/^\d+$/);

    const cmd = runtime.filter((i) => i.keyword === 'CMD').pop();
    expect(JSON.parse(cmd!.args)).toEqual(['node', '--max-semi-space-size=2', 'dist/main.js']);
    expect(runtime.find((i) => i.keyword === 'EXPOSE')?.args).toBe('8090');
    const env = runtime
      .filter((i) => i.keyword === 'ENV')
      .map((i) => i.args)
      .join(' ');
    expect(env).toMatch(/\bNODE_ENV=production\b/);
    expect(env).toMatch(/\bPORT=8090\b/);
    expect(env).toMatch(/\bHOST=0\.0\.0\.0\b/);
  });

  it('keeps local artefacts out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim());
    for (const entry of ['node_modules', 'dist', '.git', '.env']) expect(ignored).toContain(entry);
  });
});
