import { Controller, Get, UseGuards } from '@nestjs/common';
import { BearerAuthGuard } from '../../common/bearer-auth.guard';
import { MaydayConfig } from '../../config/mayday-config';
import { ExperimentReconciler, type ResyncReport } from './experiment-reconciler.service';

/** The resync against Superposition: its interval, the workspaces it lists, and what its last round did. */
@Controller('resync')
@UseGuards(BearerAuthGuard)
export class ResyncController {
  constructor(
    private readonly reconciler: ExperimentReconciler,
    private readonly config: MaydayConfig,
  ) {}

  /** `last` is the default cluster's round; with CLUSTERS, `clusters` has every cluster's (each resyncs on its own). */
  @Get()
  status(): {
    intervalSeconds: number;
    workspaces: string[];
    last: ResyncReport | null;
    clusters?: { cluster: string; last: ResyncReport | null }[];
  } {
    const clusters = this.reconciler.lastResyncPerCluster;
    return {
      intervalSeconds: this.config.safety.resyncIntervalSeconds,
      workspaces: this.config.superposition.workspaces.map(({ orgId, workspace }) => `${orgId}/${workspace}`),
      last: this.reconciler.lastResync ?? null,
      ...(clusters ? { clusters } : {}),
    };
  }
}
