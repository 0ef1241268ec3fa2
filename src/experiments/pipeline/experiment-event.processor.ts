import { Injectable, Logger, PayloadTooLargeException, ServiceUnavailableException, type BeforeApplicationShutdown } from '@nestjs/common';
import { canonicalJson } from '../../common/canonical-json';
import { Deadline, withDeadline } from '../../common/deadline';
import { ForbiddenScopeError, UnprocessableEventError } from '../../common/errors';
import { httpErrorFor } from '../../common/http-error.filter';
import { KeyedSerializer } from '../../common/keyed-serializer';
import { MaydayConfig } from '../../config/mayday-config';
import { Scope } from '../../config/scope';
import type { ExperimentEvent } from '../../contract/experiment-event';
import { parseExperiment } from '../../contract/parse-experiment';
import { KubeVersionConflictError } from '../../kubernetes/kube-errors';
import { KubeEventRecorder, type TransitionEvent } from '../../kubernetes/kube-events.service';
import { withFreshReads } from '../../kubernetes/kube-resources.service';
import { withRetryBudget } from '../../kubernetes/retry';
import { MetricsService } from '../../metrics/metrics.service';
import { notificationsFor } from '../../notifications/notification';
import { Notifier } from '../../notifications/notifier.service';
import { writeBackAfter, type ObservedFailure, type WriteBackState } from '../closed-loop/write-back';
import { appliedSettingsOf, configVersionFor, reusableSettings, type AppliedSettings } from '../plan/applied-settings';
import { eventForCluster } from '../plan/cluster-targets';
import { withGroup, type ExperimentPlan } from '../plan/experiment-plan';
import { CONFIGMAP_DATA_LIMIT_BYTES, judgeAgainstRecord, recordDataBytes, type ExperimentRecord } from '../records/experiment-record';
import { ExperimentRecords, type VersionedRecord } from '../records/experiment-records.service';
import { appendTransitions, LARGEST_HISTORY } from '../records/transition-history';
import type { CanaryOutcome, Observed } from '../transitions/change-set';
import { ExperimentService, type ExecutionResult } from '../transitions/experiment.service';
import type { EventOutcome, EventSource } from './event-outcome';
import { ExperimentGroups } from './experiment-groups.service';
import { RouteClaims } from './route-claims.service';
import { ScaleDownTimers } from './scale-down-timers';

/**
 * The way in for every experiment event (webhook, Deployment watch, resync): checks the scope,
 * runs the events of one experiment strictly one after another, and the events of all experiments
 * on one service (namespace and workspace: one main path, one route) one after another too,
 * refuses to go backwards (the record in the cluster says what was applied last), records what it
 * applied, and reports it (one log line, metrics, Kubernetes Events). Each event has a deadline
 * (EVENT_DEADLINE_MS from its arrival) that every step checks before it starts.
 */
@Injectable()
export class ExperimentEventProcessor implements BeforeApplicationShutdown {
  private readonly logger = new Logger(ExperimentEventProcessor.name);
  private readonly serializer = new KeyedSerializer();
  private draining = false;
  private readonly writeBackListeners: (() => void)[] = [];

  constructor(
    private readonly experiments: ExperimentService,
    private readonly records: ExperimentRecords,
    private readonly events: KubeEventRecorder,
    private readonly metrics: MetricsService,
    private readonly config: MaydayConfig,
    private readonly scope: Scope,
    private readonly scaleDowns: ScaleDownTimers,
    private readonly groups: ExperimentGroups,
    private readonly notifier: Notifier,
    private readonly claims: RouteClaims,
  ) {}

