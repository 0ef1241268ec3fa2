import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { V1Deployment } from '@kubernetes/client-node';
import { analysisQuery, judgeSample, type AnalysisVerdict } from '../../analysis/canary-analysis';
import { PrometheusClient } from '../../analysis/prometheus.client';
import { MaydayConfig } from '../../config/mayday-config';
import { KubeEventRecorder, type TransitionEvent } from '../../kubernetes/kube-events.service';
import { KubeResourcesService } from '../../kubernetes/kube-resources.service';
import { MetricsService } from '../../metrics/metrics.service';
import { EXPERIMENT_LABEL } from '../../naming/labels';
import { deploymentName, labelValue } from '../../naming/names';
import { SuperpositionRejectedError } from '../../superposition/superposition-errors';
import { SuperpositionClient, type SuperpositionScope } from '../../superposition/superposition.client';
import { failureMark, type WorkloadState } from '../../workloads/workload-state';
import { WorkloadWatcher } from '../../workloads/workload-watcher.service';
import { decideRamp, observeStep, stepKey, type StepHealth } from './auto-ramp';
import type { ExperimentDto } from '../../contract/experiment.dto';
import { parseExperiment } from '../../contract/parse-experiment';
import { ExperimentEventProcessor } from '../pipeline/experiment-event.processor';
import { targetClusters } from '../plan/cluster-targets';
import { TERMINAL_STATUSES, type ExperimentRecord } from '../records/experiment-record';
import { LeaderElection } from '../../kubernetes/leader-election';
import { ExperimentRecords } from '../records/experiment-records.service';
import { Scope } from '../../config/scope';
import { afterAttempt, backoffMs, isDue, type PauseOutcome, type PendingPause } from './write-back';

/** How often the records are looked at for a due write-back or ramp (they are read from the informer cache). */
const TICK_MS = 1000;

/**
 * Closes the loop with Superposition (README, "Closing the loop"): sends the pauses the records say
 * are due (a canary failed), evaluates each running canary's Prometheus analysis every
 * ANALYSIS_INTERVAL_SECONDS (a breach marks it failed, as a crash loop does), and, for workspaces in
 * AUTO_RAMP, asks for the next ramp step once every canary has been available (and passing its
 * analysis) for AUTO_RAMP_INTERVAL_SECONDS. Every call it makes goes out from
 * `runOnce`, the single entry point of its periodic work, which does nothing unless this replica leads
 * (leader-election.ts). Never on a webhook's path: a webhook only records what is due.
 */
