import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { MaydayConfig } from '../config/mayday-config';
import type { SpanningOutcome } from '../clusters/cluster-answer';
import { ClusterRooms } from '../clusters/cluster-rooms.service';
import type { EventOutcome } from '../experiments/pipeline/event-outcome';
import { MetricsService } from '../metrics/metrics.service';
import type { ParsedWebhook } from '../contract/parse-webhook';

export type WebhookAnswer = EventOutcome | SpanningOutcome | { result: 'ignored'; reason: string; event: string; actions: [] };

/** Hands each validated webhook to the experiment lifecycle of the clusters it is for (which logs and counts every outcome). */
@Injectable()
export class WebhooksService implements OnApplicationBootstrap {
  private readonly logger = new Logger(WebhooksService.name);

  constructor(
    private readonly clusters: ClusterRooms,
    private readonly metrics: MetricsService,
    private readonly config: MaydayConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.webhook.auth === 'none') {
      this.logger.warn('WEBHOOK_AUTH=none: the webhook and the status API are open; anyone who can reach them can drive rollouts');
    }
    if (!this.config.superposition.url) {
      this.logger.warn("SUPERPOSITION_URL is not set: each variant's payload overrides alone are its config");
    }
  }

  async deliver(webhook: ParsedWebhook): Promise<WebhookAnswer> {
    if (webhook.kind === 'config') {
      this.metrics.events.inc({ source: 'webhook', event: webhook.event, outcome: 'ignored' });
      this.logger.log({ msg: `${webhook.event} ignored`, event: webhook.event, workspace: webhook.workspace, result: 'ignored' });
      return { result: 'ignored', reason: 'ConfigChanged carries no experiment', event: webhook.event, actions: [] };
    }
    return this.clusters.process(webhook.event, 'webhook');
  }
}
