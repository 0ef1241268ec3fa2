import { Injectable, Logger, ServiceUnavailableException, type BeforeApplicationShutdown } from '@nestjs/common';
import { ForbiddenScopeError } from '../common/errors';
import { KeyedSerializer } from '../common/keyed-serializer';
import { MaydayConfig } from '../config/mayday-config';
import { withRetryBudget } from '../kubernetes/retry';
import type { EventOutcome, EventSource, ExperimentEvent } from './experiment-event';
import { judgeAgainstRecord } from './experiment-record';
import { ExperimentRecords } from './experiment-records.service';
import { ExperimentService } from './experiment.service';

/**
 * The way in for every experiment event (webhook or resync): checks the scope, runs the events of
 * one experiment strictly one after another, refuses to go backwards (the record in the cluster
 * says what was applied last), and records what it applied.
 */
@Injectable()
export class ExperimentEventProcessor implements BeforeApplicationShutdown {
  private readonly logger = new Logger(ExperimentEventProcessor.name);
  private readonly serializer = new KeyedSerializer();
  private draining = false;

  constructor(
    private readonly experiments: ExperimentService,
    private readonly records: ExperimentRecords,
    private readonly config: MaydayConfig,
  ) {}

  async process(event: ExperimentEvent, source: EventSource = 'webhook'): Promise<EventOutcome> {
    if (this.draining) throw new ServiceUnavailableException('Mayday is shutting down; deliver again later');
    const allowedWorkspaces = this.config.webhook.allowedWorkspaces;
    if (allowedWorkspaces.length > 0 && !allowedWorkspaces.includes(event.workspace)) {
      throw new ForbiddenScopeError(`workspace "${event.workspace}" is not in ALLOWED_WORKSPACES`);
    }
    return this.serializer.run(event.experiment.id, () =>
      withRetryBudget(this.config.webhook.retryBudgetMs, () => this.processInOrder(event, source)),
    );
  }

  /** Stop taking events and let the ones in flight finish (Nest calls this on SIGTERM). */
  async beforeApplicationShutdown(): Promise<void> {
    this.draining = true;
    if (this.serializer.busyKeys > 0) this.logger.log(`finishing ${this.serializer.busyKeys} experiment(s) in flight`);
    await this.serializer.idle();
  }

  private async processInOrder(event: ExperimentEvent, source: EventSource): Promise<EventOutcome> {
    const { experiment } = event;
    const plan = this.experiments.plan(event);
    const allowedNamespaces = this.config.webhook.allowedNamespaces;
    if (allowedNamespaces.length > 0 && !allowedNamespaces.includes(plan.namespace)) {
      throw new ForbiddenScopeError(`namespace "${plan.namespace}" is not in ALLOWED_NAMESPACES`);
    }
    const outcome = {
      event: event.event,
      experimentId: experiment.id,
      status: experiment.status,
      namespace: plan.namespace,
    };
    if (plan.kind === 'ignore') return { ...outcome, result: 'ignored', reason: plan.reason, actions: [] };

    const record = await this.records.read(plan.namespace, experiment.id);
    const verdict = judgeAgainstRecord(record, experiment);
    if (!verdict.apply) return { ...outcome, result: 'ignored', reason: verdict.reason, actions: [] };

    const result = await this.experiments.execute(plan, event);
    const phase = result.pendingPromotion ? 'promotion-pending' : 'applied';
    const alreadyRecorded =
      record?.status === experiment.status &&
      record.lastModified === experiment.last_modified &&
      record.event === event.event &&
      record.phase === phase;
    if (!alreadyRecorded) {
      await this.records.write({
        experimentId: experiment.id,
        workspace: event.workspace,
        organisationId: event.organisationId,
        namespace: plan.namespace,
        status: experiment.status,
        lastModified: experiment.last_modified,
        event: event.event,
        appliedAt: new Date().toISOString(),
        phase,
        experiment: JSON.stringify(experiment),
      });
    }
    if (source !== 'webhook') {
      const changed = result.actions.filter((action) => action.action !== 'unchanged').length;
      if (changed > 0 || phase !== record?.phase) {
        this.logger.log(`experiment ${experiment.id} (${experiment.status}) converged again after a ${source}: ${changed} change(s)`);
      }
    }
    if (result.pendingPromotion) {
      return { ...outcome, result: 'pending', reason: result.pendingPromotion, actions: result.actions };
    }
    return { ...outcome, result: 'applied', reason: plan.reason, actions: result.actions, canaries: result.canaries };
  }
}
