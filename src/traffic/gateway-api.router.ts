import { ForeignObjectError } from '../common/errors';
import { KubeResourcesService } from '../kubernetes/kube-resources.service';
import { isManagedByMayday } from '../naming/labels';
import { mainRouteName } from '../naming/names';
import { backendWeights, httpRoute, HTTPROUTE_API, type HttpRoute, type ParentGateway } from './gateway-httproute';
import type { CanaryRoute, RouteChange, RouteScope, RouteState, RouteTarget, TrafficRouter } from './traffic-router';

/** The HTTPRoute `{service}`, when it exists. */
interface GatewayState extends RouteState {
  route?: HttpRoute;
}

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
    /** A namespace Mayday may read HTTPRoutes in, to check that the API exists. */
    private readonly probeNamespace = 'default',
  ) {}

  async observe(target: RouteTarget): Promise<GatewayState> {
    const name = mainRouteName(target.service);
    const route = await this.kube.read<HttpRoute>({ apiVersion: HTTPROUTE_API, kind: 'HTTPRoute', namespace: target.namespace, name });
    return { provider: this.provider, route };
  }

  planRoutes(scope: RouteScope, canaries: CanaryRoute[], state: RouteState): RouteChange {
    const live = this.ownRoute(scope, state);
    return {
      writes: [{ desired: httpRoute(scope, canaries, this.gateway), live }],
      deletes: [],
      previousWeights: canaryWeights(scope.mainServiceName, live),
    };
  }

  planFinalize(scope: RouteScope, state: RouteState): RouteChange {
    const live = this.ownRoute(scope, state);
    // No route means Mayday never routed this service: the main path is left as it is.
    if (!live) return { writes: [], deletes: [], previousWeights: new Map() };
    return {
      writes: [{ desired: httpRoute(scope, [], this.gateway), live }],
      deletes: [],
      previousWeights: canaryWeights(scope.mainServiceName, live),
    };
  }

  async getRoutes(target: RouteTarget & Pick<RouteScope, 'mainServiceName'>): Promise<Map<string, number>> {
    return canaryWeights(target.mainServiceName, (await this.observe(target)).route);
  }

  async checkApi(): Promise<void> {
    await this.kube.requireApi(HTTPROUTE_API, 'HTTPRoute', this.probeNamespace);
  }

  /** The live HTTPRoute `{service}`, refused if someone else made it. */
  private ownRoute(scope: RouteScope, state: RouteState): HttpRoute | undefined {
    const live = (state as GatewayState).route;
    if (live && !isManagedByMayday(live)) throw new ForeignObjectError('HTTPRoute', scope.namespace, mainRouteName(scope.service));
    return live;
  }
}

function canaryWeights(mainServiceName: string, live: HttpRoute | undefined): Map<string, number> {
  if (!live) return new Map();
  return new Map([...backendWeights(live)].filter(([serviceName]) => serviceName !== mainServiceName));
}