  async process(event: ExperimentEvent, source: EventSource = 'webhook'): Promise<EventOutcome> {
    const started = performance.now();
    const deadline = Deadline.after(this.config.webhook.eventDeadlineMs);
    let namespace: string | undefined;
    try {
      if (this.draining) throw new ServiceUnavailableException('Mayday is shutting down; deliver again later');
      const clusters = this.config.clusters;
      const here = clusters ? eventForCluster(event, clusters, clusters.current) : event;
      if (!here) {
        const reason = `the experiment is not for cluster "${clusters!.current}"`;
        this.report({ event, source, started, result: 'ignored', statusCode: 200, namespace, reason, changes: 0 });
        const { experiment } = event;
        return { result: 'ignored', reason, event: event.event, experimentId: experiment.id, status: experiment.status, actions: [] };
      }
      event = here;
      const workspaceRefused = this.scope.workspaceRefusal(event.workspace);
      if (workspaceRefused) throw new ForbiddenScopeError(workspaceRefused);
      const plan = this.experiments.plan(event);
      namespace = plan.namespace;
      const namespaceRefused = this.scope.namespaceRefusal(plan.namespace);
      if (namespaceRefused) throw new ForbiddenScopeError(namespaceRefused);
      const outcome = await withDeadline(deadline, () =>
        this.serializer.run(
          `experiment ${event.experiment.id}`,
          () => withRetryBudget(this.config.webhook.retryBudgetMs, () => this.processInOrder(event, plan, deadline)),
          deadline,
        ),
      );
      const changes = outcome.actions.filter((action) => action.action !== 'unchanged').length;
      this.report({ event, source, started, result: outcome.result, statusCode: 200, namespace, reason: outcome.reason, changes });
      return outcome;
    } catch (error) {
      const answer = httpErrorFor(error);
      const result = answer.statusCode >= 500 ? 'failed' : 'rejected';
      this.report({ event, source, started, result, statusCode: answer.statusCode, namespace, reason: answer.message, changes: 0 });
      throw error;
    }
  }

  /** Called after a record was written with a new write-back to Superposition due. */
  onWriteBackDue(listener: () => void): void {
    this.writeBackListeners.push(listener);
  }

  /**
   * Changes an experiment's write-back state in its record, in turn with its events (so that neither
   * overwrites the other); says what the record holds afterwards (undefined: no record).
   */
  updateWriteBack(
    experimentId: string,
    update: (state: WriteBackState | undefined, record: ExperimentRecord) => WriteBackState | undefined,
  ): Promise<ExperimentRecord | undefined> {
    return this.serializer.run(`experiment ${experimentId}`, async () => {
      // Read around the caches and written over that version: a 409 (another replica wrote it) is retried by the caller.
      const { record, resourceVersion } = await this.records.readVersioned(experimentId, true);
      if (!record) return undefined;
      const superpositionWriteBack = update(record.superpositionWriteBack, record);
      if (canonicalJson(superpositionWriteBack) === canonicalJson(record.superpositionWriteBack)) return record;
      const updated = { ...record, superpositionWriteBack };
      await this.records.write(updated, resourceVersion);
      return updated;
    });
  }

  /** False from SIGTERM on: /health/ready fails, so the Service sends the webhooks to the other replicas. */
  get accepting(): boolean {
    return !this.draining;
  }

  /** Stop taking events and let the ones in flight finish (Nest calls this on SIGTERM). */
  async beforeApplicationShutdown(): Promise<void> {
    this.draining = true;
    if (this.serializer.busyKeys > 0) this.logger.log(`finishing ${this.serializer.busyKeys} experiment(s) in flight`);
    await this.serializer.idle();
  }

  private async processInOrder(event: ExperimentEvent, ownPlan: ExperimentPlan, deadline: Deadline): Promise<EventOutcome> {
    const { experiment } = event;
    const outcome = {
      event: event.event,
      experimentId: experiment.id,
      status: experiment.status,
      namespace: ownPlan.namespace,
    };
    if (ownPlan.kind === 'ignore') return { ...outcome, result: 'ignored', reason: ownPlan.reason, actions: [] };
    this.refuseOversizedRecord(event, ownPlan);

    // Another experiment's event on this service waits until this one is written, so that its
    // "another experiment is running" check reads this one's objects (and the route is not shared).
    return this.serializer.run(
      `service ${ownPlan.namespace}/${ownPlan.service}`,
      () => this.converge(event, ownPlan, outcome, deadline),
      deadline,
    );
  }

