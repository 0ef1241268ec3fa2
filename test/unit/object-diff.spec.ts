import { describe, expect, it } from 'vitest';
import { actionFor, isSubset } from '../../src/kubernetes/object-diff';

describe('isSubset', () => {
  it('is true for equal primitives and false for different ones', () => {
    expect(isSubset(1, 1)).toBe(true);
    expect(isSubset('a', 'a')).toBe(true);
    expect(isSubset(true, true)).toBe(true);
    expect(isSubset(null, null)).toBe(true);
    expect(isSubset(1, 2)).toBe(false);
    expect(isSubset(80, '80')).toBe(false);
    expect(isSubset('true', true)).toBe(false);
    expect(isSubset(null, undefined)).toBe(false);
    expect(isSubset(0, undefined)).toBe(false);
  });

  it('lets the live map carry extra keys (server defaults, other managers)', () => {
    const desired = { metadata: { name: 'x', labels: { app: 'a' } }, spec: { replicas: 2 } };
    const live = {
      metadata: { name: 'x', uid: 'u', resourceVersion: '7', labels: { app: 'a', 'pod-template-hash': 'h' } },
      spec: { replicas: 2, revisionHistoryLimit: 10 },
      status: { readyReplicas: 2 },
    };
    expect(isSubset(desired, live)).toBe(true);
  });

  it('is false when a desired key is missing or different in the live map', () => {
    expect(isSubset({ spec: { replicas: 2 } }, { spec: { replicas: 3 } })).toBe(false);
    expect(isSubset({ metadata: { labels: { app: 'a' } } }, { metadata: { labels: {} } })).toBe(false);
    expect(isSubset({ metadata: { annotations: { w: '10' } } }, { metadata: {} })).toBe(false);
    expect(isSubset({ a: null }, {})).toBe(false);
  });

  it('skips desired keys whose value is undefined', () => {
    expect(isSubset({ a: 1, b: undefined }, { a: 1 })).toBe(true);
  });

  it('requires lists of the same length, compared in order', () => {
    const env = [
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
    ];
    expect(
      isSubset(
        { env },
        {
          env: [
            { name: 'A', value: '1' },
            { name: 'B', value: '2' },
          ],
        },
      ),
    ).toBe(true);
    expect(isSubset({ env: [env[0]] }, { env })).toBe(false);
    expect(isSubset({ env }, { env: [env[0]] })).toBe(false);
    expect(isSubset({ env }, { env: [env[1], env[0]] })).toBe(false);
    expect(isSubset([], [])).toBe(true);
  });

  it('lets list items be maps with extra live keys', () => {
    const desired = { ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] };
    const live = { ports: [{ port: 80, targetPort: 8080, protocol: 'TCP', name: 'http', nodePort: undefined }] };
    expect(isSubset(desired, live)).toBe(true);
  });

  it('does not confuse maps, lists and primitives', () => {
    expect(isSubset({}, [])).toBe(false);
    expect(isSubset([], {})).toBe(false);
    expect(isSubset({}, null)).toBe(false);
    expect(isSubset({}, 'x')).toBe(false);
    expect(isSubset([1], '1')).toBe(false);
    expect(isSubset({ a: 1 }, undefined)).toBe(false);
    expect(isSubset({}, {})).toBe(true);
  });

  it('holds for a canary weight change only when the weight is the same', () => {
    const desired = { metadata: { annotations: { 'nginx.ingress.kubernetes.io/canary-weight': '20' } } };
    expect(isSubset(desired, { metadata: { annotations: { 'nginx.ingress.kubernetes.io/canary-weight': '20', other: 'x' } } })).toBe(true);
    expect(isSubset(desired, { metadata: { annotations: { 'nginx.ingress.kubernetes.io/canary-weight': '10' } } })).toBe(false);
  });
});

describe('actionFor', () => {
  it('names kind, namespace and name of the object with the action', () => {
    expect(actionFor({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'mumbai' } }, 'created')).toEqual({
      kind: 'Deployment',
      namespace: 'mumbai',
      name: 'd',
      action: 'created',
    });
    expect(actionFor({ kind: 'Service', metadata: { name: 's', namespace: 'n' } }, 'deleted').action).toBe('deleted');
  });

  it('fills what the object lacks', () => {
    expect(actionFor({}, 'unchanged')).toEqual({ kind: 'Unknown', namespace: '', name: '', action: 'unchanged' });
    expect(actionFor({ kind: 'Ingress', metadata: {} }, 'updated')).toEqual({
      kind: 'Ingress',
      namespace: '',
      name: '',
      action: 'updated',
    });
  });
});
