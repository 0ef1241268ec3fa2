import { Module } from '@nestjs/common';
import { MaydayConfig } from '../config/mayday-config';
import { KubeClients, loadKubeConfig } from './kube-client';
import { KubeResourcesService } from './kube-resources.service';

@Module({
  providers: [
    {
      provide: KubeClients,
      inject: [MaydayConfig],
      useFactory: (config: MaydayConfig) => new KubeClients(loadKubeConfig(config.kubernetes)),
    },
    KubeResourcesService,
  ],
  exports: [KubeResourcesService, KubeClients],
})
export class KubernetesModule {}
