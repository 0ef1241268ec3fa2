import { InvalidContentError } from '../../common/errors';
import { canonicalJson } from '../../common/canonical-json';

/** Config keys that shape a Deployment (docs/contract.md §5). */
export const CONFIG_KEYS = {
  replicas: 'replicas',
  image: 'container.image',
  port: 'container.port',
  envPrefix: 'env.',
} as const;

/** The key prefixes Mayday asks Superposition to resolve (`prefix=`): every key above, nothing else. */
export const RESOLVE_PREFIXES: readonly string[] = ['container.', CONFIG_KEYS.envPrefix, CONFIG_KEYS.replicas];

export interface DeploymentSettings {
  replicas: number;
  image: string;
  port: number;
  /** Sorted by name so the manifest is the same whatever order the config came in. */
  env: { name: string; value: string }[];
}

/** A variant's config cannot become a Deployment; names the variant and the key. */
export class VariantConfigError extends InvalidContentError {
  constructor(
    readonly variantId: string,
    readonly key: string,
    problem: string,
  ) {
    super(`variant "${variantId}": config key "${key}" ${problem}`);
  }
}

export interface MergedConfig {
  config: Record<string, unknown>;
  /** Keys where the resolved value disagreed with the payload's override (and the override won). */
  overriddenKeys: string[];
}

/**
 * The payload's overrides are the truth for the keys they name (docs/contract.md §3): a resolved
 * config that disagrees (e.g. Superposition silently answering the base config) loses.
 */
export function applyOverrides(resolved: Record<string, unknown>, overrides: Record<string, unknown>): MergedConfig {
  const config: Record<string, unknown> = { ...resolved };
  const overriddenKeys: string[] = [];
  for (const [key, value] of Object.entries(overrides)) {
    if (Object.hasOwn(resolved, key) && !sameJson(resolved[key], value)) overriddenKeys.push(key);
    config[key] = value;
  }
  return { config, overriddenKeys: overriddenKeys.sort() };
}

// Kubernetes' own rule for env var names (IsEnvVarName).
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const MAX_ENV_VALUE_BYTES = 256 * 1024;

/** The most replicas any variant may ask for when MAX_REPLICAS says nothing else. */
export const DEFAULT_MAX_REPLICAS = 100;

/** Reads the Deployment-shaping keys of one variant's config, or throws VariantConfigError. */
export function deploymentSettings(
  variantId: string,
  config: Record<string, unknown>,
  maxReplicas = DEFAULT_MAX_REPLICAS,
): DeploymentSettings {
  const replicas = integerKey(variantId, config, CONFIG_KEYS.replicas, 1, 0, maxReplicas);
  const port = integerKey(variantId, config, CONFIG_KEYS.port, 80, 1, 65535);

  const image = config[CONFIG_KEYS.image];
  if (image === undefined || image === null) {
    throw new VariantConfigError(variantId, CONFIG_KEYS.image, 'is required');
  }
  if (typeof image !== 'string' || image.trim() === '' || /\s/.test(image.trim())) {
    throw new VariantConfigError(
      variantId,
      CONFIG_KEYS.image,
      `must be a non-empty image reference without spaces (got ${JSON.stringify(image)})`,
    );
  }

  const env: DeploymentSettings['env'] = [];
  for (const [key, raw] of Object.entries(config)) {
    if (!key.startsWith(CONFIG_KEYS.envPrefix)) continue;
    const name = key.slice(CONFIG_KEYS.envPrefix.length);
    if (!ENV_NAME.test(name)) {
      throw new VariantConfigError(variantId, key, `does not name a valid environment variable ("${name}")`);
    }
    const value = envValue(raw);
    if (Buffer.byteLength(value) > MAX_ENV_VALUE_BYTES) {
      throw new VariantConfigError(variantId, key, `is longer than ${MAX_ENV_VALUE_BYTES} bytes`);
    }
    env.push({ name, value });
  }
  env.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { replicas, image: image.trim(), port, env };
}

/** Strings as they are; any other JSON value as its JSON text (`true`, `3`, `{"a":1}`, `null`). */
export function envValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function integerKey(variantId: string, config: Record<string, unknown>, key: string, fallback: number, min: number, max: number): number {
  const value = config[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new VariantConfigError(variantId, key, `must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return value;
}

/** Equal as JSON values, whatever the order of object keys. */
function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
