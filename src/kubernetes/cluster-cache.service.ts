import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { makeInformer, type Informer, type KubernetesObject } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { MaydayConfig } from '../config/mayday-config';
import { MANAGED_BY, MANAGED_BY_LABEL } from '../naming/labels';
import { KubeClients } from './kube-client';
import { ObjectStore } from './object-store';

/** One kind kept in memory: Mayday's own objects of it, or (`all`) every object of it. */
interface CachedKind {
  apiVersion: string;
  kind: string;
  /** The API path the collection hangs off, e.g. /apis/apps/v1, and its resource name, e.g. deployments. */
  apiPath: string;
  resource: string;
  all?: boolean;
  /** The namespaces watched (one informer each), or undefined for one informer over the whole cluster. */
  namespaces?: readonly string[];
}

export type CacheListener = (verb: 'add' | 'update' | 'delete', object: KubernetesObject) => void;

const FIRST_RESTART_DELAY_MS = 1000;
const MAX_RESTART_DELAY_MS = 60_000;
const OWNED = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

/**
 * Listers, as Kubernetes controllers have them: informers (one list, then a watch) keep the
 * objects Mayday owns in memory, so that an event reads its state without a round trip. Mayday's
 * own writes go in at once (read-your-writes), and the watch brings everyone else's. Until a
 * kind's first list has arrived, or after its watch broke, reads go to the API server.
 */
