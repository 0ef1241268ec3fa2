import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { makeInformer, type Informer, type KubernetesObject } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { MaydayConfig } from '../config/mayday-config';
import { Scope } from '../config/scope';
import { MANAGED_BY, MANAGED_BY_LABEL } from '../naming/labels';
import { KubeClients } from './kube-client';
import { ObjectStore } from './object-store';

/** A kind a module needs kept in memory: Mayday's own objects of it, or (`all`) every object of it. */
export interface KindToCache {
  apiVersion: string;
  kind: string;
  /** The API path the collection hangs off, e.g. /apis/apps/v1, and its resource name, e.g. deployments. */
  apiPath: string;
  resource: string;
  all?: boolean;
}

interface CachedKind extends KindToCache {
  /** The namespaces watched (one informer each), or undefined for one informer over the whole cluster. */
  namespaces?: readonly string[];
}

/** What one informer watches, and the key its store, sync state and backoff are kept under. */
interface WatchedCollection {
  kind: CachedKind;
  namespace: string | undefined;
  key: string;
}

export type CacheListener = (verb: 'add' | 'update' | 'delete', object: KubernetesObject) => void;

const FIRST_RESTART_DELAY_MS = 1000;
const MAX_RESTART_DELAY_MS = 60_000;
const OWNED = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

/**
 * Listers, as Kubernetes controllers have them: informers (one list, then a watch) keep the
 * objects Mayday owns in memory, so that an event reads its state without a round trip. Mayday's
 * own writes go in at once (read-your-writes), and the watch brings everyone else's. Until a
 * kind's first list has arrived, or after its watch broke, reads go to the API server. A broken
 * watch is not resumed: a new informer lists again, and the kind counts as synced only once that
 * complete list has replaced what the cache held (objects deleted meanwhile go).
 */
