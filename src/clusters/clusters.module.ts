import { Module } from '@nestjs/common';
import { ExperimentsModule } from '../experiments/experiments.module';
import { KubernetesModule } from '../kubernetes/kubernetes.module';
import { TrafficModule } from '../traffic/traffic.module';
import { ClusterRooms } from './cluster-rooms.service';

/** The rooms of every cluster in CLUSTERS (the default cluster's are the application's own). */
@Module({
  imports: [KubernetesModule, TrafficModule, ExperimentsModule],
  providers: [ClusterRooms],
  exports: [ClusterRooms],
})
export class ClustersModule {}