@Injectable()
export class ClusterCache implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ClusterCache.name);
  private readonly kinds: CachedKind[];
  private readonly stores = new Map<string, ObjectStore>();
  /** Informers (by informerKey) whose first list has arrived and whose watch runs. */
  private readonly synced = new Set<string>();
  private readonly informers = new Map<string, Informer<KubernetesObject>>();
  private readonly listeners = new Map<string, CacheListener[]>();
  private readonly restarting = new Set<string>();
  /** Consecutive failed starts per kind, for the backoff (a missing CRD must not flood the log). */
  private readonly failures = new Map<string, number>();
  private stopped = false;

  constructor(
    private readonly clients: KubeClients,
    config: MaydayConfig,
  ) {
    // With ALLOWED_NAMESPACES, only those namespaces are watched (and a namespaced install needs no more);
    // the records are read in Mayday's namespace only.
    const namespaces = config.webhook.allowedNamespaces.length > 0 ? config.webhook.allowedNamespaces : undefined;
    this.kinds = [
      { apiVersion: 'apps/v1', kind: 'Deployment', apiPath: '/apis/apps/v1', resource: 'deployments', namespaces },
      { apiVersion: 'v1', kind: 'Service', apiPath: '/api/v1', resource: 'services', namespaces },
      { apiVersion: 'v1', kind: 'ConfigMap', apiPath: '/api/v1', resource: 'configmaps', namespaces: [config.maydayNamespace] },
    ];
    if (config.routing.provider === 'nginx') {
      // Every Ingress: the main route may be a user's, and no other canary may hold the host.
      this.kinds.push({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        apiPath: '/apis/networking.k8s.io/v1',
        resource: 'ingresses',
        all: true,
        namespaces,
      });
    } else {
      this.kinds.push({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        apiPath: '/apis/gateway.networking.k8s.io/v1',
        resource: 'httproutes',
        namespaces,
      });
    }
    if (config.safety.readinessGate) this.kinds.push({ apiVersion: 'v1', kind: 'Pod', apiPath: '/api/v1', resource: 'pods', namespaces });
  }

  onApplicationBootstrap(): void {
    for (const kind of this.kinds) {
      const key = kindKey(kind.apiVersion, kind.kind);
      const store = new ObjectStore();
      this.stores.set(key, store);
      for (const namespace of kind.namespaces ?? [undefined]) this.watch(kind, namespace, store);
    }
  }

  /** One informer: a kind in one namespace, or in all of them. */
  private watch(kind: CachedKind, namespace: string | undefined, store: ObjectStore): void {
    const key = kindKey(kind.apiVersion, kind.kind);
    const informerKey = `${key}@${namespace ?? '*'}`;
    const selector = kind.all ? undefined : OWNED;
    const path = namespace ? `${kind.apiPath}/namespaces/${namespace}/${kind.resource}` : `${kind.apiPath}/${kind.resource}`;
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
        // Filled here, before anyone reads it as synced (the informer's own add events come a bit later).
        for (const item of list.items) store.upsert(withType(item, kind));
        this.synced.add(informerKey);
        this.failures.delete(informerKey);
        return list;
      },
      selector,
    );
    informer.on('add', (object) => this.apply(key, 'add', withType(object, kind), store));
    informer.on('update', (object) => this.apply(key, 'update', withType(object, kind), store));
    informer.on('delete', (object) => {
      store.remove(object.metadata?.namespace, object.metadata?.name, object.metadata?.resourceVersion);
      for (const listener of this.listeners.get(key) ?? []) listener('delete', withType(object, kind));
    });
    informer.on('error', (error) => this.restartLater(informerKey, informer, error));
    this.informers.set(informerKey, informer);
    // Not awaited: Mayday answers while the caches fill, reading from the API server meanwhile.
    void this.start(informerKey, informer);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.informers.values()].map((informer) => informer.stop()));
  }

  /** Called for every add and update of a kind (after the cache holds it). */
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

  /** Mayday wrote this object: the cache holds it from now on (read-your-writes). */
  written(object: KubernetesObject): void {
    const key = kindKey(object.apiVersion ?? '', object.kind ?? '');
    const store = this.stores.get(key);
    if (!store) return;
    const own = object.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY;
    if (own || this.holdsAll(key)) store.upsert(object);
    else store.remove(object.metadata?.namespace, object.metadata?.name, object.metadata?.resourceVersion);
  }

  /** Mayday deleted this object. */
  deleted(apiVersion: string, kind: string, namespace: string, name: string): void {
    this.stores.get(kindKey(apiVersion, kind))?.remove(namespace, name);
  }

  private apply(key: string, verb: 'add' | 'update', object: KubernetesObject, store: ObjectStore): void {
    store.upsert(object);
    for (const listener of this.listeners.get(key) ?? []) listener(verb, object);
  }

  /** The store, if it holds everything of the kind in `namespace` (all namespaces when undefined) and is synced. */
  private ready(key: string, namespace: string | undefined): ObjectStore | undefined {
    const kind = this.kinds.find((candidate) => kindKey(candidate.apiVersion, candidate.kind) === key);
    if (!kind) return undefined;
    const watched = kind.namespaces ?? [undefined];
    if (kind.namespaces && (namespace === undefined || !kind.namespaces.includes(namespace))) return undefined;
    const synced = watched.every((watchedNamespace) => this.synced.has(`${key}@${watchedNamespace ?? '*'}`));
    return synced ? this.stores.get(key) : undefined;
  }

  private holdsAll(key: string): boolean {
    return this.kinds.some((kind) => kindKey(kind.apiVersion, kind.kind) === key && kind.all === true);
  }

  private async start(key: string, informer: Informer<KubernetesObject>): Promise<void> {
    if (this.stopped) return;
    try {
      await informer.start();
    } catch (error) {
      this.restartLater(key, informer, error);
    }
  }

  /** A watch that broke (e.g. the API server restarted) starts again; meanwhile reads go to the API server. */
  private restartLater(key: string, informer: Informer<KubernetesObject>, error: unknown): void {
    this.synced.delete(key);
    if (this.stopped || this.restarting.has(key)) return;
    this.restarting.add(key);
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const delay = Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** (failures - 1));
    this.logger.warn(`watch of ${key} stopped (${(error as Error)?.message ?? String(error)}); restarting in ${delay} ms`);
    void sleep(delay).then(async () => {
      this.restarting.delete(key);
      await this.start(key, informer);
    });
  }
}

function kindKey(apiVersion: string, kind: string): string {
  return `${apiVersion}/${kind}`;
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
