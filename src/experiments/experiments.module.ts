import { Module } from '@nestjs/common';
import { KubernetesModule } from '../kubernetes/kubernetes.module';
import { NotificationsModule } from '../notifications/notifications.module';
import { SuperpositionModule } from '../superposition/superposition.module';
import { TrafficModule } from '../traffic/traffic.module';
import { WorkloadsModule } from '../workloads/workloads.module';
import { ExperimentEventProcessor } from './experiment-event.processor';
import { ExperimentGroups } from './experiment-groups.service';
import { ExperimentReconciler } from './experiment-reconciler.service';
import { ExperimentRecords } from './experiment-records.service';
import { ExperimentService } from './experiment.service';
import { ExperimentStatusService } from './experiment-status.service';
import { ExperimentsController } from './experiments.controller';
import { ResyncController } from './resync.controller';
import { BearerAuthGuard } from '../common/bearer-auth.guard';
import { ClosedLoopService } from './closed-loop.service';
import { PrometheusClient } from '../analysis/prometheus.client';
import { RecordRetentionService } from './record-retention.service';
import { RouteClaims } from './route-claims.service';
import { ScaleDownTimers } from './scale-down-timers';
import { VariantConfigResolver } from './variant-config.resolver';

@Module({
  imports: [KubernetesModule, NotificationsModule, SuperpositionModule, TrafficModule, WorkloadsModule],
  controllers: [ExperimentsController, ResyncController],
  providers: [
    ExperimentService,
    ExperimentEventProcessor,
    ExperimentGroups,
    ExperimentRecords,
    ExperimentReconciler,
    ExperimentStatusService,
    RecordRetentionService,
    RouteClaims,
    ScaleDownTimers,
    VariantConfigResolver,
    BearerAuthGuard,
    ClosedLoopService,
    PrometheusClient,
  ],
  exports: [ExperimentEventProcessor, ExperimentRecords, ExperimentReconciler],
})
export class ExperimentsModule {}
