import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ForbiddenScopeError } from '../../common/errors';
import { MaydayConfig, type SuperpositionWorkspace } from '../../config/mayday-config';
import { LeaderElection } from '../../kubernetes/leader-election';
import { MetricsService } from '../../metrics/metrics.service';
import { SuperpositionError } from '../../superposition/superposition-errors';
import { EXPERIMENT_LABEL } from '../../naming/labels';
import { SuperpositionClient } from '../../superposition/superposition.client';
import type { WebhookEventName } from '../../contract/webhook-envelope';
import type { WorkloadChange } from '../../workloads/workload-watcher.service';
import { WorkloadWatcher } from '../../workloads/workload-watcher.service';
import type { ExperimentStatus } from '../../contract/experiment.dto';
import { parseExperiment } from '../../contract/parse-experiment';
import { ExperimentEventProcessor } from './experiment-event.processor';
import { TERMINAL_STATUSES, type ExperimentRecord } from '../records/experiment-record';
import { ExperimentRecords } from '../records/experiment-records.service';
import { ScaleDownTimers } from './scale-down-timers';
import { Scope } from '../../config/scope';

/** How often a Deployment change whose experiment has no record yet looks for it again. */
const RECORD_LOOK_AGAIN_MS = 500;

/** How many unfinished experiments a new leader converges at once (ExperimentReconciler.takeOver). */
const CATCH_UP_PARALLEL = 8;

/** How soon a scale-down that could not complete (the API server failed) is tried again. */
const SCALE_DOWN_RETRY_MS = 5000;

/** The event a state corresponds to, for states that reach Mayday without a webhook. */
const EVENT_FOR_STATUS: Record<ExperimentStatus, WebhookEventName> = {
  CREATED: 'ExperimentUpdated',
  INPROGRESS: 'ExperimentInprogress',
  PAUSED: 'ExperimentPaused',
  CONCLUDED: 'ExperimentConcluded',
  DISCARDED: 'ExperimentDiscarded',
};

/** What one resync round did, kept for the status API (`GET /resync`). */
export interface ResyncReport {
  startedAt: string;
  finishedAt?: string;
  /** Experiments converged from the workspaces' lists. */
  listed: number;
  /** Recorded unfinished experiments the lists did not show, read one by one. */
  readOneByOne: number;
  converged: number;
  failed: number;
  /** Listed experiments whose namespace or workspace Mayday may not act on (refused by the same check as a webhook). */
  outOfScope: number;
  workspaces: WorkspaceListing[];
}

export interface WorkspaceListing {
  organisation: string;
  workspace: string;
  ok: boolean;
  /** INPROGRESS and PAUSED experiments the list held. */
  experiments?: number;
  /** Superposition's HTTP status when the list failed (0: no answer). */
  statusCode?: number;
  error?: string;
}

const LISTED_STATUSES: ExperimentStatus[] = ['INPROGRESS', 'PAUSED'];

/**
 * Converges experiments without a webhook: again from its record when one of its Deployments
 * changes state (a canary became available, or started failing), when a promotion's scale-down is
 * due (timers armed from the records at start-up), and from Superposition's own copy every
 * RESYNC_INTERVAL_SECONDS (and once at start-up), which repairs lost webhooks: each workspace's
 * INPROGRESS and PAUSED experiments are listed (so one whose every webhook was lost is found too),
 * then recorded unfinished experiments the lists no longer show are read one by one.
 * All of it runs on the leader only (LeaderElection): a replica that becomes leader converges every
 * unfinished recorded experiment once (whatever changed while no one led), re-arms the scale-downs
 * from the records and resyncs; one that stops leading starts nothing more.
 */
