import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { MaydayConfig } from '../config/mayday-config';
import { EXPERIMENT_LABEL } from '../naming/labels';
import { SuperpositionClient } from '../superposition/superposition.client';
import type { WebhookEventName } from '../webhooks/dto/webhook-event.dto';
import type { WorkloadChange } from '../workloads/workload-watcher.service';
import { WorkloadWatcher } from '../workloads/workload-watcher.service';
import type { ExperimentStatus } from './dto/experiment.dto';
import { parseExperiment } from './dto/parse-experiment';
import { ExperimentEventProcessor } from './experiment-event.processor';
import { TERMINAL_STATUSES, type ExperimentRecord } from './experiment-record';
import { ExperimentRecords } from './experiment-records.service';
import { isInScope, scopeOf } from './scope';

/** The event a state corresponds to, for states that reach Mayday without a webhook. */
const EVENT_FOR_STATUS: Record<ExperimentStatus, WebhookEventName> = {
  CREATED: 'ExperimentUpdated',
  INPROGRESS: 'ExperimentInprogress',
  PAUSED: 'ExperimentPaused',
  CONCLUDED: 'ExperimentConcluded',
  DISCARDED: 'ExperimentDiscarded',
};

export interface ResyncReport {
  checked: number;
  converged: number;
  failed: number;
}

/**
 * Converges experiments without a webhook: again from its record when one of its Deployments
 * changes state (a canary became available, or started failing), and from Superposition's own
 * copy every RESYNC_INTERVAL_SECONDS (and once at start-up), which repairs lost webhooks.
 */
@Injectable()
export class ExperimentReconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ExperimentReconciler.name);
  /** Experiments with a reconcile queued; `true` when another one was asked for meanwhile. */
  private readonly queued = new Map<string, boolean>();
  private timer?: NodeJS.Timeout;
  private resyncRunning?: Promise<ResyncReport>;

  constructor(
    private readonly processor: ExperimentEventProcessor,
    private readonly records: ExperimentRecords,
    private readonly workloads: WorkloadWatcher,
    private readonly superposition: SuperpositionClient,
    private readonly config: MaydayConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.workloads.onChange((change) => this.onWorkloadChange(change));
    const interval = this.config.safety.resyncIntervalSeconds;
    if (interval === 0) return;
    if (!this.superposition.configured) {
      this.logger.warn('RESYNC_INTERVAL_SECONDS is set but SUPERPOSITION_URL is not: no resync');
      return;
    }
    void this.resync();
    this.timer = setInterval(() => void this.resync(), interval * 1000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Reads every unfinished experiment from Superposition and converges to it, as if its webhook had arrived. */
  resync(): Promise<ResyncReport> {
    this.resyncRunning ??= this.resyncOnce().finally(() => (this.resyncRunning = undefined));
    return this.resyncRunning;
  }

  private async resyncOnce(): Promise<ResyncReport> {
    const report: ResyncReport = { checked: 0, converged: 0, failed: 0 };
    let records: ExperimentRecord[];
    try {
      records = (await this.records.list()).filter((record) => this.unfinished(record) && this.inScope(record));
    } catch (error) {
      this.logger.warn(`resync could not list the experiment records: ${(error as Error).message}`);
      return report;
    }
    for (const record of records) {
      report.checked += 1;
      try {
        const orgId = this.config.superposition.orgId ?? record.organisationId;
        if (!orgId) throw new Error('no organisation id (set SUPERPOSITION_ORG_ID)');
        const current = await this.superposition.getExperiment({ orgId, workspace: record.workspace }, record.experimentId);
        if (current === undefined) {
          this.logger.warn(`resync: Superposition has no experiment ${record.experimentId} (workspace ${record.workspace})`);
          continue;
        }
        const experiment = parseExperiment(current, 'experiment');
        await this.processor.process(
          { event: EVENT_FOR_STATUS[experiment.status], workspace: record.workspace, organisationId: record.organisationId, experiment },
          'resync',
        );
        report.converged += 1;
      } catch (error) {
        report.failed += 1;
        this.logger.warn(`resync of experiment ${record.experimentId} failed: ${(error as Error).message}`);
      }
    }
    return report;
  }

  /**
   * A Deployment's labels only say which experiment to look at: what is converged to comes from that
   * experiment's record (in Mayday's namespace), and only if the record binds it to the Deployment's
   * namespace. Anyone who can label a Deployment can ask for this; nobody can steer it elsewhere.
   */
  private onWorkloadChange({ deployment }: WorkloadChange): void {
    const namespace = deployment.metadata?.namespace;
    const experimentId = deployment.metadata?.labels?.[EXPERIMENT_LABEL];
    if (!namespace || !experimentId) return;
    const key = `${namespace}/${experimentId}`;
    if (this.queued.has(key)) {
      this.queued.set(key, true);
      return;
    }
    this.queued.set(key, false);
    void this.reconcileRepeatedly(key, namespace, experimentId);
  }

  private async reconcileRepeatedly(key: string, namespace: string, experimentId: string): Promise<void> {
    do {
      this.queued.set(key, false);
      await this.reconcileFromRecord(namespace, experimentId);
    } while (this.queued.get(key));
    this.queued.delete(key);
  }

  /**
   * Converges one experiment to its recorded state again (its Deployments' states may have changed),
   * when a Deployment in `namespace` asked for it: a record bound to another namespace is left alone.
   */
  async reconcileFromRecord(namespace: string, experimentId: string): Promise<void> {
    try {
      const record = await this.records.read(experimentId);
      if (!record?.experiment || !this.unfinished(record) || !this.inScope(record)) return;
      if (record.namespace !== namespace) {
        this.logger.warn(
          `a Deployment in ${namespace} names experiment ${experimentId}, which runs in ${record.namespace}: ignored (labels never move Mayday to another namespace)`,
        );
        return;
      }
      const experiment = parseExperiment(JSON.parse(record.experiment), 'record.experiment');
      await this.processor.process(
        { event: record.event as WebhookEventName, workspace: record.workspace, organisationId: record.organisationId, experiment },
        'watch',
      );
    } catch (error) {
      this.logger.warn(
        `experiment ${experimentId} in ${namespace} could not converge after a Deployment change: ${(error as Error).message}`,
      );
    }
  }

  private unfinished(record: ExperimentRecord): boolean {
    return !TERMINAL_STATUSES.has(record.status) || record.phase === 'promotion-pending';
  }

  private inScope(record: ExperimentRecord): boolean {
    return isInScope(record, scopeOf(this.config));
  }
}
