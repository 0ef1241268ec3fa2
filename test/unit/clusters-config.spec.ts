import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigValidationError, configForCluster, loadMaydayConfig } from '../../src/config/mayday-config';
import { namespacesAllowedIn, Scope } from '../../src/config/scope';
import { loadKubeConfig } from '../../src/kubernetes/kube-client';

const TOKEN = 'x'.repeat(32);
let dir: string;
let kubeconfig: string;

/** A kubeconfig with three contexts (one named like an EKS ARN, with a `/`), the current one `a`. */
function kubeconfigText(current = 'a'): string {
  const contexts = ['a', 'b', 'arn:aws:eks:eu-west-1:1:cluster/c'];
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: contexts.map((name, index) => ({ name, cluster: { server: `https://127.0.0.1:${6443 + index}` } })),
    users: [{ name: 'mayday', user: { token: 't' } }],
    contexts: contexts.map((name) => ({ name, context: { cluster: name, user: 'mayday' } })),
    'current-context': current,
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mayday-clusters-'));
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigText());
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadMaydayConfig({ WEBHOOK_TOKEN: TOKEN, ...env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigValidationError);
    return (error as ConfigValidationError).problems;
  }
  throw new Error(`expected a ConfigValidationError for ${JSON.stringify(env)}`);
}