@Injectable()
export class ExperimentReconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ExperimentReconciler.name);
  /** Experiments with a reconcile queued; `true` when another one was asked for meanwhile. */
  private readonly queued = new Map<string, boolean>();
  private timer?: NodeJS.Timeout;
  private resyncRunning?: Promise<ResyncReport>;
  private lastReport?: ResyncReport;

  constructor(
    private readonly processor: ExperimentEventProcessor,
    private readonly records: ExperimentRecords,
    private readonly workloads: WorkloadWatcher,
    private readonly superposition: SuperpositionClient,
    private readonly config: MaydayConfig,
    private readonly scope: Scope,
    private readonly scaleDowns: ScaleDownTimers,
    private readonly metrics: MetricsService,
    private readonly leader: LeaderElection,
  ) {}

  onApplicationBootstrap(): void {
    this.workloads.onChange((change) => this.onWorkloadChange(change));
    this.scaleDowns.onDue((namespace, experimentId) => void this.scaleDownWhenDue(namespace, experimentId));
    // A scale-down another replica scheduled (it handled the conclusion) is armed here too: whoever leads when it is due runs it.
    this.records.onChange((record) => {
      if (record.phase === 'scale-down-pending' && record.scaleDownAt && this.inScope(record)) {
        this.scaleDowns.arm(record.namespace, record.experimentId, record.scaleDownAt);
      }
    });
    this.leader.onChange((leading) => {
      if (leading) void this.takeOver();
    });
    const interval = this.config.safety.resyncIntervalSeconds;
    if (interval === 0) return;
    if (!this.superposition.configured) {
      this.logger.warn('RESYNC_INTERVAL_SECONDS is set but SUPERPOSITION_URL is not: no resync');
      return;
    }
    this.timer = setInterval(() => {
      if (this.leader.isLeader()) void this.resync();
    }, interval * 1000);
    this.timer.unref();
  }

  /** What a new leader does first: the scale-downs from the records, every unfinished experiment again, a resync. */
  private async takeOver(): Promise<void> {
    await this.armScaleDowns();
    await this.reconcileUnfinished();
    if (this.config.safety.resyncIntervalSeconds > 0 && this.superposition.configured && this.leader.isLeader()) await this.resync();
  }

  /** Deployment changes this replica ignored while another led (or no one did) are caught up from the records. */
  private async reconcileUnfinished(): Promise<void> {
    let records: ExperimentRecord[];
    try {
      records = (await this.records.list()).filter((record) => this.unfinished(record) && this.inScope(record));
    } catch (error) {
      this.logger.warn(`could not list the records to converge them as the new leader: ${(error as Error).message}`);
      return;
    }
    // A few at a time: a thousand of them one after the other take minutes; all at once would starve the webhooks.
    const next = records.values();
    const worker = async () => {
      for (let item = next.next(); !item.done && this.leader.isLeader(); item = next.next()) {
        await this.reconcileFromRecord(item.value.namespace, item.value.experimentId);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CATCH_UP_PARALLEL, records.length) }, worker));
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Reads every unfinished experiment from Superposition and converges to it, as if its webhook had arrived. */
  resync(): Promise<ResyncReport> {
    this.resyncRunning ??= this.resyncOnce().finally(() => (this.resyncRunning = undefined));
    return this.resyncRunning;
  }

  /** The last resync round's report (the one running, if any, is not finished). */
  get lastResync(): ResyncReport | undefined {
    return this.lastReport;
  }

  /** The other clusters' reconcilers (CLUSTERS): the application's, the default cluster's, reports theirs too. */
  private readonly otherClusters: ExperimentReconciler[] = [];

  showAlso(other: ExperimentReconciler): void {
    this.otherClusters.push(other);
  }

  /** Each cluster's last resync round, this one's first; undefined without CLUSTERS. */
  get lastResyncPerCluster(): { cluster: string; last: ResyncReport | null }[] | undefined {
    if (!this.config.clusters) return undefined;
    return [this, ...this.otherClusters].map((reconciler) => ({
      cluster: reconciler.config.clusters!.current,
      last: reconciler.lastReport ?? null,
    }));
  }

  private async resyncOnce(): Promise<ResyncReport> {
    const report: ResyncReport = {
      startedAt: new Date().toISOString(),
      listed: 0,
      readOneByOne: 0,
      converged: 0,
      failed: 0,
      outOfScope: 0,
      workspaces: [],
    };
    const listedIds = new Set<string>();
    const unlisted = new Set<string>();
    for (const scope of this.config.superposition.workspaces) {
      const experiments = await this.listWorkspace(scope, report);
      if (!experiments) {
        unlisted.add(workspaceKey(scope.orgId, scope.workspace));
        continue;
      }
      for (const plain of experiments) {
        if (!this.leader.isLeader()) return this.finish(report);
        const id = (plain as { id?: unknown } | null)?.id;
        if (typeof id === 'string') listedIds.add(id);
        report.listed += 1;
        await this.converge(plain, scope.workspace, scope.orgId, report);
      }
    }

    let records: ExperimentRecord[];
    try {
      records = (await this.records.list()).filter((record) => this.unfinished(record) && this.inScope(record));
    } catch (error) {
      this.logger.warn(`resync could not list the experiment records: ${(error as Error).message}`);
      return this.finish(report);
    }
    // Recorded experiments the lists no longer show were concluded or discarded (or their workspace is
    // not listed); those of a workspace whose list failed wait for the next round.
    for (const record of records) {
      if (!this.leader.isLeader()) break;
      const orgId = this.config.superposition.orgId ?? record.organisationId;
      if (listedIds.has(record.experimentId) || (orgId && unlisted.has(workspaceKey(orgId, record.workspace)))) continue;
      report.readOneByOne += 1;
      try {
        if (!orgId) throw new Error('no organisation id (set SUPERPOSITION_ORG_ID)');
        const current = await this.superposition.getExperiment({ orgId, workspace: record.workspace }, record.experimentId);
        if (current === undefined) {
          this.logger.warn(`resync: Superposition has no experiment ${record.experimentId} (workspace ${record.workspace})`);
          continue;
        }
        await this.converge(current, record.workspace, record.organisationId, report);
      } catch (error) {
        report.failed += 1;
        this.logger.warn(`resync of experiment ${record.experimentId} failed: ${(error as Error).message}`);
      }
    }
    return this.finish(report);
  }

  /** One workspace's running experiments, all pages; a failure is reported once for this round and not retried. */
  private async listWorkspace(scope: SuperpositionWorkspace, report: ResyncReport): Promise<unknown[] | undefined> {
    const listing: WorkspaceListing = { organisation: scope.orgId, workspace: scope.workspace, ok: false };
    report.workspaces.push(listing);
    try {
      const experiments = await this.superposition.listExperiments(scope, LISTED_STATUSES);
      Object.assign(listing, { ok: true, experiments: experiments.length });
      return experiments;
    } catch (error) {
      const statusCode = error instanceof SuperpositionError ? error.statusCode : 0;
      Object.assign(listing, { statusCode, error: (error as Error).message });
      this.metrics.resyncListFailures.inc({ organisation: scope.orgId, workspace: scope.workspace, status: String(statusCode) });
      this.logger.warn({
        msg: `resync could not list the experiments of workspace ${scope.orgId}/${scope.workspace}; next try in ${this.config.safety.resyncIntervalSeconds} s`,
        organisation: scope.orgId,
        workspace: scope.workspace,
        statusCode,
        error: (error as Error).message,
      });
      return undefined;
    }
  }

  /** Converges one experiment as Superposition has it, through the same checks (scope, order) as a webhook. */
  private async converge(plain: unknown, workspace: string, organisationId: string | undefined, report: ResyncReport): Promise<void> {
    try {
      const experiment = parseExperiment(plain, 'experiment');
      await this.processor.process({ event: EVENT_FOR_STATUS[experiment.status], workspace, organisationId, experiment }, 'resync');
      report.converged += 1;
    } catch (error) {
      if (error instanceof ForbiddenScopeError) {
        report.outOfScope += 1;
        return;
      }
      report.failed += 1;
      const id = (plain as { id?: unknown } | null)?.id;
      this.logger.warn(`resync of experiment ${String(id)} (workspace ${workspace}) failed: ${(error as Error).message}`);
    }
  }

  private finish(report: ResyncReport): ResyncReport {
    report.finishedAt = new Date().toISOString();
    this.lastReport = report;
    return report;
  }

  /**
   * A Deployment's labels only say which experiment to look at: what is converged to comes from that
   * experiment's record (in Mayday's namespace), and only if the record binds it to the Deployment's
   * namespace. Anyone who can label a Deployment can ask for this; nobody can steer it elsewhere.
   */
  private onWorkloadChange({ deployment }: WorkloadChange): void {
    // A new leader converges every unfinished experiment first, so what followers ignore here is not lost.
    if (!this.leader.isLeader()) return;
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
    // The event that creates the experiment's record may still be in flight (here or at another replica,
    // which writes the record after its objects): a change seen before the record is looked at again
    // until that event's deadline has passed, or it would be lost.
    const lookUntil = Date.now() + this.config.webhook.eventDeadlineMs;
    do {
      this.queued.set(key, false);
      if (!this.leader.isLeader()) continue;
      const recorded = await this.reconcileFromRecord(namespace, experimentId);
      if (!recorded && Date.now() < lookUntil) {
        await new Promise((resolve) => setTimeout(resolve, RECORD_LOOK_AGAIN_MS));
        this.queued.set(key, true);
      }
    } while (this.queued.get(key));
    this.queued.delete(key);
  }

  /**
   * Converges one experiment to its recorded state again (its Deployments' states may have changed),
   * when a Deployment in `namespace` asked for it: a record bound to another namespace is left alone.
   * False when the experiment has no record (yet).
   */
  async reconcileFromRecord(namespace: string, experimentId: string): Promise<boolean> {
    try {
      const record = await this.records.read(experimentId);
      if (!record) return false;
      if (!record.experiment || !this.unfinished(record) || !this.inScope(record)) return true;
      if (record.namespace !== namespace) {
        this.logger.warn(
          `a Deployment in ${namespace} names experiment ${experimentId}, which runs in ${record.namespace}: ignored (labels never move Mayday to another namespace)`,
        );
        return true;
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
    return true;
  }

  /** Promotions that switched before a restart still delete what they retire, at the recorded time. */
  private async armScaleDowns(): Promise<void> {
    try {
      for (const record of await this.records.list()) {
        if (record.phase === 'scale-down-pending' && record.scaleDownAt && this.inScope(record)) {
          this.scaleDowns.arm(record.namespace, record.experimentId, record.scaleDownAt);
        }
      }
    } catch (error) {
      this.logger.warn(`could not read the records to resume pending scale-downs (retrying): ${(error as Error).message}`);
      setTimeout(() => void this.armScaleDowns(), SCALE_DOWN_RETRY_MS).unref();
    }
  }

  /** Runs the conclusion again once its scale-down is due; tries again later if it did not complete. */
  private async scaleDownWhenDue(namespace: string, experimentId: string): Promise<void> {
    // Every replica arms the timers; the leader runs them (a new leader re-arms them from the records).
    if (!this.leader.isLeader()) return;
    await this.reconcileFromRecord(namespace, experimentId);
    try {
      if ((await this.records.read(experimentId))?.phase !== 'scale-down-pending') return;
    } catch {
      // The API server failed: try again below.
    }
    this.scaleDowns.arm(namespace, experimentId, new Date(Date.now() + SCALE_DOWN_RETRY_MS).toISOString());
  }

  private unfinished(record: ExperimentRecord): boolean {
    return !TERMINAL_STATUSES.has(record.status) || record.phase !== 'applied';
  }

  private inScope(record: ExperimentRecord): boolean {
    return this.scope.allows(record.namespace, record.workspace);
  }
}

function workspaceKey(orgId: string, workspace: string): string {
  return `${orgId}/${workspace}`;
}
