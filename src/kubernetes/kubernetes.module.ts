import { Module } from '@nestjs/common';
import { MaydayConfig } from '../config/mayday-config';
import { KubeClients, loadKubeConfig } from './kube-client';
import { KubeEventRecorder } from './kube-events.service';
import { KubeResourcesService } from './kube-resources.service';

@Module({
  providers: [
    {
      provide: KubeClients,
      inject: [MaydayConfig],
      useFactory: (config: MaydayConfig) => new KubeClients(loadKubeConfig(config.kubernetes)),
    },
    KubeResourcesService,
    KubeEventRecorder,
  ],
  exports: [KubeResourcesService, KubeClients, KubeEventRecorder],
})
export class KubernetesModule {}
