import type { KubernetesObject } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { canonicalJson } from '../common/canonical-json';
import { APPLIED_HASH_ANNOTATION } from '../naming/labels';

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

/** The desired object with its hash annotation, as Mayday applies it. */
export function withAppliedHash<T extends KubernetesObject>(desired: T): T {
  return {
    ...desired,
    metadata: { ...desired.metadata, annotations: { ...desired.metadata?.annotations, [APPLIED_HASH_ANNOTATION]: appliedHash(desired) } },
  };
}

/** Whether the live object is the result of applying this desired object (whatever else it now carries). */
export function isAsApplied(desired: KubernetesObject, live: KubernetesObject | undefined): boolean {
  return live?.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] === appliedHash(desired);
}

function appliedHash(desired: KubernetesObject): string {
  const annotations = { ...desired.metadata?.annotations };
  delete annotations[APPLIED_HASH_ANNOTATION];
  const hashed = { ...desired, metadata: { ...desired.metadata, annotations } };
  return createHash('sha256').update(canonicalJson(hashed)).digest('hex').slice(0, 16);
}
