import { Module, type DynamicModule } from '@nestjs/common';
import { MaydayConfig } from '../config/mayday-config';
import { Scope } from '../config/scope';
import { ExperimentsModule } from '../experiments/experiments.module';
import { MetricsModule } from '../metrics/metrics.module';

/** The configuration as one cluster sees it, for every module of that cluster's rooms. */
@Module({})
class ClusterConfigModule {}

/**
 * One cluster's rooms (CLUSTERS), built in a Nest application context of their own: the same modules
 * as the application's (ExperimentsModule and what it imports: Kubernetes client, caches, Event
 * recorder, router, workload watcher, records, Lease, reconciler, closed loop), with the configuration
 * of that cluster (its kubeconfig context, its scope) and metrics of its own. Nothing is shared with
 * another cluster's rooms but the process.
 */
@Module({})
export class ClusterRoomModule {
  static forCluster(config: MaydayConfig): DynamicModule {
    return {
      module: ClusterRoomModule,
      imports: [
        {
          module: ClusterConfigModule,
          global: true,
          providers: [
            { provide: MaydayConfig, useValue: config },
            { provide: Scope, useValue: Scope.of(config) },
          ],
          exports: [MaydayConfig, Scope],
        },
        MetricsModule,
        ExperimentsModule,
      ],
    };
  }
}
