import { Module } from '@nestjs/common';
import { PrometheusClient } from '../analysis/prometheus.client';
import { BearerAuthGuard } from '../common/bearer-auth.guard';
import { KubernetesModule } from '../kubernetes/kubernetes.module';
import { NotificationsModule } from '../notifications/notifications.module';
import { SuperpositionModule } from '../superposition/superposition.module';
import { TrafficModule } from '../traffic/traffic.module';
import { WorkloadsModule } from '../workloads/workloads.module';
import { ClosedLoopService } from './closed-loop/closed-loop.service';
import { ExperimentEventProcessor } from './pipeline/experiment-event.processor';
import { ExperimentGroups } from './pipeline/experiment-groups.service';
import { ExperimentReconciler } from './pipeline/experiment-reconciler.service';
import { ResyncController } from './pipeline/resync.controller';
import { RouteClaims } from './pipeline/route-claims.service';
import { ScaleDownTimers } from './pipeline/scale-down-timers';
import { ExperimentRecords } from './records/experiment-records.service';
import { RecordRetentionService } from './records/record-retention.service';
import { ExperimentStatusService } from './status/experiment-status.service';
import { ExperimentsController } from './status/experiments.controller';
import { ExperimentService } from './transitions/experiment.service';
import { VariantConfigResolver } from './transitions/variant-config.resolver';

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
  exports: [ExperimentEventProcessor, ExperimentRecords, ExperimentReconciler, ExperimentStatusService],
})
export class ExperimentsModule {}