describe('CLUSTERS, CLUSTER_DIMENSION, DEFAULT_CLUSTER, GLOBAL_WORKSPACES', () => {
  it('are absent without CLUSTERS: one cluster, as before', () => {
    const config = loadMaydayConfig({ WEBHOOK_TOKEN: TOKEN, KUBECONFIG: kubeconfig });
    expect(config.clusters).toBeUndefined();
    expect(config.kubernetes).toEqual({ mode: 'default', kubeconfig });
    expect(Scope.of(config).cluster).toBeUndefined();
  });

  it('read the contexts, default to the current context and the dimension "cluster", and give the default cluster\'s view', () => {
    const config = loadMaydayConfig({ WEBHOOK_TOKEN: TOKEN, KUBECONFIG: kubeconfig, CLUSTERS: ' b , a ' });
    expect(config.clusters).toEqual({ names: ['b', 'a'], dimension: 'cluster', defaultCluster: 'a', globalWorkspaces: [], current: 'a' });
    expect(config.kubernetes).toEqual({ mode: 'default', kubeconfig, context: 'a' });
    const inB = configForCluster(config, 'b');
    expect(inB.kubernetes).toEqual({ mode: 'default', kubeconfig, context: 'b' });
    expect(inB.clusters!.current).toBe('b');
    expect(loadKubeConfig(inB.kubernetes).getCurrentCluster()?.server).toBe('https://127.0.0.1:6444');
    expect(loadKubeConfig(config.kubernetes).getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
  });

  it('take DEFAULT_CLUSTER, CLUSTER_DIMENSION and GLOBAL_WORKSPACES', () => {
    const config = loadMaydayConfig({
      WEBHOOK_TOKEN: TOKEN,
      KUBECONFIG: kubeconfig,
      CLUSTERS: 'a,b,arn:aws:eks:eu-west-1:1:cluster/c',
      DEFAULT_CLUSTER: 'b',
      CLUSTER_DIMENSION: 'region',
      GLOBAL_WORKSPACES: 'edge,auth',
    });
    expect(config.clusters).toEqual({
      names: ['a', 'b', 'arn:aws:eks:eu-west-1:1:cluster/c'],
      dimension: 'region',
      defaultCluster: 'b',
      globalWorkspaces: ['edge', 'auth'],
      current: 'b',
    });
  });

  it('report every problem at once, each naming its variable', () => {
    expect(
      problems({
        KUBECONFIG: kubeconfig,
        CLUSTERS: 'a,nowhere,a',
        DEFAULT_CLUSTER: 'elsewhere',
        CLUSTER_DIMENSION: 'namespace',
        ALLOWED_WORKSPACES: 'checkout',
        GLOBAL_WORKSPACES: 'edge',
        ALLOWED_NAMESPACES: 'payments,gone/payments,b/payments',
      }),
    ).toEqual([
      'CLUSTERS: "a" is named twice',
      'CLUSTERS: "nowhere" is not a context of the kubeconfig (its contexts: a, b, arn:aws:eks:eu-west-1:1:cluster/c)',
      'DEFAULT_CLUSTER: "elsewhere" is not in CLUSTERS (a, nowhere, a)',
      'CLUSTER_DIMENSION: "namespace" is already NAMESPACE_DIMENSION',
      'GLOBAL_WORKSPACES: workspace "edge" is not in ALLOWED_WORKSPACES',
      'ALLOWED_NAMESPACES: "gone/payments" names cluster "gone", which is not in CLUSTERS',
      'ALLOWED_NAMESPACES: "b/payments" names cluster "b", which is not in CLUSTERS',
    ]);
  });

  it('need CLUSTERS, a kubeconfig, and a current context among them', () => {
    expect(
      problems({
        KUBECONFIG: kubeconfig,
        CLUSTER_DIMENSION: 'region',
        DEFAULT_CLUSTER: 'a',
        GLOBAL_WORKSPACES: 'x',
        ALLOWED_NAMESPACES: 'a/p',
      }),
    ).toEqual([
      'CLUSTER_DIMENSION needs CLUSTERS (the kubeconfig contexts Mayday drives)',
      'DEFAULT_CLUSTER needs CLUSTERS (the kubeconfig contexts Mayday drives)',
      'GLOBAL_WORKSPACES needs CLUSTERS (the kubeconfig contexts Mayday drives)',
      'ALLOWED_NAMESPACES: "a/p" names a cluster, but CLUSTERS is not set',
    ]);
    expect(problems({ K8S_API_SERVER: 'https://k:6443', K8S_TOKEN: 't', CLUSTERS: 'a' })).toEqual([
      'CLUSTERS names kubeconfig contexts: it cannot be used with K8S_API_SERVER',
    ]);
    expect(problems({ KUBECONFIG: kubeconfig, CLUSTERS: 'b' })).toEqual([
      'DEFAULT_CLUSTER is not set and the kubeconfig\'s current context "a" is not in CLUSTERS (b)',
    ]);
    const broken = join(dir, 'broken');
    writeFileSync(broken, '{not yaml: [');
    expect(problems({ KUBECONFIG: broken, CLUSTERS: 'a' })[0]).toMatch(/^CLUSTERS: the kubeconfig could not be read/);
  });
});

describe('ALLOWED_NAMESPACES with cluster/namespace entries', () => {
  const entries = ['shared', 'a/payments', 'arn:aws:eks:eu-west-1:1:cluster/c/edge'];

  it('applies a bare entry in every cluster and a cluster/namespace entry in its cluster only', () => {
    expect(namespacesAllowedIn(entries, 'a')).toEqual(['shared', 'payments']);
    expect(namespacesAllowedIn(entries, 'b')).toEqual(['shared']);
    expect(namespacesAllowedIn(entries, 'arn:aws:eks:eu-west-1:1:cluster/c')).toEqual(['shared', 'edge']);
    expect(namespacesAllowedIn(['shared'], undefined)).toEqual(['shared']);
  });

  it('scopes each cluster: a namespace allowed in one cluster is refused in another, naming the cluster', () => {
    const inA = new Scope(entries, [], 'mayday-system', 'a');
    const inB = new Scope(entries, [], 'mayday-system', 'b');
    expect(inA.allows('payments', 'svc')).toBe(true);
    expect(inB.allows('payments', 'svc')).toBe(false);
    expect(inB.namespaceRefusal('payments')).toBe('namespace "payments" of cluster "b" is not in ALLOWED_NAMESPACES');
    expect(inB.allows('shared', 'svc')).toBe(true);
    expect(inA.namespaces).toEqual(['shared', 'payments']);
  });

  it('allows nothing in a cluster no entry applies to (the list is not empty, so it is not "every namespace")', () => {
    const onlyA = new Scope(['a/payments'], [], 'mayday-system', 'b');
    expect(onlyA.namespaces).toEqual([]);
    expect(onlyA.allows('payments', 'svc')).toBe(false);
    expect(onlyA.allows('default', 'svc')).toBe(false);
  });

  it('reads the entries of the configuration for the cluster the configuration is the view of', () => {
    const kube = join(dir, 'kubeconfig');
    const config = loadMaydayConfig({ WEBHOOK_TOKEN: TOKEN, KUBECONFIG: kube, CLUSTERS: 'a,b', ALLOWED_NAMESPACES: 'shared,b/payments' });
    expect(Scope.of(config).allowedNamespaces).toEqual(['shared']);
    expect(Scope.of(configForCluster(config, 'b')).allowedNamespaces).toEqual(['shared', 'payments']);
  });
});
