import { validatePlain } from '../common/validation';
import type { ExperimentEvent } from './experiment-event';
import { parseExperiment } from './parse-experiment';
import { WebhookEnvelopeDto, type WebhookEventName } from './webhook-envelope';

/** A validated webhook: an experiment event, or a ConfigChanged that Mayday acknowledges and ignores. */
export type ParsedWebhook = { kind: 'experiment'; event: ExperimentEvent } | { kind: 'config'; event: WebhookEventName; workspace: string };

/**
 * Validates the envelope (docs/contract.md §1), then the payload as an experiment for every
 * Experiment* event only: a ConfigChanged carries any JSON (often an array) and is acknowledged
 * unread. A bad body throws PayloadValidationError (HTTP 400) naming the field.
 */
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
