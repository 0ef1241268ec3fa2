import { describe, expect, it } from 'vitest';
import { actionFor, isAsApplied, withAppliedHash } from '../../src/kubernetes/object-diff';
import { APPLIED_HASH_ANNOTATION } from '../../src/naming/labels';

const desired = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'svc-dep-1-test1', namespace: 'ns', labels: { app: 'a' } },
  spec: { replicas: 2, template: { spec: { containers: [{ name: 'app', image: 'nginx:1.27', env: [{ name: 'A', value: '1' }] }] } } },
};

describe('the applied-hash annotation', () => {
  it('marks what was applied, keeping the desired annotations', () => {
    const applied = withAppliedHash({ ...desired, metadata: { ...desired.metadata, annotations: { keep: 'me' } } });
    expect(applied.metadata.annotations).toEqual({ keep: 'me', [APPLIED_HASH_ANNOTATION]: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(desired.metadata).not.toHaveProperty('annotations');
  });

  it('counts a live object mutated after the apply (sidecar, env, digest, defaults, status) as applied', () => {
    const live = structuredClone(withAppliedHash(desired)) as any;
    live.metadata.uid = 'u';
    live.metadata.annotations['deployment.kubernetes.io/revision'] = '1';
    live.spec.revisionHistoryLimit = 10;
    live.spec.template.spec.containers[0].image = 'nginx@sha256:0123';
    live.spec.template.spec.containers[0].env.push({ name: 'INJECTED', value: 'yes' });
    live.spec.template.spec.containers.push({ name: 'sidecar', image: 'proxy:1' });
    live.status = { availableReplicas: 2 };
    expect(isAsApplied(desired, live)).toBe(true);
  });

  it('says a live object needs a write when what Mayday wants changed, or it never applied it', () => {
    const live = withAppliedHash(desired);
    expect(isAsApplied({ ...desired, spec: { ...desired.spec, replicas: 3 } } as typeof desired, live)).toBe(false);
    expect(isAsApplied({ ...desired, metadata: { ...desired.metadata, labels: { app: 'b' } } }, live)).toBe(false);
    expect(isAsApplied(desired, desired)).toBe(false);
    expect(isAsApplied(desired, undefined)).toBe(false);
  });

  it('does not depend on key order', () => {
    const reordered = {
      spec: desired.spec,
      metadata: { labels: { app: 'a' }, namespace: 'ns', name: 'svc-dep-1-test1' },
      kind: 'Deployment',
      apiVersion: 'apps/v1',
    };
    expect(isAsApplied(reordered, withAppliedHash(desired))).toBe(true);
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
