import { Module } from '@nestjs/common';
import { KubernetesModule } from '../kubernetes/kubernetes.module';
import { SuperpositionModule } from '../superposition/superposition.module';
import { TrafficModule } from '../traffic/traffic.module';
import { ExperimentEventProcessor } from './experiment-event.processor';
import { ExperimentRecords } from './experiment-records.service';
import { ExperimentService } from './experiment.service';
import { VariantConfigResolver } from './variant-config.resolver';

@Module({
  imports: [KubernetesModule, SuperpositionModule, TrafficModule],
  providers: [ExperimentService, ExperimentEventProcessor, ExperimentRecords, VariantConfigResolver],
  exports: [ExperimentEventProcessor, ExperimentRecords],
})
export class ExperimentsModule {}
