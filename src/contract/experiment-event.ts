import type { ExperimentDto } from './experiment.dto';
import type { WebhookEventName } from './webhook-envelope';

/** One validated experiment event, whatever it came through (webhook or resync). */
export interface ExperimentEvent {
  event: WebhookEventName;
  /** The Superposition workspace id: the service being released. */
  workspace: string;
  organisationId?: string;
  /** `event_info.config_version` of a webhook; unknown for states read from Superposition (resync) or a record. */
  configVersion?: string;
  experiment: ExperimentDto;
}
