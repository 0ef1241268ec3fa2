import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleInit } from '@nestjs/common';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { MaydayConfig } from '../../config/mayday-config';
import { ClusterCache } from '../../kubernetes/cluster-cache.service';
import { KubeForbiddenError } from '../../kubernetes/kube-errors';
import { KubeResourcesService, withFreshReads } from '../../kubernetes/kube-resources.service';
import { MetricsService } from '../../metrics/metrics.service';
import { isManagedByMayday, MANAGED_BY, MANAGED_BY_LABEL, ownedSelector } from '../../naming/labels';
import {
  isExpired,
  legacyRecordVerdict,
  MIGRATION_MARKER,
  recordFromConfigMap,
  recordName,
  recordToConfigMap,
  type ExperimentRecord,
  type RecordRetention,
} from './experiment-record';
import type { Scope } from '../../config/scope';

/** A record as read, with the resourceVersion a write must name to replace it (none: there is no record yet). */
export interface VersionedRecord {
  record?: ExperimentRecord;
  resourceVersion?: string;
}

/** How many experiments this replica remembers having written the record of last (beyond, it reads fresh). */
const REMEMBERED_WRITES = 10_000;

/**
 * Reads and writes the per-experiment records (ConfigMaps labelled `role: record`), in Mayday's own
 * namespace only: a ConfigMap anywhere else is never read as a record, whatever its labels say.
 * Records an earlier Mayday kept in experiment namespaces are moved here once, at start-up.
 * Several replicas write them: every write names the resourceVersion it read (a create when there
 * was none), so a record another replica moved meanwhile is never overwritten (KubeVersionConflictError).
 */
@Injectable()
export class ExperimentRecords implements OnModuleInit, OnApplicationBootstrap {
  private readonly logger = new Logger(ExperimentRecords.name);
  private readonly namespace: string;
  /** Settles once the records of an earlier version have been looked for (reads wait for it). */
  private migration: Promise<void> = Promise.resolve();
  /** The resourceVersion of each record this replica wrote last; a record at another version was moved by someone else. */
  private readonly ownWrites = new Map<string, string>();

  constructor(
    private readonly kube: KubeResourcesService,
    private readonly metrics: MetricsService,
    private readonly cache: ClusterCache,
    config: MaydayConfig,
  ) {
    this.namespace = config.maydayNamespace;
  }

  onModuleInit(): void {
    this.metrics.scrapedGauge(
      'mayday_experiments',
      'Experiments Mayday has records of, by status (read from the cluster when scraped)',
      ['status'],
      async () => {
        const counts = new Map<string, number>(['CREATED', 'INPROGRESS', 'PAUSED', 'CONCLUDED', 'DISCARDED'].map((status) => [status, 0]));
        for (const record of await this.list().catch(() => [])) {
          const status = record.phase === 'promotion-pending' ? 'CONCLUDED_PENDING' : record.status;
          counts.set(status, (counts.get(status) ?? 0) + 1);
        }
        return counts;
      },
    );
  }

  onApplicationBootstrap(): void {
    this.migration = this.migrateLegacyRecords().catch((error: unknown) => {
      this.logger.warn(`could not move the records of an earlier Mayday: ${(error as Error).message}; the next start tries again`);
    });
  }

