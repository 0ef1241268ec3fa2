import { Injectable, type PipeTransform } from '@nestjs/common';
import { validatePlain } from '../common/validation';
import { parseExperiment } from '../experiments/dto/parse-experiment';
import type { ExperimentEvent } from '../experiments/experiment-event';
import { WebhookEnvelopeDto, type WebhookEventName } from './dto/webhook-event.dto';

/** A validated webhook: an experiment event, or a ConfigChanged that Mayday acknowledges and ignores. */
export type ParsedWebhook = { kind: 'experiment'; event: ExperimentEvent } | { kind: 'config'; event: WebhookEventName; workspace: string };

/**
 * Validates the envelope, then the payload as an experiment for every Experiment* event only: a
 * ConfigChanged carries any JSON (often an array) and is acknowledged unread. A bad body throws
 * PayloadValidationError (HTTP 400) naming the field; nothing else happens.
 */
@Injectable()
export class WebhookEventPipe implements PipeTransform<unknown, ParsedWebhook> {
  transform(body: unknown): ParsedWebhook {
    return parseWebhook(body);
  }
}

export { parseExperiment };

export function parseWebhook(body: unknown): ParsedWebhook {
  const envelope = validatePlain(WebhookEnvelopeDto, body, '');
  const info = envelope.event_info;
  if (info.webhook_event === 'ConfigChanged') {
    return { kind: 'config', event: info.webhook_event, workspace: info.workspace_id };
  }
  const experiment = parseExperiment(envelope.payload, 'payload');
  return {
    kind: 'experiment',
    event: {
      event: info.webhook_event,
      workspace: info.workspace_id,
      organisationId: info.organisation_id,
      configVersion: info.config_version ?? undefined,
      experiment,
    },
  };
}