@Injectable()
export class ClusterCache implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ClusterCache.name);
  private readonly kinds: CachedKind[];
  /** One store per informer (by informerKey): a relist replaces exactly what that informer covers. */
  private readonly stores = new Map<string, ObjectStore>();
  /** Informers (by informerKey) whose first list has arrived and whose watch runs. */
  private readonly synced = new Set<string>();
  /** The resourceVersion each current informer's complete list was taken at. */
  private readonly listedAt = new Map<string, bigint>();
  /** The current informer of each collection; one that broke is replaced, and anything it still reports is dropped. */
  private readonly informers = new Map<string, Informer<KubernetesObject>>();
  private readonly listeners = new Map<string, CacheListener[]>();
  private readonly restarting = new Set<string>();
  /** Consecutive failed starts per informer, for the backoff (a missing CRD must not flood the log). */
  private readonly failures = new Map<string, number>();
  private stopped = false;
  private started = false;
  /** The namespaces in scope, where every kind but the records is watched. */
  private readonly namespaces: readonly string[] | undefined;

  constructor(
    private readonly clients: KubeClients,
    config: MaydayConfig,
  ) {
    // With ALLOWED_NAMESPACES, only those namespaces are watched (and a namespaced install needs no more);
    // the records are read in Mayday's namespace only.
    const namespaces = Scope.of(config).namespaces;
    this.namespaces = namespaces;
    this.kinds = [
      { apiVersion: 'apps/v1', kind: 'Deployment', apiPath: '/apis/apps/v1', resource: 'deployments', namespaces },
      { apiVersion: 'v1', kind: 'Service', apiPath: '/api/v1', resource: 'services', namespaces },
      // Every ConfigMap of Mayday's own namespace (no tenant writes there): a record or a route claim the cache
      // does not hold does not exist, so a new experiment's first event needs no GET to learn it has none.
      { apiVersion: 'v1', kind: 'ConfigMap', apiPath: '/api/v1', resource: 'configmaps', namespaces: [config.maydayNamespace], all: true },
    ];
  }

  /**
   * Keeps a kind in memory too, in the namespaces in scope: the traffic router declares its route
   * kind, the workload watcher the pods. Declared while the application is built, before the
   * informers start.
   */
  keep(...kinds: KindToCache[]): void {
    if (this.started) throw new Error(`ClusterCache.keep(${kinds.map((kind) => kind.kind).join(', ')}) after the informers started`);
    for (const kind of kinds) {
      if (!this.kinds.some((known) => kindKey(known.apiVersion, known.kind) === kindKey(kind.apiVersion, kind.kind))) {
        this.kinds.push({ ...kind, namespaces: this.namespaces });
      }
    }
  }

  onApplicationBootstrap(): void {
    this.started = true;
    for (const kind of this.kinds) {
      for (const namespace of kind.namespaces ?? [undefined]) {
        const watched = { kind, namespace, key: informerKey(kind, namespace) };
        this.stores.set(watched.key, new ObjectStore());
        // Not awaited: Mayday answers while the caches fill, reading from the API server meanwhile.
        this.startInformer(watched);
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.informers.values()].map((informer) => informer.stop()));
  }

  /** Called for every add and update of a kind (after the cache holds it), and every delete. */
  on(apiVersion: string, kind: string, listener: CacheListener): void {
    const key = kindKey(apiVersion, kind);
    this.listeners.set(key, [...(this.listeners.get(key) ?? []), listener]);
  }

  /**
   * The cached objects for a list call, or undefined when the cache cannot answer it: the kind is
   * not cached or not synced, or the selector could match objects the cache does not hold.
   */
  list<T extends KubernetesObject>(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    labelSelector?: string,
  ): T[] | undefined {
    const key = kindKey(apiVersion, kind);
    const store = this.ready(key, namespace);
    const labels = parseSelector(labelSelector);
    if (!store || !labels) return undefined;
    if (!this.holdsAll(key) && labels[MANAGED_BY_LABEL] !== MANAGED_BY) return undefined;
    return store.list(namespace, labels) as T[];
  }

  /** The cached object, `null` when the cache knows there is none, undefined when it cannot tell. */
  get<T extends KubernetesObject>(apiVersion: string, kind: string, namespace: string, name: string): T | null | undefined {
    const key = kindKey(apiVersion, kind);
    const store = this.ready(key, namespace);
    if (!store) return undefined;
    const object = store.get(namespace, name) as T | undefined;
    if (object) return object;
    // An object the cache does not hold may still exist if the cache only holds Mayday's own.
    return this.holdsAll(key) ? null : undefined;
  }

  /**
   * Whether every cache holds every write made up to `resourceVersion` (e.g. a record's): each
   * informer is synced and its complete list was taken at that revision or later. This reads
   * resourceVersions as etcd revisions, one counter for the objects of a cluster (as ObjectStore
   * orders them within a kind); unreadable ones never count as held.
   */
  holdsWritesUpTo(resourceVersion: string | undefined): boolean {
    const wanted = revision(resourceVersion);
    if (wanted === undefined || !this.started) return false;
    for (const key of this.stores.keys()) {
      const listed = this.listedAt.get(key);
      if (!this.synced.has(key) || listed === undefined || listed < wanted) return false;
    }
    return true;
  }

  /** Mayday wrote this object: the cache holds it from now on (read-your-writes). */
  written(object: KubernetesObject): void {
    const key = kindKey(object.apiVersion ?? '', object.kind ?? '');
    const store = this.storeFor(key, object.metadata?.namespace);
    if (!store) return;
    const own = object.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY;
    // A copy without managedFields: the caller keeps the object it was given whole.
    if (own || this.holdsAll(key)) store.upsert({ ...object, metadata: withoutManagedFields(object.metadata) });
    else store.remove(object.metadata?.namespace, object.metadata?.name, object.metadata?.resourceVersion);
  }

  /** Mayday deleted this object. */
  deleted(apiVersion: string, kind: string, namespace: string, name: string): void {
    this.storeFor(kindKey(apiVersion, kind), namespace)?.remove(namespace, name);
  }

  /**
   * A new informer for a kind in one namespace (or in all of them): a complete list (which replaces
   * that store's contents), then a watch.
   */
  private startInformer(watched: WatchedCollection): void {
    if (this.stopped) return;
    const { kind, namespace } = watched;
    const key = kindKey(kind.apiVersion, kind.kind);
    const store = this.stores.get(watched.key)!;
    const selector = kind.all ? undefined : OWNED;
    const path = namespace ? `${kind.apiPath}/namespaces/${namespace}/${kind.resource}` : `${kind.apiPath}/${kind.resource}`;
    const current = () => this.informers.get(watched.key) === informer;
    const informer = makeInformer<KubernetesObject>(
      this.clients.kubeConfig,
      path,
      async () => {
        const list = await this.clients.objects.list(
          kind.apiVersion,
          kind.kind,
          namespace,
          undefined,
          undefined,
          undefined,
          undefined,
          selector,
        );
        if (list.metadata?._continue) throw new Error(`the list of ${watched.key} came back incomplete`);
        if (!current()) return list;
        // Filled here, before anyone reads it as synced (the informer's own add events come a bit later).
        const gone = store.replace(
          list.items.map((item) => withType(stripped(item), kind)),
          list.metadata?.resourceVersion,
        );
        this.synced.add(watched.key);
        const listed = revision(list.metadata?.resourceVersion);
        if (listed === undefined) this.listedAt.delete(watched.key);
        else this.listedAt.set(watched.key, listed);
        this.failures.delete(watched.key);
        for (const object of gone) this.notify(key, 'delete', object);
        return list;
      },
      selector,
    );
    informer.on('add', (object) => current() && this.apply(key, 'add', withType(stripped(object), kind), store));
    informer.on('update', (object) => current() && this.apply(key, 'update', withType(stripped(object), kind), store));
    informer.on('delete', (object) => {
      if (!current()) return;
      store.remove(object.metadata?.namespace, object.metadata?.name, object.metadata?.resourceVersion);
      this.notify(key, 'delete', withType(object, kind));
    });
    informer.on('error', (error) => current() && this.restartLater(watched, informer, error));
    this.informers.set(watched.key, informer);
    informer.start().catch((error: unknown) => current() && this.restartLater(watched, informer, error));
  }

  private apply(key: string, verb: 'add' | 'update', object: KubernetesObject, store: ObjectStore): void {
    store.upsert(object);
    this.notify(key, verb, object);
  }

  private notify(key: string, verb: 'add' | 'update' | 'delete', object: KubernetesObject): void {
    for (const listener of this.listeners.get(key) ?? []) listener(verb, object);
  }

  /**
   * The store that holds everything of the kind in `namespace` (all namespaces when undefined), if it
   * is synced. With per-namespace informers, only a read within one watched namespace can be answered.
   */
  private ready(key: string, namespace: string | undefined): ObjectStore | undefined {
    const store = this.storeFor(key, namespace);
    const kind = this.kindOf(key);
    if (!store || !kind) return undefined;
    return this.synced.has(informerKey(kind, kind.namespaces ? namespace : undefined)) ? store : undefined;
  }

  /** The store an object of this kind in `namespace` belongs in; undefined when no informer covers it. */
  private storeFor(key: string, namespace: string | undefined): ObjectStore | undefined {
    const kind = this.kindOf(key);
    if (!kind) return undefined;
    if (!kind.namespaces) return this.stores.get(informerKey(kind, undefined));
    if (namespace === undefined || !kind.namespaces.includes(namespace)) return undefined;
    return this.stores.get(informerKey(kind, namespace));
  }

  private kindOf(key: string): CachedKind | undefined {
    return this.kinds.find((candidate) => kindKey(candidate.apiVersion, candidate.kind) === key);
  }

  private holdsAll(key: string): boolean {
    return this.kinds.some((kind) => kindKey(kind.apiVersion, kind.kind) === key && kind.all === true);
  }

  /**
   * Any watch error (the API server restarted, the connection was reset, a list failed): reads go
   * to the API server at once, and after a backoff a new informer lists everything again.
   */
  private restartLater(watched: WatchedCollection, informer: Informer<KubernetesObject>, error: unknown): void {
    const key = watched.key;
    this.synced.delete(key);
    if (this.stopped || this.restarting.has(key)) return;
    this.restarting.add(key);
    void informer.stop();
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const delay = Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** (failures - 1));
    this.logger.warn(`watch of ${key} stopped (${(error as Error)?.message ?? String(error)}); listing again in ${delay} ms`);
    void sleep(delay, undefined, { ref: false }).then(() => {
      this.restarting.delete(key);
      this.startInformer(watched);
    });
  }
}

