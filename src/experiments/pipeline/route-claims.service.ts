import { Injectable } from '@nestjs/common';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { UnprocessableEventError } from '../../common/errors';
import { MaydayConfig } from '../../config/mayday-config';
import { KubeVersionConflictError } from '../../kubernetes/kube-errors';
import { KubeResourcesService } from '../../kubernetes/kube-resources.service';
import { isManagedByMayday, MANAGED_BY, MANAGED_BY_LABEL, ROLE_LABEL } from '../../naming/labels';
import { kubeName } from '../../naming/names';
import { TERMINAL_STATUSES, type ExperimentRecord } from '../records/experiment-record';
import { ExperimentRecords } from '../records/experiment-records.service';

/** Who runs an experiment on one service (namespace and workspace): one at a time, across every replica. */
export interface RouteClaim {
  namespace: string;
  service: string;
  experimentId: string;
  /** When it was claimed (ISO 8601). */
  claimedAt: string;
}

export type ClaimVerdict = { free: true } | { free: false; reason: string };

/**
 * Whether the experiment holding a claim still holds it: until its record says it finished (a
 * conclusion or discard fully applied). A claim whose holder has no record was made by an event
 * that never completed: once that event's deadline has passed, it is abandoned (its objects, if it
 * wrote any, still refuse other experiments by themselves).
 */
export function claimVerdict(
  claim: RouteClaim,
  holderRecord: ExperimentRecord | undefined,
  now: number,
  abandonedAfterMs: number,
): ClaimVerdict {
  if (holderRecord) {
    if (TERMINAL_STATUSES.has(holderRecord.status) && holderRecord.phase === 'applied') return { free: true };
    return { free: false, reason: `experiment ${claim.experimentId} is ${holderRecord.status} on it` };
  }
  const claimedAt = Date.parse(claim.claimedAt);
  if (Number.isNaN(claimedAt) || claimedAt + abandonedAfterMs < now) return { free: true };
  return { free: false, reason: `experiment ${claim.experimentId} claimed it at ${claim.claimedAt} and is being applied` };
}

export function routeClaimName(namespace: string, service: string): string {
  // The dot is not allowed in the name, so the result always carries a hash of the whole pair (no two pairs share one).
  return kubeName(`mayday-route-${namespace}.${service}`);
}

export function routeClaimToConfigMap(claim: RouteClaim, maydayNamespace: string): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: routeClaimName(claim.namespace, claim.service),
      namespace: maydayNamespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [ROLE_LABEL]: 'route-claim' },
    },
    data: { namespace: claim.namespace, service: claim.service, experimentId: claim.experimentId, claimedAt: claim.claimedAt },
  };
}

function routeClaimFrom(configMap: V1ConfigMap | undefined): RouteClaim | undefined {
  const data = configMap?.data;
  if (!configMap || !isManagedByMayday(configMap) || !data?.namespace || !data.service || !data.experimentId) return undefined;
  return { namespace: data.namespace, service: data.service, experimentId: data.experimentId, claimedAt: data.claimedAt ?? '' };
}

/**
 * The claim (a ConfigMap in Mayday's namespace) that lets one experiment at a time run on a
 * service's route, whichever replica handles its events: created when the first one starts, taken
 * over (an update naming the resourceVersion read) once its holder finished. Two replicas starting
 * two experiments at once both try; the API server lets one write through and the other gets
 * KubeVersionConflictError, reads again and is refused.
 */
@Injectable()
export class RouteClaims {
  constructor(
    private readonly kube: KubeResourcesService,
    private readonly records: ExperimentRecords,
    private readonly config: MaydayConfig,
  ) {}

  /**
   * Makes sure `experimentId` holds the route of `service` in `namespace`; UnprocessableEventError
   * when another experiment does. Returns the claim when this call made it (else undefined).
   */
  async claim(namespace: string, service: string, experimentId: string, fresh: boolean): Promise<V1ConfigMap | undefined> {
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: this.config.maydayNamespace, name: routeClaimName(namespace, service) };
    const live = await this.kube.read<V1ConfigMap>(ref);
    const current = routeClaimFrom(live);
    if (current?.experimentId === experimentId) return undefined;
    if (current) {
      const { record } = await this.records.readVersioned(current.experimentId, fresh);
      const verdict = claimVerdict(current, record, Date.now(), this.config.webhook.eventDeadlineMs);
      if (!verdict.free) {
        throw new UnprocessableEventError(
          `${verdict.reason}: one experiment at a time runs on service "${service}" in namespace ${namespace}; conclude or discard it first`,
        );
      }
    }
    const claim = routeClaimToConfigMap(
      { namespace, service, experimentId, claimedAt: new Date().toISOString() },
      this.config.maydayNamespace,
    );
    if (live) claim.metadata!.resourceVersion = live.metadata?.resourceVersion;
    return this.kube.createOrReplace(claim);
  }

  /** Gives back a claim this event made when the event was refused before it wrote anything (unless it changed meanwhile). */
  async withdraw(claim: V1ConfigMap): Promise<void> {
    const { namespace, name, uid, resourceVersion } = claim.metadata!;
    try {
      await this.kube.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: namespace!, name: name! }, { uid, resourceVersion });
    } catch (error) {
      // Someone else changed it since: it is theirs now.
      if (!(error instanceof KubeVersionConflictError)) throw error;
    }
  }
}
