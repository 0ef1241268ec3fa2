import { Injectable } from '@nestjs/common';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { KubeResourcesService } from '../kubernetes/kube-resources.service';
import { isManagedByMayday, ownedSelector } from '../naming/labels';
import { recordFromConfigMap, recordName, recordToConfigMap, type ExperimentRecord } from './experiment-record';

/** Reads and writes the per-experiment records (ConfigMaps labelled `role: record`). */
@Injectable()
export class ExperimentRecords {
  constructor(private readonly kube: KubeResourcesService) {}

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
    const configMaps = await this.kube.list<V1ConfigMap>(
      'v1',
      'ConfigMap',
      undefined,
      ownedSelector({ role: 'record', ...(experimentId ? { experimentId } : {}) }),
    );
    return configMaps.map(recordFromConfigMap).filter((record) => record !== undefined);
  }
}
