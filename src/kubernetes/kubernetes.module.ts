import { Module } from '@nestjs/common';
import { MaydayConfig } from '../config/mayday-config';
import { ClusterCache } from './cluster-cache.service';
import { KubeClients, loadKubeConfig } from './kube-client';
import { KubeEventRecorder } from './kube-events.service';
import { KubeResourcesService } from './kube-resources.service';
import { LeaderElection } from './leader-election';

@Module({
  providers: [
    {
      provide: KubeClients,
      inject: [MaydayConfig],
      useFactory: (config: MaydayConfig) => new KubeClients(loadKubeConfig(config.kubernetes)),
    },
    ClusterCache,
    KubeResourcesService,
    KubeEventRecorder,
    LeaderElection,
  ],
  exports: [KubeResourcesService, KubeClients, KubeEventRecorder, ClusterCache, LeaderElection],
})
export class KubernetesModule {}