function kindKey(apiVersion: string, kind: string): string {
  return `${apiVersion}/${kind}`;
}

/** One informer's collection: a kind in one namespace, or (`*`) in all of them. */
function informerKey(kind: CachedKind, namespace: string | undefined): string {
  return `${kindKey(kind.apiVersion, kind.kind)}@${namespace ?? '*'}`;
}

/**
 * Server-side apply's bookkeeping (metadata.managedFields, often a third of an object), which nothing
 * in Mayday reads from a cache, dropped before an object is kept: memory per live experiment.
 */
function withoutManagedFields(metadata: KubernetesObject['metadata']): KubernetesObject['metadata'] {
  // A new object rather than `delete`, which would leave V8 a slower, larger dictionary-mode object.
  const { managedFields: _dropped, ...rest } = metadata ?? {};
  return rest;
}

/** The same object without managedFields (in place: the informer's own cache holds this very object too). */
function stripped(object: KubernetesObject): KubernetesObject {
  if (object.metadata?.managedFields) object.metadata = withoutManagedFields(object.metadata);
  return object;
}

function revision(resourceVersion: string | undefined): bigint | undefined {
  return resourceVersion && /^\d+$/.test(resourceVersion) ? BigInt(resourceVersion) : undefined;
}

/** Watch events carry no apiVersion/kind on some servers; the cache's readers expect them. */
function withType(object: KubernetesObject, kind: CachedKind): KubernetesObject {
  if (object.apiVersion && object.kind) return object;
  return Object.assign(object, { apiVersion: kind.apiVersion, kind: kind.kind });
}

/** `a=b,c=d` into a map; undefined for anything but equality terms (which the cache does not answer). */
function parseSelector(selector: string | undefined): Record<string, string> | undefined {
  if (!selector) return {};
  const labels: Record<string, string> = {};
  for (const term of selector.split(',')) {
    const match = /^([^=!]+)=([^=]*)$/.exec(term.trim());
    if (!match) return undefined;
    labels[match[1]] = match[2];
  }
  return labels;
}
