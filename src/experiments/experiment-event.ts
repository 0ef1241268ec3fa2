import { UnprocessableEventError } from '../common/errors';
import type { MaydayConfig } from '../config/mayday-config';
import type { ObjectAction } from '../kubernetes/object-diff';
import type { SuperpositionScope } from '../superposition/superposition.client';
import type { WebhookEventName } from '../webhooks/dto/webhook-event.dto';
import type { ExperimentDto } from './dto/experiment.dto';
import type { CanaryOutcome } from './experiment.service';

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

/** Where an event came from: Superposition's webhook, a Deployment changing state, or the periodic resync. */
export type EventSource = 'webhook' | 'watch' | 'resync';

/** What handling one event did; the webhook's 200 answer. */
export interface EventOutcome {
  result: 'applied' | 'ignored' | 'pending';
  reason: string;
  event: WebhookEventName;
  experimentId: string;
  status: ExperimentDto['status'];
  namespace?: string;
  actions: ObjectAction[];
  /** The weight each experimental variant has now, and why (rollouts only). */
  canaries?: CanaryOutcome[];
  /** A promotion switched the main Service; what it retires is deleted at this time (ISO 8601). */
  scaleDownAt?: string;
}

/** The Superposition tenant an event's reads go to; throws (422) only when a read needs it and no organisation is known. */
export function superpositionScopeOf(config: MaydayConfig, event: ExperimentEvent): () => SuperpositionScope {
  return () => {
    const orgId = config.superposition.orgId ?? event.organisationId;
    if (!orgId) {
      throw new UnprocessableEventError(
        'event_info.organisation_id is missing and SUPERPOSITION_ORG_ID is not set: cannot read the experiment from Superposition',
      );
    }
    return { orgId, workspace: event.workspace };
  };
}
