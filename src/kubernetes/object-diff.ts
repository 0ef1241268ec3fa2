import type { KubernetesObject } from '@kubernetes/client-node';

export type ObjectActionKind = 'created' | 'updated' | 'unchanged' | 'deleted';

/** One line of an event's summary: what happened to which object. */
export interface ObjectAction {
  kind: string;
  namespace: string;
  name: string;
  action: ObjectActionKind;
  uid?: string;
}

export function actionFor(object: KubernetesObject, action: ObjectActionKind): ObjectAction {
  return {
    kind: object.kind ?? 'Unknown',
    namespace: object.metadata?.namespace ?? '',
    name: object.metadata?.name ?? '',
    action,
    ...(object.metadata?.uid ? { uid: object.metadata.uid } : {}),
  };
}

/**
 * Whether the live object already holds everything the desired one says. Maps may carry more
 * (server defaults, other managers' keys); lists must have the same length, so that an entry
 * Mayday dropped (an env var, a backend) is noticed and written.
 */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === live) return true;
  if (Array.isArray(desired)) {
    return Array.isArray(live) && desired.length === live.length && desired.every((item, index) => isSubset(item, live[index]));
  }
  if (desired !== null && typeof desired === 'object') {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
    return Object.entries(desired as Record<string, unknown>).every(([key, value]) =>
      value === undefined ? true : isSubset(value, (live as Record<string, unknown>)[key]),
    );
  }
  return false;
}
