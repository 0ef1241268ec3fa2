import type { ExperimentDto } from '../../contract/experiment.dto';
import type { WebhookEventName } from '../../contract/webhook-envelope';
import type { ObjectAction } from '../../kubernetes/object-diff';
import type { CanaryOutcome } from '../transitions/change-set';

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