@Injectable()
export class ClosedLoopService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ClosedLoopService.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private runAgain = false;
  /** Per experiment id: since when its current step has been healthy (in memory: a restart only delays a ramp). */
  private readonly stepHealth = new Map<string, StepHealth>();
  /** Per experiment id: a failed ramp request is not tried again before this time (ms). */
  private readonly rampRetryAt = new Map<string, number>();
  private readonly rampFailures = new Map<string, number>();
  /** Per canary Deployment (`namespace/name`): its last analysis (in memory: evaluated again after a restart). */
  private readonly analyses = new Map<string, AnalysisVerdict>();
  private nextAnalysisAt = 0;

  constructor(
    private readonly processor: ExperimentEventProcessor,
    private readonly records: ExperimentRecords,
    private readonly workloads: WorkloadWatcher,
    private readonly superposition: SuperpositionClient,
    private readonly kube: KubeResourcesService,
    private readonly events: KubeEventRecorder,
    private readonly metrics: MetricsService,
    private readonly config: MaydayConfig,
    private readonly scope: Scope,
    private readonly prometheus: PrometheusClient,
    private readonly leader: LeaderElection,
  ) {}

  get enabled(): boolean {
    return (
      this.config.analysis !== undefined ||
      (this.superposition.configured && (this.config.closedLoop.writeBack || Object.keys(this.config.closedLoop.autoRamp).length > 0))
    );
  }

  /** The last analysis of a canary Deployment, when ANALYSIS_PROMETHEUS_URL is set and it was evaluated. */
  analysisOf(namespace: string, deployment: string): AnalysisVerdict | undefined {
    return this.analyses.get(`${namespace}/${deployment}`);
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    this.processor.onWriteBackDue(() => void this.runOnce());
    // A canary that stops being available, even between two looks, restarts its step's interval.
    this.workloads.onChange(({ deployment, state }) => {
      if (state.phase !== 'available') this.interruptHealth(deployment);
    });
    this.timer = setInterval(() => void this.runOnce(), TICK_MS);
    this.timer.unref();
    this.leader.onChange((leading) => {
      // A new leader measures every step's health afresh (only delays a ramp).
      if (leading) void this.runOnce();
      else this.stepHealth.clear();
    });
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One round: every due pause is sent, then every auto-ramping experiment is looked at. Never runs twice at once. */
  runOnce(): Promise<void> {
    if (this.running) {
      this.runAgain = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.runAgain = false;
        await this.round().catch((error: unknown) => this.logger.warn(`closing the loop failed this round: ${(error as Error).message}`));
      } while (this.runAgain);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private async round(): Promise<void> {
    if (!this.leader.isLeader()) return;
    const records = (await this.records.list()).filter(
      (record) => !TERMINAL_STATUSES.has(record.status) && this.scope.allows(record.namespace, record.workspace),
    );
    this.metrics.superpositionWriteBacksPending.set(records.filter((record) => record.superpositionWriteBack?.pending).length);
    const running = new Set(records.map((record) => record.experimentId));
    for (const id of this.stepHealth.keys()) if (!running.has(id)) this.stepHealth.delete(id);
    const canWrite = this.superposition.configured;
    for (const record of records) {
      const pending = record.superpositionWriteBack?.pending;
      if (canWrite && isDue(pending, new Date())) await this.sendPause(record, pending);
    }
    if (this.config.analysis && Date.now() >= this.nextAnalysisAt) {
      this.nextAnalysisAt = Date.now() + this.config.analysis.intervalSeconds * 1000;
      await this.analyse(records);
    }
    for (const record of records) {
      if (canWrite && !record.superpositionWriteBack?.pending && this.config.closedLoop.autoRamp[record.workspace]) {
        await this.considerRamp(record);
      }
    }
  }

  /**
   * Evaluates ANALYSIS_QUERY for every available canary of the INPROGRESS experiments. A failing one is
   * marked failed on its Deployment (the same mark a crash loop leaves): the Deployment watch then takes
   * it out of traffic and the pause is written back like any other failure.
   */
  private async analyse(records: ExperimentRecord[]): Promise<void> {
    const settings = this.config.analysis!;
    const seen = new Set<string>();
    for (const record of records.filter((item) => item.status === 'INPROGRESS')) {
      const experiment = experimentOf(record);
      for (const variant of experiment?.variants.filter((item) => item.variant_type === 'EXPERIMENTAL') ?? []) {
        const name = deploymentName(record.workspace, variant.id);
        const key = `${record.namespace}/${name}`;
        const deployment = await this.kube.read<V1Deployment>({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          namespace: record.namespace,
          name,
        });
        // A canary without traffic (waiting, or already failed) says nothing about itself.
        if (this.workloads.stateOf(deployment).phase !== 'available') continue;
        seen.add(key);
        const target = { namespace: record.namespace, service: record.workspace, variant: variant.id, deployment: name };
        let verdict: AnalysisVerdict;
        try {
          const sample = await this.prometheus.query(analysisQuery(settings.query, target));
          verdict = judgeSample(
            sample,
            { max: settings.max, noDataFailsAfterMs: settings.noDataFailsAfterSeconds * 1000 },
            this.analyses.get(key),
            Date.now(),
          );
        } catch (error) {
          verdict = { phase: 'unavailable', reason: (error as Error).message };
          if (this.analyses.get(key)?.phase !== 'unavailable') {
            this.logger.warn({
              msg: `no analysis for canary ${key}: ${verdict.reason}; tried again next interval`,
              experimentId: record.experimentId,
            });
          }
        }
        this.analyses.set(key, verdict);
        this.metrics.analysisEvaluations.inc({ outcome: verdict.phase });
        if (verdict.phase !== 'passing') this.interruptHealth(deployment!);
        if (verdict.phase === 'failing') await this.markAnalysisFailed(record, deployment!, verdict.reason);
      }
    }
    for (const key of this.analyses.keys()) if (!seen.has(key)) this.analyses.delete(key);
  }

  private async markAnalysisFailed(record: ExperimentRecord, deployment: V1Deployment, reason: string): Promise<void> {
    const name = deployment.metadata!.name!;
    await this.kube.mergeMetadata(
      { apiVersion: 'apps/v1', kind: 'Deployment', namespace: record.namespace, name },
      { annotations: failureMark(deployment, reason) },
    );
    this.metrics.canaryFailures.inc({ reason: 'AnalysisFailed' });
    this.logger.warn({ msg: `canary ${record.namespace}/${name} failed its analysis: ${reason}`, experimentId: record.experimentId });
    await this.events.record([
      {
        regarding: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: record.namespace, name, uid: deployment.metadata?.uid },
        reason: 'AnalysisFailed',
        type: 'Warning',
        note: `${reason}; taken out of traffic`,
      },
    ]);
  }

  /** Asks Superposition to pause; the record says what became of it (done, or when to try again). */
  private async sendPause(record: ExperimentRecord, pending: PendingPause): Promise<void> {
    const experiment = experimentOf(record);
    const where = { experimentId: record.experimentId, workspace: record.workspace, namespace: record.namespace };
    let outcome: PauseOutcome;
    try {
      const change = await this.superposition.pauseExperiment(this.scopeOf(record), record.experimentId, pending.changeReason);
      outcome = { done: true };
      this.metrics.superpositionWriteBacks.inc({ action: 'pause', outcome: 'requested' });
      this.logger.log({ msg: `asked Superposition to pause experiment ${record.experimentId}: ${pending.changeReason}`, ...where });
      if (!change.webhookQueued) {
        this.logger.warn({
          msg: `Superposition paused experiment ${record.experimentId} but will not send its webhook (512); the resync applies the pause`,
          ...where,
        });
      }
      await this.events.record(
        this.canaryEvents(
          record,
          experiment,
          pending,
          'PauseRequested',
          'Normal',
          `asked Superposition to pause the experiment: ${pending.changeReason}`,
        ),
      );
    } catch (error) {
      outcome = await this.failedPause(record, error as Error);
      if (outcome.done) {
        this.metrics.superpositionWriteBacks.inc({ action: 'pause', outcome: 'moot' });
        this.logger.log({ msg: `no pause needed any more for experiment ${record.experimentId}: ${(error as Error).message}`, ...where });
      } else {
        this.metrics.superpositionWriteBacks.inc({ action: 'pause', outcome: 'failed' });
        const next = new Date(Date.now() + backoffMs(pending.attempts + 1)).toISOString();
        this.logger.warn({
          msg: `could not pause experiment ${record.experimentId} in Superposition (attempt ${pending.attempts + 1}; next at ${next}): ${outcome.error}`,
          ...where,
        });
        if (pending.attempts === 0) {
          await this.events.record(
            this.canaryEvents(
              record,
              experiment,
              pending,
              'PauseFailed',
              'Warning',
              `could not ask Superposition to pause the experiment (tried again with backoff): ${outcome.error}`,
            ),
          );
        }
      }
    }
    await this.processor.updateWriteBack(record.experimentId, (state) => afterAttempt(state, pending, outcome, new Date()));
  }

  /** A refused pause is done when the experiment no longer runs in Superposition (already paused, finished, gone). */
  private async failedPause(record: ExperimentRecord, error: Error): Promise<PauseOutcome> {
    if (!(error instanceof SuperpositionRejectedError)) return { done: false, error: error.message };
    try {
      const current = (await this.superposition.getExperiment(this.scopeOf(record), record.experimentId)) as
        { status?: unknown } | undefined;
      if (current?.status !== 'INPROGRESS') return { done: true };
    } catch {
      // Unknown: keep trying.
    }
    return { done: false, error: error.message };
  }

  /** Whether Superposition's copy of the experiment is for several clusters (CLUSTERS). */
  private spansClusters(record: ExperimentRecord, current: ExperimentDto): boolean {
    const clusters = this.config.clusters;
    if (!clusters) return false;
    const event = {
      event: 'ExperimentInprogress' as const,
      workspace: record.workspace,
      experiment: { ...current, context: current.context ?? {} },
    };
    return targetClusters(event, clusters).length > 1;
  }

  /** Asks for the next ramp step when the decision says so, and Superposition still has what Mayday applied. */
  private async considerRamp(record: ExperimentRecord): Promise<void> {
    const experiment = experimentOf(record);
    if (!experiment) return;
    const now = Date.now();
    const canaries = await this.canaryStates(record, experiment);
    const health = observeStep(
      this.stepHealth.get(record.experimentId),
      stepKey(experiment),
      canaries.length > 0 && canaries.every((state) => state.phase === 'available'),
      now,
    );
    this.stepHealth.set(record.experimentId, health);
    const decision = decideRamp({
      status: experiment.status,
      trafficPercentage: experiment.traffic_percentage,
      variants: experiment.variants.length,
      steps: this.config.closedLoop.autoRamp[record.workspace],
      canaries,
      pausePending: record.superpositionWriteBack?.pending !== undefined,
      health,
      intervalMs: this.config.closedLoop.autoRampIntervalSeconds * 1000,
      now,
    });
    if ('hold' in decision || (this.rampRetryAt.get(record.experimentId) ?? 0) > now) return;
    const where = { experimentId: record.experimentId, workspace: record.workspace, namespace: record.namespace };
    const scope = this.scopeOf(record);
    try {
      // A ramp is absolute: if Superposition moved on (a person ramped or paused, its webhook not here yet), never step back.
      const current = (await this.superposition.getExperiment(scope, record.experimentId)) as Partial<ExperimentDto> | undefined;
      if (current?.status !== 'INPROGRESS' || current.traffic_percentage !== experiment.traffic_percentage) {
        this.logger.debug({
          msg: `no ramp: Superposition has experiment ${record.experimentId} ${current?.status} at ${current?.traffic_percentage}`,
          ...where,
        });
        return;
      }
      // One cluster's health cannot speak for the others: an experiment of several clusters (CLUSTERS) is
      // ramped by people; a failure in any of them still pauses it (each cluster writes its own pause back).
      if (this.spansClusters(record, current as ExperimentDto)) {
        this.logger.debug({ msg: `no auto-ramp: experiment ${record.experimentId} runs in several clusters`, ...where });
        return;
      }
      await this.superposition.rampExperiment(scope, record.experimentId, decision.ramp, decision.changeReason);
      this.rampFailures.delete(record.experimentId);
      // The next step's interval starts when its ExperimentInprogress is applied.
      this.stepHealth.set(record.experimentId, { step: health.step });
      this.metrics.superpositionWriteBacks.inc({ action: 'ramp', outcome: 'requested' });
      this.logger.log({
        msg: `asked Superposition to ramp experiment ${record.experimentId} from ${experiment.traffic_percentage} to ${decision.ramp}`,
        ...where,
      });
      await this.events.record(this.canaryEvents(record, experiment, undefined, 'RampRequested', 'Normal', decision.changeReason));
    } catch (error) {
      const failures = (this.rampFailures.get(record.experimentId) ?? 0) + 1;
      this.rampFailures.set(record.experimentId, failures);
      this.rampRetryAt.set(record.experimentId, now + backoffMs(failures));
      this.metrics.superpositionWriteBacks.inc({ action: 'ramp', outcome: 'failed' });
      this.logger.warn({
        msg: `could not ramp experiment ${record.experimentId} to ${decision.ramp}: ${(error as Error).message}`,
        ...where,
      });
    }
  }

  /** Each canary's state; with ANALYSIS_PROMETHEUS_URL, an available one is healthy only while its analysis passes. */
  private async canaryStates(record: ExperimentRecord, experiment: ExperimentDto): Promise<WorkloadState[]> {
    const experimental = experiment.variants.filter((variant) => variant.variant_type === 'EXPERIMENTAL');
    return Promise.all(
      experimental.map(async (variant): Promise<WorkloadState> => {
        const name = deploymentName(record.workspace, variant.id);
        const state = this.workloads.stateOf(
          await this.kube.read<V1Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: record.namespace, name }),
        );
        if (state.phase !== 'available' || !this.config.analysis) return state;
        const analysis = this.analysisOf(record.namespace, name);
        if (analysis?.phase === 'passing') return state;
        return { phase: 'waiting', reason: `analysis ${analysis ? `${analysis.phase}: ${analysis.reason}` : 'not evaluated yet'}` };
      }),
    );
  }

  private interruptHealth(deployment: V1Deployment): void {
    const label = deployment.metadata?.labels?.[EXPERIMENT_LABEL];
    for (const [id, health] of this.stepHealth) {
      if (labelValue(id) === label) this.stepHealth.set(id, { step: health.step });
    }
  }

  /** An Event on each canary Deployment concerned (those of the pause's failures, or all of them). */
  private canaryEvents(
    record: ExperimentRecord,
    experiment: ExperimentDto | undefined,
    pending: PendingPause | undefined,
    reason: string,
    type: TransitionEvent['type'],
    note: string,
  ): TransitionEvent[] {
    const variants = (experiment?.variants ?? []).filter(
      (variant) =>
        variant.variant_type === 'EXPERIMENTAL' && (!pending || pending.failures.some((failure) => failure.startsWith(`${variant.id}: `))),
    );
    return variants.map((variant) => ({
      regarding: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        namespace: record.namespace,
        name: deploymentName(record.workspace, variant.id),
      },
      reason,
      type,
      note,
    }));
  }

  private scopeOf(record: ExperimentRecord): SuperpositionScope {
    const orgId = this.config.superposition.orgId ?? record.organisationId;
    if (!orgId) throw new Error('no organisation id (set SUPERPOSITION_ORG_ID)');
    return { orgId, workspace: record.workspace };
  }
}

function experimentOf(record: ExperimentRecord): ExperimentDto | undefined {
  try {
    return parseExperiment(JSON.parse(record.experiment), 'record.experiment');
  } catch {
    return undefined;
  }
}
