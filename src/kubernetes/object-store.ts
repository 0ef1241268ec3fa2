import type { KubernetesObject } from '@kubernetes/client-node';

/**
 * The objects of one kind as Mayday last saw them, from a watch and from its own writes. A version
 * older than the one held is ignored (a late watch event must not undo a write Mayday just made),
 * and so is any version up to the one deleted.
 */
export class ObjectStore<T extends KubernetesObject = KubernetesObject> {
  private readonly objects = new Map<string, T>();
  private readonly deletedAt = new Map<string, bigint>();

  upsert(object: T): void {
    const key = keyOf(object.metadata?.namespace, object.metadata?.name);
    const version = versionOf(object);
    const held = this.objects.get(key);
    if (version !== undefined) {
      const heldVersion = held ? versionOf(held) : undefined;
      if (heldVersion !== undefined && version < heldVersion) return;
      const deleted = this.deletedAt.get(key);
      if (deleted !== undefined && version <= deleted) return;
    }
    this.deletedAt.delete(key);
    this.objects.set(key, object);
  }

  remove(namespace: string | undefined, name: string | undefined, resourceVersion?: string): void {
    const key = keyOf(namespace, name);
    const version = parseVersion(resourceVersion) ?? versionOf(this.objects.get(key));
    if (version !== undefined) this.deletedAt.set(key, version);
    this.objects.delete(key);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.objects.get(keyOf(namespace, name));
  }

  /** Objects in a namespace (all namespaces when undefined) whose labels include every given one. */
  list(namespace: string | undefined, labels: Record<string, string> = {}): T[] {
    const matches: T[] = [];
    for (const object of this.objects.values()) {
      if (namespace !== undefined && object.metadata?.namespace !== namespace) continue;
      const own = object.metadata?.labels ?? {};
      if (Object.entries(labels).every(([key, value]) => own[key] === value)) matches.push(object);
    }
    return matches;
  }

  /** Replaces everything with a fresh list (after an informer's initial list or a relist). */
  reset(objects: T[]): void {
    this.objects.clear();
    this.deletedAt.clear();
    for (const object of objects) this.upsert(object);
  }
}

function keyOf(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}

function versionOf(object: KubernetesObject | undefined): bigint | undefined {
  return parseVersion(object?.metadata?.resourceVersion);
}

/** resourceVersions are etcd revisions: integers in practice (the API calls them opaque, so anything else is not ordered). */
function parseVersion(version: string | undefined): bigint | undefined {
  return version && /^\d+$/.test(version) ? BigInt(version) : undefined;
}
