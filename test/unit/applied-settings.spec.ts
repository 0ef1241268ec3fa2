import { describe, expect, it } from 'vitest';
import { appliedSettingsOf, configVersionFor, reusableSettings, settingsBasis } from '../../src/experiments/plan/applied-settings';
import { contextDimensions } from '../../src/contract/context';
import type { VariantDto } from '../../src/contract/experiment.dto';
import type { DeploymentSettings } from '../../src/experiments/plan/variant-config';
import { TEST1_ID } from './fixtures';

const plan = { dimensions: contextDimensions({ namespace: 'mumbai', city: 'bom' }) };
const test1: VariantDto = { id: TEST1_ID, variant_type: 'EXPERIMENTAL', overrides: { 'container.image': 'nginx:1.27' } };
const settings: DeploymentSettings = { replicas: 2, image: 'nginx:1.27', port: 8080, env: [{ name: 'A', value: 'a' }] };

describe('applied settings', () => {
  const applied = appliedSettingsOf({ ...plan, experimental: [test1] }, new Map([[TEST1_ID, settings]]), '7');

  it('reuses what was applied while the context, the overrides and the config version are the same', () => {
    expect(applied.configVersion).toBe('7');
    expect(reusableSettings(applied, plan, [test1], '7')).toEqual(new Map([[TEST1_ID, settings]]));
  });

  it('resolves again when the config version changed', () => {
    expect(reusableSettings(applied, plan, [test1], '8').size).toBe(0);
  });

  it("resolves again when the variant's overrides changed", () => {
    const edited = { ...test1, overrides: { 'container.image': 'nginx:1.28' } };
    expect(reusableSettings(applied, plan, [edited], '7').size).toBe(0);
  });

  it('resolves again when the experiment context changed', () => {
    const moved = { dimensions: contextDimensions({ namespace: 'mumbai', city: 'del' }) };
    expect(reusableSettings(applied, moved, [test1], '7').size).toBe(0);
  });

  it('resolves a variant that was never applied, and everything without a record', () => {
    const test2: VariantDto = { id: `${TEST1_ID}x`, variant_type: 'EXPERIMENTAL', overrides: {} };
    expect([...reusableSettings(applied, plan, [test1, test2], '7').keys()]).toEqual([TEST1_ID]);
    expect(reusableSettings(undefined, plan, [test1], '7').size).toBe(0);
  });

  it('does not reuse recorded settings that would not pass as resolved ones (a record is editable data)', () => {
    const tampered = structuredClone(applied);
    tampered.variants[TEST1_ID].settings.image = 'two words';
    expect(reusableSettings(tampered, plan, [test1], '7').size).toBe(0);
    const badEnv = structuredClone(applied);
    badEnv.variants[TEST1_ID].settings.env = [{ name: '1=bad', value: 'x' }];
    expect(reusableSettings(badEnv, plan, [test1], '7').size).toBe(0);
  });

  it('takes the last applied config version for a state without one (resync, Deployment watch)', () => {
    expect(configVersionFor(undefined, applied)).toBe('7');
    expect(configVersionFor('9', applied)).toBe('9');
    expect(configVersionFor(undefined, undefined)).toBeUndefined();
  });

  it('bases a variant on its context, overrides and config version, whatever the key order', () => {
    const reordered = { dimensions: contextDimensions({ city: 'bom', namespace: 'mumbai' }) };
    expect(settingsBasis(reordered, test1, '7')).toBe(settingsBasis(plan, test1, '7'));
    expect(settingsBasis(plan, test1, undefined)).not.toBe(settingsBasis(plan, test1, '7'));
  });
});
