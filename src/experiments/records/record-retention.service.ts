import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { MaydayConfig } from '../../config/mayday-config';
import { LeaderElection } from '../../kubernetes/leader-election';
import { HOUR_MS, retentionOf } from './experiment-record';
import { ExperimentRecords } from './experiment-records.service';
import { Scope } from '../../config/scope';

/**
 * Deletes the records of experiments that finished more than RECORD_RETENTION_HOURS ago (in the
 * namespaces and workspaces this Mayday may act on), when this replica becomes leader and every hour while it leads, so that they do not pile up in the cluster (and in Mayday's cache).
 */
@Injectable()
export class RecordRetentionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RecordRetentionService.name);
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly records: ExperimentRecords,
    private readonly config: MaydayConfig,
    private readonly scope: Scope,
    private readonly leader: LeaderElection,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.safety.recordRetentionHours === 0) return;
    this.leader.onChange((leading) => {
      if (leading) void this.prune();
    });
    this.timer = setInterval(() => {
      if (this.leader.isLeader()) void this.prune();
    }, HOUR_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One pass; never throws (a failed pass is logged and the next one tries again). */
  async prune(now = Date.now()): Promise<string[]> {
    try {
      const deleted = await this.records.pruneExpired(retentionOf(this.config.safety.recordRetentionHours, now), this.scope);
      if (deleted.length > 0) {
        this.logger.log({
          msg: `deleted ${deleted.length} record(s) of experiments finished over RECORD_RETENTION_HOURS ago`,
          records: deleted,
        });
      }
      return deleted;
    } catch (error) {
      this.logger.warn(`could not prune the records of finished experiments: ${(error as Error).message}`);
      return [];
    }
  }
}