  /**
   * Applies the event, or finds it stale, against the record as the API server has it. The record is
   * written last, naming the resourceVersion that was read: if another replica moved the experiment
   * meanwhile, the write fails (KubeVersionConflictError) and the event is judged again against the
   * new record, reading everything from the API server this time (the caches may lag behind the
   * other replica's writes). If it is stale now but this replica already wrote over the other's
   * objects, it converges once more to what the record says, so the last record written always
   * describes the cluster.
   */
  private async converge(
    event: ExperimentEvent,
    ownPlan: ExperimentPlan,
    outcome: Pick<EventOutcome, 'event' | 'experimentId' | 'status' | 'namespace'>,
    deadline: Deadline,
  ): Promise<EventOutcome> {
    const attempt: Attempt = { fresh: false, wrote: false };
    for (let round = 1; ; round++) {
      try {
        const once = () => this.convergeOnce(event, ownPlan, outcome, deadline, attempt);
        return await (attempt.fresh ? withFreshReads(once) : once());
      } catch (error) {
        // A refusal read from the caches is checked once more against the API server: another replica
        // may have ended what the caches still show (Superposition does not deliver a 4xx again).
        const refusedFromCache = error instanceof UnprocessableEventError && !attempt.fresh && !attempt.wrote;
        const movedElsewhere = error instanceof KubeVersionConflictError;
        if (!refusedFromCache && !movedElsewhere) throw error;
        if (movedElsewhere && round >= MAX_CONFLICT_ROUNDS) {
          // Other replicas kept moving the experiment: nothing failed, a later delivery converges (503, not 502).
          throw new ServiceUnavailableException(
            `experiment ${event.experiment.id} was moved by other replicas ${round} times while this event was judged; deliver again`,
          );
        }
        if (movedElsewhere) {
          this.metrics.recordConflicts.inc();
          this.logger.debug(`experiment ${event.experiment.id}: another replica moved it (${error.message}); judging the event again`);
        }
        deadline.check('after another replica moved the experiment');
        attempt.fresh = true;
      }
    }
  }

  private async convergeOnce(
    event: ExperimentEvent,
    ownPlan: ExperimentPlan,
    outcome: Pick<EventOutcome, 'event' | 'experimentId' | 'status' | 'namespace'>,
    deadline: Deadline,
    attempt: Attempt,
  ): Promise<EventOutcome> {
    const { experiment } = event;
    // The record, what the plan needs and the experiment's group are read in one round; a failure
    // of the others only counts if the record says the event is to be applied at all.
    const recordRead = this.records.readVersioned(experiment.id, attempt.fresh);
    recordRead.catch(() => undefined);
    const reusable = recordRead.then(({ record: applied }) =>
      reusableSettings(
        applied?.appliedSettings,
        ownPlan,
        ownPlan.experimental,
        configVersionFor(event.configVersion, applied?.appliedSettings),
      ),
    );
    const preparing = this.experiments.prepare(ownPlan, event, reusable);
    preparing.catch(() => undefined);
    const grouping = ownPlan.kind === 'rollout' ? this.groups.scalingGroupOf(event) : Promise.resolve(undefined);
    grouping.catch(() => undefined);
    const versioned = await recordRead;
    const record = versioned.record;
    this.refuseRebinding(event, ownPlan, record);
    const verdict = judgeAgainstRecord(record, experiment);
    if (!verdict.apply && !attempt.wrote) return { ...outcome, result: 'ignored', reason: verdict.reason, actions: [] };
    // Another replica wrote the record after this one's caches listed: what they hold of its objects may be behind.
    const readFresh =
      !attempt.fresh &&
      versioned.resourceVersion !== undefined &&
      !this.records.cachesHoldWritesBefore(experiment.id, versioned.resourceVersion);
    if (!verdict.apply) {
      // Stale now, but an earlier round of this event wrote over the newer state: converge to the record again.
      const recorded = recordedEvent(record!);
      if (!recorded) return { ...outcome, result: 'ignored', reason: verdict.reason, actions: [] };
      const recordedPlan = this.experiments.plan(recorded);
      const known = reusableSettings(
        record!.appliedSettings,
        recordedPlan,
        recordedPlan.experimental,
        record!.appliedSettings?.configVersion,
      );
      const observe = () => this.experiments.prepare(recordedPlan, recorded, Promise.resolve(known));
      const converged = await this.apply(recorded, recordedPlan, versioned, observe, readFresh, deadline, attempt);
      const reason = `${verdict.reason}; another replica applied it while this one was writing, so it was converged to again`;
      return { ...outcome, result: 'ignored', reason, actions: converged.result.actions };
    }
    const plan = withGroup(ownPlan, experiment.traffic_percentage, await grouping);
    const observe = () => (readFresh ? this.experiments.prepare(ownPlan, event, reusable) : preparing);
    const { result } = await this.apply(event, plan, versioned, observe, readFresh, deadline, attempt);
    if (result.record.phase === 'promotion-pending') {
      return { ...outcome, result: 'pending', reason: result.record.pendingReason, actions: result.actions };
    }
    if (result.record.phase === 'scale-down-pending') {
      const { scaleDownAt } = result.record;
      const reason = `${plan.reason}; what it retires is deleted at ${scaleDownAt} (SCALE_DOWN_DELAY_SECONDS)`;
      return { ...outcome, result: 'applied', reason, actions: result.actions, scaleDownAt };
    }
    return { ...outcome, result: 'applied', reason: plan.reason, actions: result.actions, canaries: result.canaries };
  }

