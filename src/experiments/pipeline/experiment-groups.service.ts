import { Injectable, Logger } from '@nestjs/common';
import { MaydayConfig } from '../../config/mayday-config';
import { SuperpositionClient } from '../../superposition/superposition.client';
import type { ExperimentEvent } from '../../contract/experiment-event';
import { superpositionScopeOf } from '../plan/superposition-scope';
import { parseExperimentGroup, type ExperimentGroup } from '../plan/experiment-group';

/** More system-generated group ids than this and the memory of them starts again (they are only a shortcut). */
const MAX_REMEMBERED = 10_000;

/**
 * The experiment group a running experiment's share depends on. A user-created group's traffic can
 * change at any time, so it is read again for every event; a system-generated group never changes
 * type and never scales a share, so its id is remembered and not read again.
 */
@Injectable()
export class ExperimentGroups {
  private readonly logger = new Logger(ExperimentGroups.name);
  private readonly systemGenerated = new Set<string>();

  constructor(
    private readonly superposition: SuperpositionClient,
    private readonly config: MaydayConfig,
  ) {}

  /** The group that scales this experiment's share, or undefined (none, system-generated, or not INPROGRESS). */
  async scalingGroupOf(event: ExperimentEvent): Promise<ExperimentGroup | undefined> {
    const { experiment } = event;
    const groupId = experiment.experiment_group_id;
    if (experiment.status !== 'INPROGRESS' || !groupId || !this.superposition.configured || this.systemGenerated.has(groupId)) {
      return undefined;
    }
    const plain = await this.superposition.getExperimentGroup(superpositionScopeOf(this.config, event)(), groupId);
    if (plain === undefined) {
      this.logger.warn(`experiment ${experiment.id}: Superposition has no experiment group ${groupId}; the experiment's own share is used`);
      return undefined;
    }
    const group = parseExperimentGroup(groupId, plain);
    if (group.groupType === 'SYSTEM_GENERATED') {
      if (this.systemGenerated.size >= MAX_REMEMBERED) this.systemGenerated.clear();
      this.systemGenerated.add(groupId);
      return undefined;
    }
    return group;
  }
}
