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
  /** The collection path to watch, e.g. /apis/apps/v1/deployments. */
  path: string;
  all?: boolean;
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
  private readonly stores = new Map<string, ObjectStore>();
  private readonly synced = new Set<string>();
  /** The current informer of each kind; one that broke is replaced, and anything it still reports is dropped. */
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
    this.kinds = [
      { apiVersion: 'apps/v1', kind: 'Deployment', path: '/apis/apps/v1/deployments' },
      { apiVersion: 'v1', kind: 'Service', path: '/api/v1/services' },
      { apiVersion: 'v1', kind: 'ConfigMap', path: '/api/v1/configmaps' },
    ];
    if (config.routing.provider === 'nginx') {
      // Every Ingress: the main route may be a user's, and no other canary may hold the host.
      this.kinds.push({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', path: '/apis/networking.k8s.io/v1/ingresses', all: true });
    } else {
      this.kinds.push({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        path: '/apis/gateway.networking.k8s.io/v1/httproutes',
      });
    }
    if (config.safety.readinessGate) this.kinds.push({ apiVersion: 'v1', kind: 'Pod', path: '/api/v1/pods' });
  }

  onApplicationBootstrap(): void {
    for (const kind of this.kinds) {
      this.stores.set(kindKey(kind.apiVersion, kind.kind), new ObjectStore());
      // Not awaited: Mayday answers while the caches fill, reading from the API server meanwhile.
      this.startInformer(kind);
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
    const store = this.ready(key);
    const labels = parseSelector(labelSelector);
    if (!store || !labels) return undefined;
    if (!this.holdsAll(key) && labels[MANAGED_BY_LABEL] !== MANAGED_BY) return undefined;
    return store.list(namespace, labels) as T[];
  }

  /** The cached object, `null` when the cache knows there is none, undefined when it cannot tell. */
  get<T extends KubernetesObject>(apiVersion: string, kind: string, namespace: string, name: string): T | null | undefined {
    const key = kindKey(apiVersion, kind);
    const store = this.ready(key);
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

  /** A new informer for the kind: a complete list (which replaces the store's contents), then a watch. */
  private startInformer(kind: CachedKind): void {
    if (this.stopped) return;
    const key = kindKey(kind.apiVersion, kind.kind);
    const store = this.stores.get(key)!;
    const selector = kind.all ? undefined : OWNED;
    const current = () => this.informers.get(key) === informer;
    const informer = makeInformer<KubernetesObject>(
      this.clients.kubeConfig,
      kind.path,
      async () => {
        const list = await this.clients.objects.list(
          kind.apiVersion,
          kind.kind,
          undefined,
          undefined,
          undefined,
          undefined,
          undefined,
          selector,
        );
        if (list.metadata?._continue) throw new Error(`the list of ${key} came back incomplete`);
        if (!current()) return list;
        // Filled here, before anyone reads it as synced (the informer's own add events come a bit later).
        const gone = store.replace(
          list.items.map((item) => withType(item, kind)),
          list.metadata?.resourceVersion,
        );
        this.synced.add(key);
        this.failures.delete(key);
        for (const object of gone) this.notify(key, 'delete', object);
        return list;
      },
      selector,
    );
    informer.on('add', (object) => current() && this.apply(key, 'add', withType(object, kind), store));
    informer.on('update', (object) => current() && this.apply(key, 'update', withType(object, kind), store));
    informer.on('delete', (object) => {
      if (!current()) return;
      store.remove(object.metadata?.namespace, object.metadata?.name, object.metadata?.resourceVersion);
      this.notify(key, 'delete', withType(object, kind));
    });
    informer.on('error', (error) => current() && this.restartLater(kind, informer, error));
    this.informers.set(key, informer);
    informer.start().catch((error: unknown) => current() && this.restartLater(kind, informer, error));
  }

  private apply(key: string, verb: 'add' | 'update', object: KubernetesObject, store: ObjectStore): void {
    store.upsert(object);
    this.notify(key, verb, object);
  }

  private notify(key: string, verb: 'add' | 'update' | 'delete', object: KubernetesObject): void {
    for (const listener of this.listeners.get(key) ?? []) listener(verb, object);
  }

  private ready(key: string): ObjectStore | undefined {
    return this.synced.has(key) ? this.stores.get(key) : undefined;
  }

  private holdsAll(key: string): boolean {
    return this.kinds.some((kind) => kindKey(kind.apiVersion, kind.kind) === key && kind.all === true);
  }

  /**
   * Any watch error (the API server restarted, the connection was reset, a list failed): reads go
   * to the API server at once, and after a backoff a new informer lists everything again.
   */
  private restartLater(kind: CachedKind, informer: Informer<KubernetesObject>, error: unknown): void {
    const key = kindKey(kind.apiVersion, kind.kind);
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
      this.startInformer(kind);
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
