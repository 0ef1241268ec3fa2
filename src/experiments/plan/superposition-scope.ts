import { UnprocessableEventError } from '../../common/errors';
import type { MaydayConfig } from '../../config/mayday-config';
import type { ExperimentEvent } from '../../contract/experiment-event';
import type { SuperpositionScope } from '../../superposition/superposition.client';

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
