import type { KubernetesObject } from '@kubernetes/client-node';

/**
 * How long, and how many, deletions are remembered. A tombstone only has to outlast the watch
 * events that were already on their way when Mayday deleted the object (seconds); a relist makes
 * every older one useless.
 */
export interface TombstoneLimits {
  ttlMs: number;
  max: number;
}

export const DEFAULT_TOMBSTONE_LIMITS: TombstoneLimits = { ttlMs: 5 * 60_000, max: 10_000 };

interface Tombstone {
  version: bigint;
  /** When it was recorded (ms). */
  at: number;
}

/**
 * The objects of one kind as Mayday last saw them, from a watch and from its own writes. A version
 * older than the one held is ignored (a late watch event must not undo a write Mayday just made),
 * and so is any version up to the one deleted (kept as a tombstone, bounded in time and count).
 */
export class ObjectStore<T extends KubernetesObject = KubernetesObject> {
  private readonly objects = new Map<string, T>();
  /** In the order they were recorded (oldest first), so the oldest are dropped first. */
  private readonly tombstones = new Map<string, Tombstone>();

  constructor(
    private readonly limits: TombstoneLimits = DEFAULT_TOMBSTONE_LIMITS,
    private readonly clock: () => number = Date.now,
  ) {}

  upsert(object: T): void {
    const key = keyOf(object.metadata?.namespace, object.metadata?.name);
    const version = versionOf(object);
    const held = this.objects.get(key);
    if (version !== undefined) {
      const heldVersion = held ? versionOf(held) : undefined;
      if (heldVersion !== undefined && version < heldVersion) return;
      const deleted = this.liveTombstone(key);
      if (deleted !== undefined && version <= deleted.version) return;
    }
    this.tombstones.delete(key);
    this.objects.set(key, object);
  }

  remove(namespace: string | undefined, name: string | undefined, resourceVersion?: string): void {
    const key = keyOf(namespace, name);
    const version = parseVersion(resourceVersion) ?? versionOf(this.objects.get(key));
    this.objects.delete(key);
    this.tombstones.delete(key);
    if (version !== undefined) this.tombstones.set(key, { version, at: this.clock() });
    this.pruneTombstones();
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

  /**
   * Replaces the contents with a complete list taken at `listVersion` (a relist after the watch
   * broke): an object the list lacks was deleted meanwhile and goes. What Mayday itself wrote or
   * deleted after the list was taken (a newer resourceVersion) is kept, as the watch that follows
   * the list will bring it anyway. Returns the objects that went.
   */
  replace(items: T[], listVersion?: string): T[] {
    const since = parseVersion(listVersion);
    const newerThanList = (version: bigint | undefined) => since !== undefined && version !== undefined && version > since;
    const previous = new Map(this.objects);
    this.objects.clear();
    for (const [key, tombstone] of this.tombstones) {
      if (!newerThanList(tombstone.version)) this.tombstones.delete(key);
    }
    for (const item of items) this.upsert(item);
    for (const object of previous.values()) {
      if (newerThanList(versionOf(object))) this.upsert(object);
    }
    return [...previous].filter(([key]) => !this.objects.has(key)).map(([, object]) => object);
  }

  /** How many deletions are remembered (for tests and metrics). */
  get tombstoneCount(): number {
    return this.tombstones.size;
  }

  private liveTombstone(key: string): Tombstone | undefined {
    const tombstone = this.tombstones.get(key);
    if (tombstone && this.clock() - tombstone.at > this.limits.ttlMs) {
      this.tombstones.delete(key);
      return undefined;
    }
    return tombstone;
  }

  private pruneTombstones(): void {
    const now = this.clock();
    for (const [key, tombstone] of this.tombstones) {
      const expired = now - tombstone.at > this.limits.ttlMs;
      if (!expired && this.tombstones.size <= this.limits.max) break;
      this.tombstones.delete(key);
    }
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
