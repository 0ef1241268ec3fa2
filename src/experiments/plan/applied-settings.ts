import { canonicalJson } from '../../common/canonical-json';
import type { VariantDto } from '../../contract/experiment.dto';
import type { ExperimentPlan } from './experiment-plan';
import { CONFIG_KEYS, deploymentSettings, type DeploymentSettings } from './variant-config';

/**
 * The Deployment settings Mayday last applied for an experiment's variants, each with the basis it was
 * resolved from: everything that can change a variant's resolved config (the experiment context, the
 * variant's overrides, Superposition's config_version). Kept in the record, so that a ramp or a pause
 * whose basis is unchanged reads nothing from Superposition.
 */
export interface AppliedSettings {
  /** The config_version the settings were resolved at (the last one a webhook carried). */
  configVersion?: string;
  variants: Record<string, { basis: string; settings: DeploymentSettings }>;
}

/**
 * The config_version an event stands for: the webhook's, or, for a state read from Superposition or a
 * record (which carry none), the one last applied: a base-config change is then picked up with the next
 * webhook that carries a newer version.
 */
export function configVersionFor(eventConfigVersion: string | undefined, applied: AppliedSettings | undefined): string | undefined {
  return eventConfigVersion ?? applied?.configVersion;
}

export function settingsBasis(plan: Pick<ExperimentPlan, 'dimensions'>, variant: VariantDto, configVersion: string | undefined): string {
  return canonicalJson({ context: plan.dimensions, overrides: variant.overrides ?? {}, configVersion: configVersion ?? null });
}

/** The recorded settings still valid for these variants (same basis); the others must be resolved again. */
export function reusableSettings(
  applied: AppliedSettings | undefined,
  plan: Pick<ExperimentPlan, 'dimensions'>,
  variants: readonly VariantDto[],
  configVersion: string | undefined,
): Map<string, DeploymentSettings> {
  const reusable = new Map<string, DeploymentSettings>();
  for (const variant of variants) {
    const recorded = applied?.variants[variant.id];
    if (!recorded || recorded.basis !== settingsBasis(plan, variant, configVersion)) continue;
    const settings = revalidated(variant.id, recorded.settings);
    if (settings) reusable.set(variant.id, settings);
  }
  return reusable;
}

/** Recorded settings pass the same checks as resolved ones (a record is data anyone with rights in its namespace could edit). */
function revalidated(variantId: string, settings: DeploymentSettings): DeploymentSettings | undefined {
  const config: Record<string, unknown> = {
    [CONFIG_KEYS.replicas]: settings.replicas,
    [CONFIG_KEYS.image]: settings.image,
    [CONFIG_KEYS.port]: settings.port,
  };
  for (const { name, value } of settings.env) config[`${CONFIG_KEYS.envPrefix}${name}`] = value;
  try {
    return deploymentSettings(variantId, config);
  } catch {
    return undefined;
  }
}

/** What to record for the settings a rollout applied. */
export function appliedSettingsOf(
  plan: Pick<ExperimentPlan, 'dimensions' | 'experimental'>,
  settings: ReadonlyMap<string, DeploymentSettings>,
  configVersion: string | undefined,
): AppliedSettings {
  const variants: AppliedSettings['variants'] = {};
  for (const variant of plan.experimental) {
    const applied = settings.get(variant.id);
    if (applied) variants[variant.id] = { basis: settingsBasis(plan, variant, configVersion), settings: applied };
  }
  return { ...(configVersion !== undefined ? { configVersion } : {}), variants };
}