  /**
   * Converges the cluster to one experiment state and records it: the route claim (a rollout),
   * the writes, then the record over the version read (and the transition's Events meanwhile).
   */
  private async apply(
    event: ExperimentEvent,
    plan: ExperimentPlan,
    versioned: VersionedRecord,
    observe: () => Promise<Observed>,
    readFresh: boolean,
    deadline: Deadline,
    attempt: Attempt,
  ): Promise<{ plan: ExperimentPlan; result: ExecutionResult }> {
    const record = versioned.record;
    const fresh = <T>(work: () => Promise<T>) => (readFresh ? withFreshReads(work) : work());
    if (plan.kind === 'ignore') return { plan, result: { actions: [], canaries: [], events: [], record: { phase: 'applied' } } };
    const observed = await fresh(observe);
    // Everything so far was reads: a late event stops here, having changed nothing.
    deadline.check('before the first write');
    const claimed =
      plan.kind === 'rollout'
        ? await fresh(() => this.claims.claim(plan.namespace, plan.service, event.experiment.id, attempt.fresh || readFresh))
        : undefined;
    const applied =
      plan.kind === 'rollout'
        ? appliedSettingsOf(plan, observed.settings, configVersionFor(event.configVersion, record?.appliedSettings))
        : undefined;
    let events: TransitionEvent[] = [];
    // The record is written once the writes are done, or alongside a rollout's fenced route updates (ExperimentService.execute).
    const recordIt = (result: ExecutionResult, writes: Promise<unknown>) => {
      const wrote = result.actions.some((action) => action.action !== 'unchanged');
      attempt.wrote ||= wrote;
      events = plan.kind === 'rollout' ? result.events : this.newEvents(result, record);
      // Events tell only of writes that were made.
      writes.then(() => this.events.record(events)).catch(() => undefined);
      return this.recordApplied(event, plan, result, versioned, applied, wrote, events, failuresOf(result.canaries));
    };
    const result = await fresh(() =>
      this.experiments.execute(plan, plan.kind === 'rollout' ? observed : { ...observed, scaleDownAt: switchedAt(record) }, recordIt),
    ).catch(async (error: unknown) => {
      // Refused before any write (consent, a foreign object, another experiment's canary): the route stays free.
      if (claimed && error instanceof UnprocessableEventError) await this.claims.withdraw(claimed);
      throw error;
    });
    // Told once the record stands (a conflict above judges the event again); a waiting promotion only when it starts waiting.
    this.notify(event, plan, record?.phase === 'promotion-pending' ? events.filter((item) => item.reason !== 'PromotionPending') : events);
    if (result.record.phase === 'scale-down-pending') this.scaleDowns.arm(plan.namespace, event.experiment.id, result.record.scaleDownAt);
    this.updateWeights(event, plan, result);
    return { plan, result };
  }

  /**
   * An experiment acts only in the namespace (and for the workspace) its record names: whatever an
   * event, a replayed record or a Deployment's labels say, one experiment never moves elsewhere.
   */
  private refuseRebinding(event: ExperimentEvent, plan: ExperimentPlan, record: ExperimentRecord | undefined): void {
    if (!record || (record.namespace === plan.namespace && record.workspace === event.workspace)) return;
    const message =
      `experiment ${event.experiment.id} is bound to namespace "${record.namespace}" and workspace "${record.workspace}" by its record; ` +
      `this event asks for namespace "${plan.namespace}" and workspace "${event.workspace}": refused`;
    this.logger.warn({ msg: message, experimentId: event.experiment.id, namespace: plan.namespace, recordNamespace: record.namespace });
    throw new UnprocessableEventError(message);
  }

