import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { httpErrorFor } from '../common/http-error.filter';
import { MaydayConfig } from '../config/mayday-config';
import type { EventOutcome } from '../experiments/experiment-event';
import { ExperimentEventProcessor } from '../experiments/experiment-event.processor';
import type { ParsedWebhook } from './webhook-event.pipe';

export type WebhookAnswer =
  | EventOutcome
  | { result: 'ignored'; reason: string; event: string; actions: [] };

/** Hands each validated webhook to the experiment lifecycle and logs every outcome. */
@Injectable()
export class WebhooksService implements OnApplicationBootstrap {
  private readonly logger = new Logger(WebhooksService.name);

  constructor(
    private readonly processor: ExperimentEventProcessor,
    private readonly config: MaydayConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.webhook.token) {
      this.logger.warn('WEBHOOK_TOKEN is not set: anyone who can reach the webhook can drive rollouts');
    }
    if (!this.config.superposition.url) {
      this.logger.warn("SUPERPOSITION_URL is not set: each variant's payload overrides alone are its config");
    }
  }

  async deliver(webhook: ParsedWebhook): Promise<WebhookAnswer> {
    if (webhook.kind === 'config') {
      this.logger.log(`${webhook.event} for workspace ${webhook.workspace}: ignored`);
      return { result: 'ignored', reason: 'ConfigChanged carries no experiment', event: webhook.event, actions: [] };
    }
    const { event, workspace, experiment } = webhook.event;
    const started = performance.now();
    const context = `experiment ${experiment.id} ${event} (${experiment.status}) workspace ${workspace}`;
    try {
      const outcome = await this.processor.process(webhook.event);
      const changed = outcome.actions.filter((action) => action.action !== 'unchanged').length;
      this.logger.log(
        `${context} namespace ${outcome.namespace}: ${outcome.result}, ${changed} change(s) in ${Math.round(performance.now() - started)} ms: ${outcome.reason}`,
      );
      return outcome;
    } catch (error) {
      const answer = httpErrorFor(error);
      const line = `${context}: ${answer.statusCode} ${answer.message}`;
      if (answer.statusCode >= 500) this.logger.error(line);
      else this.logger.warn(line);
      throw error;
    }
  }
}
