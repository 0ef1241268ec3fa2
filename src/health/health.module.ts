import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ClustersModule } from '../clusters/clusters.module';
import { ExperimentsModule } from '../experiments/experiments.module';
import { KubernetesModule } from '../kubernetes/kubernetes.module';
import { SuperpositionModule } from '../superposition/superposition.module';
import { TrafficModule } from '../traffic/traffic.module';
import { DependenciesHealth } from './dependencies.health';
import { HealthController } from './health.controller';

@Module({
  imports: [
    TerminusModule.forRoot({ logger: false }),
    KubernetesModule,
    SuperpositionModule,
    TrafficModule,
    ExperimentsModule,
    ClustersModule,
  ],
  controllers: [HealthController],
  providers: [DependenciesHealth],
})
export class HealthModule {}
