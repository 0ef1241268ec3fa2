import { Module } from '@nestjs/common';
import { MaydayConfig } from '../config/mayday-config';
import { Scope } from '../config/scope';
import { KubernetesModule } from '../kubernetes/kubernetes.module';
import { ClusterCache } from '../kubernetes/cluster-cache.service';
import { KubeResourcesService } from '../kubernetes/kube-resources.service';
import { GatewayApiRouter } from './gateway-api.router';
import { NginxRouter } from './nginx.router';
import { TRAFFIC_ROUTER, type TrafficRouter } from './traffic-router';

/** Provides the TrafficRouter for TRAFFIC_PROVIDER; nothing outside this module knows which one it is. */
@Module({
  imports: [KubernetesModule],
  providers: [
    {
      provide: TRAFFIC_ROUTER,
      inject: [MaydayConfig, KubeResourcesService, ClusterCache],
      useFactory: (config: MaydayConfig, kube: KubeResourcesService, cache: ClusterCache): TrafficRouter => {
        const router = routerFor(config, kube);
        cache.keep(...router.cachedKinds);
        return router;
      },
    },
  ],
  exports: [TRAFFIC_ROUTER],
})
export class TrafficModule {}

function routerFor(config: MaydayConfig, kube: KubeResourcesService): TrafficRouter {
  const routing = { mode: config.routing.mode, header: config.routing.variantHeader };
  switch (config.routing.provider) {
    case 'nginx':
      return new NginxRouter(kube, config.routing.ingressClass, routing);
    case 'gateway-api':
      return new GatewayApiRouter(
        kube,
        { name: config.routing.gatewayName!, namespace: config.routing.gatewayNamespace },
        routing,
        Scope.of(config).namespaces?.[0],
      );
  }
}
