import { Injectable } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { PatchStrategy, type KubernetesObject, type V1Service } from '@kubernetes/client-node';
import { ClusterCache } from './cluster-cache.service';
import { KubeClients } from './kube-client';
import {
  KubeConflictError,
  KubeForbiddenError,
  KubeInvalidError,
  KubeNotFoundError,
  KubeUnavailableError,
  KubeVersionConflictError,
  toKubeError,
  type KubeApiError,
} from './kube-errors';
import { retryTransient } from './retry';
import { MetricsService } from '../metrics/metrics.service';

export const FIELD_MANAGER = 'mayday';

/** What identifies one object: enough to build its URL. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
}

export interface DeleteOptions {
  /** Delete only if the live object still has this uid (it is the one we listed, not a replacement). */
  uid?: string;
  /** Delete only if the live object was not changed since it was read. */
  resourceVersion?: string;
}

const freshReads = new AsyncLocalStorage<true>();

/**
 * Runs work whose reads go to the API server, not to the informers' caches: another replica may
 * have written what the caches have not seen yet (their watch lags), and a decision about it must
 * see the objects as they are.
 */
export function withFreshReads<T>(work: () => Promise<T>): Promise<T> {
  return freshReads.run(true, work);
}

/**
 * The only place Mayday talks to the Kubernetes API. Writes are server-side apply under the
 * field manager `mayday`; every failure comes out as a KubeApiError subclass.
 */
@Injectable()
export class KubeResourcesService {
  constructor(
    private readonly clients: KubeClients,
    private readonly metrics: MetricsService,
    private readonly cache: ClusterCache,
  ) {}

  /**
   * Server-side apply; `force` takes over fields another manager holds (Mayday's own objects only).
   * With metadata.resourceVersion, it applies only over that version of the object:
   * KubeVersionConflictError when the object changed since it was read (with metadata.uid too,
   * also when it is gone: the API server would create it again otherwise).
   */
  async apply<T extends KubernetesObject>(object: T, options: { force?: boolean; dryRun?: boolean } = {}): Promise<T> {
    const conditional = object.metadata?.resourceVersion !== undefined;
    const patch = () =>
      this.clients.objects.patch<T>(
        object,
        undefined,
        options.dryRun ? 'All' : undefined,
        FIELD_MANAGER,
        options.force ?? true,
        PatchStrategy.ServerSideApply,
      );
    const applied = await this.call('apply', () =>
      patch().catch((error: unknown) => {
        // An apply creates a missing object; when another writer (a replica) created it at the same
        // moment, the API server answers AlreadyExists: applying again patches the object that now exists.
        // If even that races (the others keep creating and deleting it), the event is judged again
        // against fresh reads, as for any write another replica overtook (a conflict, never a 502).
        const failure = toKubeError(error);
        if (conditional && (failure instanceof KubeConflictError || failure instanceof KubeNotFoundError)) {
          throw new KubeVersionConflictError(failure.message, failure.statusCode, failure.reason, failure.detailsKind);
        }
        if (failure instanceof KubeConflictError && failure.reason === 'AlreadyExists') {
          return patch().catch((again: unknown) => {
            const second = toKubeError(again);
            throw second instanceof KubeConflictError && second.reason === 'AlreadyExists' ? versionConflict(second) : second;
          });
        }
        throw failure;
      }),
    );
    if (!options.dryRun) this.cache.written(withType(applied, object));
    return applied;
  }

  /**
   * Creates the object, or (with metadata.resourceVersion) replaces it only if it is still that
   * version: KubeVersionConflictError when it exists already, or changed since it was read.
   */
  async createOrReplace<T extends KubernetesObject>(object: T): Promise<T> {
    const replacing = object.metadata?.resourceVersion !== undefined;
    const written = await this.call(replacing ? 'update' : 'create', () =>
      (replacing
        ? this.clients.objects.replace<T>(object, undefined, undefined, FIELD_MANAGER)
        : this.clients.objects.create<T>(object, undefined, undefined, FIELD_MANAGER)
      ).catch((error: unknown) => {
        throw versionConflict(error);
      }),
    );
    this.cache.written(withType(written, object));
    return written;
  }

  /** The live object, or undefined when there is none (from the cache when it can tell). */
  async read<T extends KubernetesObject>(ref: ObjectRef): Promise<T | undefined> {
    const cached = freshReads.getStore() ? undefined : this.cache.get<T>(ref.apiVersion, ref.kind, ref.namespace, ref.name);
    if (cached !== undefined) return cached ?? undefined;
    try {
      return await this.call('get', () =>
        this.clients.objects.read<T>({
          apiVersion: ref.apiVersion,
          kind: ref.kind,
          metadata: { name: ref.name, namespace: ref.namespace },
        }),
      );
    } catch (error) {
      if (error instanceof KubeNotFoundError) return undefined;
      throw error;
    }
  }

  /** Objects of one kind in a namespace (all namespaces when undefined), optionally filtered by a label selector (`a=b,c=d`). */
  async list<T extends KubernetesObject>(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    labelSelector?: string,
    limit?: number,
  ): Promise<T[]> {
    const cached =
      limit === undefined && !freshReads.getStore() ? this.cache.list<T>(apiVersion, kind, namespace, labelSelector) : undefined;
    if (cached) return cached;
    const list = await this.call('list', () =>
      this.clients.objects.list<T>(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, labelSelector, limit),
    );
    return list.items.map((item) => ({ ...item, apiVersion, kind }));
  }