  /** The record must fit in a ConfigMap: an experiment too large for it is refused before anything is written. */
  private refuseOversizedRecord(event: ExperimentEvent, plan: ExperimentPlan): void {
    const largest = { ...this.recordOf(event, plan, 'promotion-pending', 'x'.repeat(512)), history: LARGEST_HISTORY };
    const bytes = recordDataBytes(this.records.toConfigMap(largest));
    if (bytes > CONFIGMAP_DATA_LIMIT_BYTES) {
      throw new PayloadTooLargeException(
        `experiment ${event.experiment.id} would need a record of ${bytes} bytes, over the ${CONFIGMAP_DATA_LIMIT_BYTES} bytes a ConfigMap holds`,
      );
    }
  }

  private recordOf(
    event: ExperimentEvent,
    plan: ExperimentPlan,
    phase: ExperimentRecord['phase'],
    pendingReason?: string,
  ): ExperimentRecord {
    const { experiment } = event;
    return {
      experimentId: experiment.id,
      workspace: event.workspace,
      organisationId: event.organisationId,
      namespace: plan.namespace,
      status: experiment.status,
      lastModified: experiment.last_modified,
      event: event.event,
      appliedAt: new Date().toISOString(),
      phase,
      pendingReason,
      experiment: JSON.stringify(experiment),
      experimentGroup: plan.group,
    };
  }

  /** The notifications (NOTIFY_URL) among a transition's Events, queued: never waited for. */
  private notify(event: ExperimentEvent, plan: ExperimentPlan, told: TransitionEvent[]): void {
    const subject = {
      experimentId: event.experiment.id,
      workspace: event.workspace,
      namespace: plan.namespace,
      metricsUrl: plan.metricsUrl,
    };
    this.notifier.notify(notificationsFor(subject, told, this.config.notify.publicUrl, new Date().toISOString()));
  }

  /**
   * Writes the record (with the transition's `events` in its history) over the version read, unless it
   * already says exactly this and nothing was written (a duplicate changes nothing). Anything written is
   * followed by a record write, even the same state again: that write fails if another replica moved the
   * experiment meanwhile.
   */
  private async recordApplied(
    event: ExperimentEvent,
    plan: ExperimentPlan,
    result: ExecutionResult,
    { record, resourceVersion }: VersionedRecord,
    appliedSettings: AppliedSettings | undefined,
    wrote: boolean,
    events: TransitionEvent[],
    failures: readonly ObservedFailure[] = [],
  ): Promise<void> {
    const { experiment } = event;
    const superpositionWriteBack = writeBackAfter(
      record?.superpositionWriteBack,
      { enabled: this.config.closedLoop.writeBack, status: experiment.status, failures },
      new Date(),
    );
    const phase = result.record.phase;
    const pendingReason = result.record.phase === 'promotion-pending' ? result.record.pendingReason : undefined;
    const scaleDownAt = result.record.phase === 'scale-down-pending' ? result.record.scaleDownAt : undefined;
    const effectiveTrafficPercentage = plan.kind === 'rollout' ? plan.canaryWeight : undefined;
    if (
      !wrote &&
      events.length === 0 &&
      record?.status === experiment.status &&
      record.lastModified === experiment.last_modified &&
      record.event === event.event &&
      record.phase === phase &&
      record.pendingReason === pendingReason &&
      record.scaleDownAt === scaleDownAt &&
      record.effectiveTrafficPercentage === effectiveTrafficPercentage &&
      record.experimentGroup?.trafficPercentage === plan.group?.trafficPercentage &&
      canonicalJson(record.appliedSettings) === canonicalJson(appliedSettings) &&
      canonicalJson(record.superpositionWriteBack) === canonicalJson(superpositionWriteBack)
    ) {
      return;
    }
    const history = appendTransitions(record?.history, events, new Date().toISOString());
    await this.records.write(
      {
        ...this.recordOf(event, plan, phase, pendingReason),
        scaleDownAt,
        effectiveTrafficPercentage,
        appliedSettings,
        history,
        superpositionWriteBack,
      },
      resourceVersion,
    );
    if (
      superpositionWriteBack?.pending &&
      canonicalJson(superpositionWriteBack.pending) !== canonicalJson(record?.superpositionWriteBack?.pending)
    ) {
      for (const listener of this.writeBackListeners) listener();
    }
  }

