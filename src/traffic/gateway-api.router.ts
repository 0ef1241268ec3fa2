import { ForeignObjectError } from '../common/errors';
import { KubeResourcesService } from '../kubernetes/kube-resources.service';
import { isManagedByMayday } from '../naming/labels';
import { mainRouteName } from '../naming/names';
import { backendWeights, httpRoute, HTTPROUTE_API, type HttpRoute, type ParentGateway } from './gateway-httproute';
import type { CanaryRoute, RouteChange, RouteScope, TrafficRouter } from './traffic-router';

/** Gateway API HTTPRoute backends: up to 16 per rule, so up to 15 canaries beside the main Service. */
const MAX_BACKENDS = 16;

/**
 * Gateway API: one HTTPRoute per service whose weighted backendRefs split the traffic between the
 * main Service and every experimental variant (A/B/n). An HTTPRoute of that name that Mayday did
 * not make is never overwritten.
 */
export class GatewayApiRouter implements TrafficRouter {
  readonly provider = 'gateway-api' as const;
  readonly maxCanaries = MAX_BACKENDS - 1;

  constructor(
    private readonly kube: KubeResourcesService,
    private readonly gateway: ParentGateway,
  ) {}

  async planRoutes(scope: RouteScope, canaries: CanaryRoute[]): Promise<RouteChange> {
    const live = await this.readOwnRoute(scope);
    return {
      writes: [{ desired: httpRoute(scope, canaries, this.gateway), live }],
      deletes: [],
      previousWeights: this.canaryWeights(scope, live),
    };
  }

  async planFinalize(scope: RouteScope): Promise<RouteChange> {
    const live = await this.readOwnRoute(scope);
    // No route means Mayday never routed this service: the main path is left as it is.
    if (!live) return { writes: [], deletes: [], previousWeights: new Map() };
    return {
      writes: [{ desired: httpRoute(scope, [], this.gateway), live }],
      deletes: [],
      previousWeights: this.canaryWeights(scope, live),
    };
  }

  async getRoutes(scope: RouteScope): Promise<CanaryRoute[]> {
    const live = await this.readOwnRoute(scope);
    return [...this.canaryWeights(scope, live)].map(([serviceName, weight]) => ({ variantId: '', serviceName, weight }));
  }

  private canaryWeights(scope: RouteScope, live: HttpRoute | undefined): Map<string, number> {
    if (!live) return new Map();
    return new Map([...backendWeights(live)].filter(([serviceName]) => serviceName !== scope.mainServiceName));
  }

  async checkApi(): Promise<void> {
    await this.kube.requireApi(HTTPROUTE_API, 'HTTPRoute');
  }

  /** The live HTTPRoute `{service}`, refused if someone else made it. */
  private async readOwnRoute(scope: RouteScope): Promise<HttpRoute | undefined> {
    const name = mainRouteName(scope.service);
    const live = await this.kube.read<HttpRoute>({ apiVersion: HTTPROUTE_API, kind: 'HTTPRoute', namespace: scope.namespace, name });
    if (live && !isManagedByMayday(live)) throw new ForeignObjectError('HTTPRoute', scope.namespace, name);
    return live;
  }
}
