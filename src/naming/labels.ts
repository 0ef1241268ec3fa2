import { labelValue } from './names';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'mayday';
const PREFIX = 'mayday.superposition.io';
export const WORKSPACE_LABEL = `${PREFIX}/workspace`;
export const EXPERIMENT_LABEL = `${PREFIX}/experiment`;
export const VARIANT_LABEL = `${PREFIX}/variant`;
export const ROLE_LABEL = `${PREFIX}/role`;
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

export function isManagedByMayday(object: { metadata?: { labels?: Record<string, string> } } | undefined): boolean {
  return object?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY;
}
