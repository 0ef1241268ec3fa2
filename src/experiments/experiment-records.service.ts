import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { KubeResourcesService } from '../kubernetes/kube-resources.service';
import { MetricsService } from '../metrics/metrics.service';
import { isManagedByMayday, ownedSelector } from '../naming/labels';
import {
  isExpired,
  isInScope,
  recordFromConfigMap,
  recordName,
  recordToConfigMap,
  type ExperimentRecord,
  type RecordRetention,
  type RecordScope,
} from './experiment-record';

/** Reads and writes the per-experiment records (ConfigMaps labelled `role: record`). */
@Injectable()
export class ExperimentRecords implements OnModuleInit {
  constructor(
    private readonly kube: KubeResourcesService,
    private readonly metrics: MetricsService,
  ) {}

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

  async read(namespace: string, experimentId: string): Promise<ExperimentRecord | undefined> {
    const configMap = await this.kube.read<V1ConfigMap>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace,
      name: recordName(experimentId),
    });
    return configMap && isManagedByMayday(configMap) ? recordFromConfigMap(configMap) : undefined;
  }

  async write(record: ExperimentRecord): Promise<void> {
    await this.kube.apply(recordToConfigMap(record));
  }

  /** Every record in the cluster (all namespaces), optionally for one experiment only. */
  async list(experimentId?: string): Promise<ExperimentRecord[]> {
    const configMaps = await this.listConfigMaps(experimentId);
    return configMaps.map(recordFromConfigMap).filter((record) => record !== undefined);
  }

  /** Deletes the in-scope records of finished experiments kept longer than the retention; says which. */
  async pruneExpired(retention: RecordRetention, scope: RecordScope): Promise<string[]> {
    const expired = (await this.listConfigMaps()).filter((configMap) => {
      const record = recordFromConfigMap(configMap);
      return record !== undefined && isInScope(record, scope) && isExpired(record, retention);
    });
    const deleted = await Promise.all(
      expired.map(async ({ metadata }) => {
        const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: metadata!.namespace!, name: metadata!.name! };
        return (await this.kube.delete(ref, { uid: metadata?.uid })) ? `${ref.namespace}/${ref.name}` : undefined;
      }),
    );
    return deleted.filter((name) => name !== undefined);
  }

  private listConfigMaps(experimentId?: string): Promise<V1ConfigMap[]> {
    return this.kube.list<V1ConfigMap>(
      'v1',
      'ConfigMap',
      undefined,
      ownedSelector({ role: 'record', ...(experimentId ? { experimentId } : {}) }),
    );
  }
}