  /** A pending promotion is announced once per reason, not at every retry, watch event or resync. */
  private newEvents(result: ExecutionResult, record?: ExperimentRecord): TransitionEvent[] {
    const alreadyPending =
      record?.phase === 'promotion-pending' &&
      result.record.phase === 'promotion-pending' &&
      record.pendingReason === result.record.pendingReason;
    return result.events.filter((event) => !(alreadyPending && event.reason === 'PromotionPending'));
  }

  private updateWeights(event: ExperimentEvent, plan: ExperimentPlan, result: ExecutionResult): void {
    const { namespace, service } = plan;
    if (plan.kind === 'rollout') {
      const weights = result.canaries.map((canary) => ({ variant: canary.variantId, weight: canary.weight }));
      this.metrics.setCanaryWeights(namespace, service, event.experiment.id, weights);
    } else if (result.record.phase !== 'promotion-pending') {
      this.metrics.clearCanaryWeights(namespace, service, event.experiment.id);
    }
  }

  /** One log line and the metrics for every event, whatever became of it. */
  private report({ event, source, started, result, statusCode, namespace, reason, changes }: EventReport): void {
    const seconds = (performance.now() - started) / 1000;
    this.metrics.events.inc({ source, event: event.event, outcome: result });
    this.metrics.eventDuration.observe({ event: event.event, outcome: result }, seconds);
    const line = {
      msg: `${event.event} ${result}`,
      source,
      event: event.event,
      experimentId: event.experiment.id,
      status: event.experiment.status,
      workspace: event.workspace,
      namespace,
      result,
      statusCode,
      changes,
      durationMs: Math.round(seconds * 1000),
      reason,
    };
    if (statusCode >= 500) this.logger.error(line);
    // A listed experiment outside ALLOWED_NAMESPACES / ALLOWED_WORKSPACES comes back every resync round: not a warning each time.
    else if (statusCode === 403 && source === 'resync') this.logger.debug(line);
    else if (statusCode >= 400) this.logger.warn(line);
    else if (source === 'webhook' || changes > 0 || result === 'pending') this.logger.log(line);
    else this.logger.debug(line);
  }
}

/** The canaries this convergence found failing (with the readiness gate on). */
function failuresOf(canaries: readonly CanaryOutcome[]): ObservedFailure[] {
  return canaries.flatMap((canary) =>
    canary.state.phase === 'failed' ? [{ variantId: canary.variantId, reason: canary.state.reason }] : [],
  );
}

/** What became of one event, for its log line and metrics. */
interface EventReport {
  event: ExperimentEvent;
  source: EventSource;
  /** performance.now() when it arrived. */
  started: number;
  /** applied, ignored, pending; rejected (4xx) or failed (5xx). */
  result: string;
  statusCode: number;
  namespace: string | undefined;
  reason: string;
  /** How many objects it created, updated or deleted. */
  changes: number;
}

/** How often one event is judged again because another replica moved its experiment, before it is answered 503. */
const MAX_CONFLICT_ROUNDS = 5;

/** Carried across the rounds of one event: whether to read around the caches, and whether an earlier round wrote anything. */
interface Attempt {
  fresh: boolean;
  wrote: boolean;
}

/** The event a record was written for, to converge to it again (undefined for a record that does not hold the experiment). */
function recordedEvent(record: ExperimentRecord): ExperimentEvent | undefined {
  if (!record.experiment) return undefined;
  return {
    event: record.event as ExperimentEvent['event'],
    workspace: record.workspace,
    organisationId: record.organisationId,
    experiment: parseExperiment(JSON.parse(record.experiment), 'record.experiment'),
  };
}

/** The scale-down deadline of a conclusion that already switched the main Service, from its record. */
function switchedAt(record: ExperimentRecord | undefined): string | undefined {
  return record?.phase === 'scale-down-pending' ? record.scaleDownAt : undefined;
}