  /** Deletes an object; an absent object is not an error. Returns whether something was deleted. */
  async delete(ref: ObjectRef, options: DeleteOptions = {}): Promise<boolean> {
    try {
      await this.call('delete', () =>
        this.clients.objects
          .delete(
            { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace } },
            undefined,
            undefined,
            undefined,
            undefined,
            'Background',
            options.uid || options.resourceVersion
              ? { preconditions: { uid: options.uid, resourceVersion: options.resourceVersion } }
              : undefined,
          )
          .catch((error: unknown) => {
            throw versionConflict(error);
          }),
      );
      this.cache.deleted(ref.apiVersion, ref.kind, ref.namespace, ref.name);
      return true;
    } catch (error) {
      if (!(error instanceof KubeNotFoundError)) throw error;
      this.cache.deleted(ref.apiVersion, ref.kind, ref.namespace, ref.name);
      return false;
    }
  }

  /**
   * Sets (or, with null, removes) labels and annotations with a JSON merge patch, leaving the spec
   * and the fields Mayday's server-side apply owns alone.
   */
  async mergeMetadata(
    ref: ObjectRef,
    metadata: { labels?: Record<string, string | null>; annotations?: Record<string, string | null> },
  ): Promise<void> {
    const patched = await this.call('patch', () =>
      this.clients.objects.patch(
        {
          apiVersion: ref.apiVersion,
          kind: ref.kind,
          metadata: { name: ref.name, namespace: ref.namespace, ...(metadata as { labels?: Record<string, string> }) },
        },
        undefined,
        undefined,
        FIELD_MANAGER,
        undefined,
        PatchStrategy.MergePatch,
      ),
    );
    this.cache.written(withType(patched, ref));
  }

  /**
   * Replaces a Service's whole selector with a JSON patch. Server-side apply would merge our keys
   * into a selector other managers own and select nothing (docs/contract.md §8).
   */
  async replaceServiceSelector(namespace: string, name: string, selector: Record<string, string>): Promise<V1Service> {
    const patched = await this.call('patch', () =>
      this.clients.core.patchNamespacedService({
        namespace,
        name,
        fieldManager: FIELD_MANAGER,
        body: [{ op: 'replace', path: '/spec/selector', value: selector }],
      }),
    );
    this.cache.written(withType(patched, { apiVersion: 'v1', kind: 'Service' }));
    return patched;
  }

  /**
   * Throws KubeNotFoundError unless the API server serves this kind (a CRD may not be installed);
   * asked in `namespace`, one Mayday may read (a namespaced install can read no other).
   */
  async requireApi(apiVersion: string, kind: string, namespace = 'default'): Promise<void> {
    try {
      await this.list(apiVersion, kind, namespace, undefined, 1);
    } catch (error) {
      if (!(error instanceof KubeNotFoundError)) throw error;
      throw new KubeNotFoundError(`the API server does not serve ${kind} (${apiVersion}): is its CRD installed?`, 404, 'NotFound');
    }
  }

  /** Whether the API server answers at all (used by /health/ready). */
  async serverVersion(): Promise<string> {
    const info = await this.call('version', () => this.clients.version.getCode());
    return info.gitVersion;
  }

  /** Every API call goes through here: typed errors, metrics, and retries of transient faults within the event's budget. */
  private call<T>(verb: string, request: () => Promise<T>): Promise<T> {
    return retryTransient(async () => {
      const stopTimer = this.metrics.kubeCallDuration.startTimer({ verb });
      try {
        const result = await request();
        this.metrics.kubeCalls.inc({ verb, outcome: 'ok' });
        return result;
      } catch (error) {
        const failure = toKubeError(error);
        this.metrics.kubeCalls.inc({ verb, outcome: outcomeOf(failure) });
        throw failure;
      } finally {
        stopTimer();
      }
    });
  }
}

/** A 409 of a write with a precondition: the object changed since it was read, and sending the same request again never helps. */
function versionConflict(error: unknown): KubeApiError {
  const failure = toKubeError(error);
  return failure instanceof KubeConflictError
    ? new KubeVersionConflictError(failure.message, failure.statusCode, failure.reason, failure.detailsKind)
    : failure;
}

function outcomeOf(error: KubeApiError): string {
  if (error instanceof KubeNotFoundError) return 'not_found';
  if (error instanceof KubeConflictError) return 'conflict';
  if (error instanceof KubeInvalidError) return 'invalid';
  if (error instanceof KubeForbiddenError) return 'forbidden';
  if (error instanceof KubeUnavailableError) return 'unavailable';
  return 'error';
}

/** An API answer with the apiVersion and kind of what was sent (some answers leave them out). */
function withType<T extends KubernetesObject>(object: T, like: { apiVersion?: string; kind?: string }): T {
  return { ...object, apiVersion: object.apiVersion ?? like.apiVersion, kind: object.kind ?? like.kind };
}