  async read(experimentId: string): Promise<ExperimentRecord | undefined> {
    await this.migration;
    const configMap = await this.kube.read<V1ConfigMap>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: this.namespace,
      name: recordName(experimentId),
    });
    return this.trusted(configMap);
  }

  /** The record and its resourceVersion; `fresh` reads the API server, not the cache (after a conflict). */
  async readVersioned(experimentId: string, fresh = false): Promise<VersionedRecord> {
    await this.migration;
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: this.namespace, name: recordName(experimentId) };
    const configMap = await (fresh ? withFreshReads(() => this.kube.read<V1ConfigMap>(ref)) : this.kube.read<V1ConfigMap>(ref));
    return { record: this.trusted(configMap), resourceVersion: configMap?.metadata?.resourceVersion };
  }

  /** Whether this replica wrote this version of the record itself (then its caches hold everything it wrote for it). */
  wroteLast(experimentId: string, resourceVersion: string | undefined): boolean {
    return resourceVersion !== undefined && this.ownWrites.get(experimentId) === resourceVersion;
  }

  /**
   * Whether this replica's caches hold everything written before this version of the record: it
   * wrote it itself, or its caches were listed after it was written (a restart, a new leader).
   */
  cachesHoldWritesBefore(experimentId: string, resourceVersion: string | undefined): boolean {
    return this.wroteLast(experimentId, resourceVersion) || this.cache.holdsWritesUpTo(resourceVersion);
  }

  /**
   * Writes the record over the version that was read (creates it when there was none). Throws
   * KubeVersionConflictError when another replica wrote it meanwhile.
   */
  async write(record: ExperimentRecord, resourceVersion: string | undefined): Promise<void> {
    const configMap = this.toConfigMap(record);
    if (resourceVersion !== undefined) configMap.metadata!.resourceVersion = resourceVersion;
    const written = await this.kube.createOrReplace(configMap);
    this.ownWrites.delete(record.experimentId);
    this.ownWrites.set(record.experimentId, written.metadata?.resourceVersion ?? '');
    if (this.ownWrites.size > REMEMBERED_WRITES) this.ownWrites.delete(this.ownWrites.keys().next().value!);
  }

  /** Called with every record the cache sees written (by any replica). */
  onChange(listener: (record: ExperimentRecord) => void): void {
    this.cache.on('v1', 'ConfigMap', (verb, object) => {
      if (verb === 'delete') return;
      const record = this.trusted(object as V1ConfigMap);
      if (record) listener(record);
    });
  }

  /** The ConfigMap a record is written as (to check its size before anything is written). */
  toConfigMap(record: ExperimentRecord): V1ConfigMap {
    return recordToConfigMap(record, this.namespace);
  }

  /** Every record (in Mayday's namespace), optionally for one experiment only. */
  async list(experimentId?: string): Promise<ExperimentRecord[]> {
    await this.migration;
    const configMaps = await this.listConfigMaps(experimentId);
    return configMaps.map((configMap) => this.trusted(configMap)).filter((record) => record !== undefined);
  }

  /** Deletes the in-scope records of finished experiments kept longer than the retention; says which. */
  async pruneExpired(retention: RecordRetention, scope: Scope): Promise<string[]> {
    await this.migration;
    const expired = (await this.listConfigMaps()).filter((configMap) => {
      const record = this.trusted(configMap);
      return record !== undefined && scope.allows(record.namespace, record.workspace) && isExpired(record, retention);
    });
    const deleted = await Promise.all(
      expired.map(async ({ metadata }) => {
        const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: metadata!.namespace!, name: metadata!.name! };
        return (await this.kube.delete(ref, { uid: metadata?.uid })) ? `${ref.namespace}/${ref.name}` : undefined;
      }),
    );
    return deleted.filter((name) => name !== undefined);
  }

  /** A record only if it is Mayday's and kept in Mayday's namespace (a cache or a list could hand over anything). */
  private trusted(configMap: V1ConfigMap | undefined): ExperimentRecord | undefined {
    if (!configMap || configMap.metadata?.namespace !== this.namespace || !isManagedByMayday(configMap)) return undefined;
    return recordFromConfigMap(configMap);
  }

  private listConfigMaps(experimentId?: string): Promise<V1ConfigMap[]> {
    return this.kube.list<V1ConfigMap>(
      'v1',
      'ConfigMap',
      this.namespace,
      ownedSelector({ role: 'record', ...(experimentId ? { experimentId } : {}) }),
    );
  }

  /**
   * Once per cluster: records an earlier Mayday kept in experiment namespaces are read, written to
   * Mayday's namespace, and deleted (guarded by their uid); then a marker says it is done, so that a
   * ConfigMap labelled as a record that appears in a tenant's namespace later is never looked at.
   * Needs list and delete on ConfigMaps in every namespace, which the shipped RBAC does not grant
   * (deploy/upgrade/ does, for the upgrade): without them, nothing is moved and nothing is marked.
   */
  private async migrateLegacyRecords(): Promise<void> {
    const markerRef = { apiVersion: 'v1', kind: 'ConfigMap', namespace: this.namespace, name: MIGRATION_MARKER };
    if (await this.kube.read<V1ConfigMap>(markerRef)) return;
    let found: V1ConfigMap[];
    try {
      found = await this.kube.list<V1ConfigMap>('v1', 'ConfigMap', undefined, ownedSelector({ role: 'record' }));
    } catch (error) {
      if (!(error instanceof KubeForbiddenError)) throw error;
      this.logger.log(
        `no permission to list ConfigMaps outside ${this.namespace}: records of an earlier Mayday (kept in experiment namespaces) are not moved; see README, "Upgrading"`,
      );
      return;
    }
    const moved: string[] = [];
    for (const configMap of found.filter((item) => item.metadata?.namespace !== this.namespace)) {
      const where = `${configMap.metadata?.namespace}/${configMap.metadata?.name}`;
      const verdict = legacyRecordVerdict(configMap);
      if ('skip' in verdict) {
        this.logger.warn(`not moved: ${verdict.skip}`);
        continue;
      }
      const existing = await this.kube.read<V1ConfigMap>({ ...markerRef, name: recordName(verdict.move.experimentId) });
      if (!existing) await this.kube.apply(this.toConfigMap(verdict.move));
      const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: configMap.metadata!.namespace!, name: configMap.metadata!.name! };
      await this.kube.delete(ref, { uid: configMap.metadata?.uid });
      moved.push(where);
    }
    await this.kube.apply<V1ConfigMap>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        ...markerRef,
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY },
      },
      data: { migratedAt: new Date().toISOString(), moved: moved.join('\n') },
    });
    this.logger.log({ msg: `moved ${moved.length} record(s) of an earlier Mayday into ${this.namespace}`, records: moved });
  }
}
