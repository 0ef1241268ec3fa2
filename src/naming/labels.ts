import { labelValue } from './names';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'mayday';
const PREFIX = 'mayday.superposition.io';
export const WORKSPACE_LABEL = `${PREFIX}/workspace`;
export const EXPERIMENT_LABEL = `${PREFIX}/experiment`;
export const VARIANT_LABEL = `${PREFIX}/variant`;
export const ROLE_LABEL = `${PREFIX}/role`;

/** The annotation by which the owner of a main Service, Ingress or HTTPRoute hands it to Mayday for one workspace. */
export const CONSENT_ANNOTATION = `${PREFIX}/workspace`;
/**
 * Set on every object Mayday applies: a hash of exactly what it applied (kubernetes/object-diff.ts).
 * Whether an object is "as Mayday wants it" is read from this, never from a comparison with the live
 * object, which carries server defaults, other controllers' fields and what admission webhooks added.
 */
export const APPLIED_HASH_ANNOTATION = `${PREFIX}/applied-hash`;
/** Set on a canary Deployment that Mayday took out of traffic, with the reason. */
export const FAILED_ANNOTATION = `${PREFIX}/failed`;
/**
 * A hash of the replicas and pod template the failure was seen with: a new variant config changes
 * them and so clears the mark. (Not the generation: for Deployments, annotation changes bump it.)
 */
export const FAILED_SPEC_ANNOTATION = `${PREFIX}/failed-spec`;
/**
 * Mayday's record, on a route object, of the share of users each variant's header rule serves: in
 * `header` mode the routes carry no weight to read it back from.
 */
export const HEADER_SHARE_ANNOTATION = `${PREFIX}/header-share`;
/**
 * Set on the route objects that carry an experiment's weights (a canary Ingress, the HTTPRoute): the
 * `last_modified` of the experiment state they were written for. A replica holding an older state of
 * the same experiment sees from it that another replica overtook it (experiments/transitions/route-fence.ts).
 */
export const APPLIED_FOR_ANNOTATION = `${PREFIX}/applied-for`;
/** The pod label the seed selects on. */
export const APP_LABEL = 'app';

/** `stable` serves the main path; `canary` is an experimental variant's; `record` is Mayday's bookkeeping. */
export type Role = 'stable' | 'canary' | 'record';

export interface Ownership {
  workspace: string;
  experimentId: string;
  variantId?: string;
  role: Role;
}

/** The labels on every object Mayday makes (docs/contract.md §6), so it can list what it owns. */
export function maydayLabels(owner: Ownership): Record<string, string> {
  const labels: Record<string, string> = {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [WORKSPACE_LABEL]: labelValue(owner.workspace),
    [EXPERIMENT_LABEL]: labelValue(owner.experimentId),
    [ROLE_LABEL]: owner.role,
  };
  if (owner.variantId !== undefined) labels[VARIANT_LABEL] = labelValue(owner.variantId);
  return labels;
}

/** A label selector string (`k=v,k=v`) for Mayday's objects matching the given parts. */
export function ownedSelector(parts: Partial<Ownership>): string {
  const terms = [`${MANAGED_BY_LABEL}=${MANAGED_BY}`];
  if (parts.workspace !== undefined) terms.push(`${WORKSPACE_LABEL}=${labelValue(parts.workspace)}`);
  if (parts.experimentId !== undefined) terms.push(`${EXPERIMENT_LABEL}=${labelValue(parts.experimentId)}`);
  if (parts.variantId !== undefined) terms.push(`${VARIANT_LABEL}=${labelValue(parts.variantId)}`);
  if (parts.role !== undefined) terms.push(`${ROLE_LABEL}=${parts.role}`);
  return terms.join(',');
}

/** The pods of one of Mayday's Deployments (they carry `app: <Deployment name>`, not the role). */
export function podSelector(deploymentName: string): string {
  return `${MANAGED_BY_LABEL}=${MANAGED_BY},${APP_LABEL}=${deploymentName}`;
}

export function isManagedByMayday(object: { metadata?: { labels?: Record<string, string> } } | undefined): boolean {
  return object?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY;
}
