import { Injectable, Logger } from '@nestjs/common';
import { MaydayConfig } from '../../config/mayday-config';
import { SuperpositionClient, type SuperpositionScope } from '../../superposition/superposition.client';
import type { Dimensions } from '../../contract/context';
import type { VariantDto } from '../../contract/experiment.dto';
import { applyOverrides, deploymentSettings, RESOLVE_PREFIXES, type DeploymentSettings } from '../plan/variant-config';

/**
 * A variant's Deployment settings: Superposition's resolved config for the experiment's whole
 * context plus the variant, with the payload's overrides laid on top (they win). Without
 * SUPERPOSITION_URL the overrides alone are the config.
 */
@Injectable()
export class VariantConfigResolver {
  private readonly logger = new Logger(VariantConfigResolver.name);

  constructor(
    private readonly superposition: SuperpositionClient,
    private readonly config: MaydayConfig,
  ) {}

  async settingsFor(scope: SuperpositionScope, dimensions: Dimensions, variant: VariantDto): Promise<DeploymentSettings> {
    const overrides = variant.overrides ?? {};
    if (!this.superposition.configured) return deploymentSettings(variant.id, overrides, this.config.safety.maxReplicas);
    const resolved = await this.superposition.resolveConfig(scope, dimensions, variant.id, RESOLVE_PREFIXES);
    const { config, overriddenKeys } = applyOverrides(resolved, overrides);
    if (overriddenKeys.length > 0) {
      this.logger.warn(
        `variant ${variant.id}: Superposition resolved ${overriddenKeys.join(', ')} differently from the experiment's overrides; the overrides are used`,
      );
    }
    return deploymentSettings(variant.id, config, this.config.safety.maxReplicas);
  }
}
