import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  APP_LABEL,
  EXPERIMENT_LABEL,
  isManagedByMayday,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  maydayLabels,
  ownedSelector,
  ROLE_LABEL,
  VARIANT_LABEL,
  WORKSPACE_LABEL,
} from '../../src/naming/labels';

const hash8 = (raw: string) => createHash('sha256').update(raw, 'utf8').digest('hex').slice(0, 8);

describe('label keys', () => {
  it('are the ones docs/contract.md §6 names', () => {
    expect(MANAGED_BY_LABEL).toBe('app.kubernetes.io/managed-by');
    expect(MANAGED_BY).toBe('mayday');
    expect(WORKSPACE_LABEL).toBe('mayday.superposition.io/workspace');
    expect(EXPERIMENT_LABEL).toBe('mayday.superposition.io/experiment');
    expect(VARIANT_LABEL).toBe('mayday.superposition.io/variant');
    expect(ROLE_LABEL).toBe('mayday.superposition.io/role');
    expect(APP_LABEL).toBe('app');
  });
});

describe('maydayLabels', () => {
  it('labels an object with who made it and for which workspace, experiment, variant and role', () => {
    expect(
      maydayLabels({
        workspace: 'nginxservice',
        experimentId: '7350102648234549248',
        variantId: '7350102648234549248-test1',
        role: 'canary',
      }),
    ).toEqual({
      'app.kubernetes.io/managed-by': 'mayday',
      'mayday.superposition.io/workspace': 'nginxservice',
      'mayday.superposition.io/experiment': '7350102648234549248',
      'mayday.superposition.io/variant': '7350102648234549248-test1',
      'mayday.superposition.io/role': 'canary',
    });
  });

  it('leaves the variant label out when there is no variant', () => {
    const labels = maydayLabels({ workspace: 'nginxservice', experimentId: '1', role: 'record' });
    expect(labels).toEqual({
      'app.kubernetes.io/managed-by': 'mayday',
      'mayday.superposition.io/workspace': 'nginxservice',
      'mayday.superposition.io/experiment': '1',
      'mayday.superposition.io/role': 'record',
    });
    expect(Object.keys(labels)).not.toContain(VARIANT_LABEL);
  });

  it('keeps the case of valid label values and makes invalid ones valid', () => {
    const labels = maydayLabels({
      workspace: 'my workspace',
      experimentId: '7350102648234549248',
      variantId: '7350102648234549248-Test_1',
      role: 'stable',
    });
    expect(labels[WORKSPACE_LABEL]).toBe(`my-workspace-${hash8('my workspace')}`);
    expect(labels[VARIANT_LABEL]).toBe('7350102648234549248-Test_1');
    expect(labels[ROLE_LABEL]).toBe('stable');
  });

  it('shortens a long variant id to a 63-character label value', () => {
    const variantId = `7350102648234549248-${'x'.repeat(80)}`;
    const labels = maydayLabels({ workspace: 'w', experimentId: '1', variantId, role: 'canary' });
    expect(labels[VARIANT_LABEL]).toHaveLength(63);
    expect(labels[VARIANT_LABEL]).toBe(`${variantId.slice(0, 54)}-${hash8(variantId)}`);
  });
});

describe('ownedSelector', () => {
  it('selects everything Mayday made when given nothing', () => {
    expect(ownedSelector({})).toBe('app.kubernetes.io/managed-by=mayday');
  });

  it('adds each given part, in a fixed order', () => {
    expect(ownedSelector({ role: 'canary', variantId: 'v-1', experimentId: '42', workspace: 'nginxservice' })).toBe(
      'app.kubernetes.io/managed-by=mayday,mayday.superposition.io/workspace=nginxservice,' +
        'mayday.superposition.io/experiment=42,mayday.superposition.io/variant=v-1,mayday.superposition.io/role=canary',
    );
    expect(ownedSelector({ workspace: 'nginxservice', experimentId: '42' })).toBe(
      'app.kubernetes.io/managed-by=mayday,mayday.superposition.io/workspace=nginxservice,mayday.superposition.io/experiment=42',
    );
  });

  it('uses the same label values maydayLabels writes', () => {
    const owner = { workspace: 'Work Space', experimentId: '7', variantId: `7-${'Y'.repeat(70)}`, role: 'stable' as const };
    const labels = maydayLabels(owner);
    const expected = [MANAGED_BY_LABEL, WORKSPACE_LABEL, EXPERIMENT_LABEL, VARIANT_LABEL, ROLE_LABEL]
      .map((key) => `${key}=${labels[key]}`)
      .join(',');
    expect(ownedSelector(owner)).toBe(expected);
  });
});

describe('isManagedByMayday', () => {
  it('is true only for objects labelled app.kubernetes.io/managed-by=mayday', () => {
    expect(isManagedByMayday({ metadata: { labels: { 'app.kubernetes.io/managed-by': 'mayday' } } })).toBe(true);
    expect(isManagedByMayday({ metadata: { labels: maydayLabels({ workspace: 'w', experimentId: '1', role: 'canary' }) } })).toBe(true);
    expect(isManagedByMayday({ metadata: { labels: { 'app.kubernetes.io/managed-by': 'Helm' } } })).toBe(false);
    expect(isManagedByMayday({ metadata: { labels: { 'app.kubernetes.io/managed-by': 'Mayday' } } })).toBe(false);
    expect(isManagedByMayday({ metadata: { labels: { 'mayday.superposition.io/role': 'canary' } } })).toBe(false);
    expect(isManagedByMayday({ metadata: { labels: {} } })).toBe(false);
    expect(isManagedByMayday({ metadata: {} })).toBe(false);
    expect(isManagedByMayday({})).toBe(false);
    expect(isManagedByMayday(undefined)).toBe(false);
  });
});
