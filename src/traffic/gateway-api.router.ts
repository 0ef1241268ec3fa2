import { ForeignObjectError } from '../common/errors';
import { KubeResourcesService } from '../kubernetes/kube-resources.service';
import { isManagedByMayday } from '../naming/labels';
import { mainRouteName } from '../naming/names';
import { backendWeights, httpRoute, HTTPROUTE_API, recordedHeaderShares, type HttpRoute, type ParentGateway } from './gateway-httproute';
import {
  requireHeaderValue,
  WEIGHT_ROUTING,
  type CanaryRoute,
  type RouteChange,
  type RouteScope,
  type RouteState,
  type RouteTarget,
  type TrafficRouter,
  type VariantRouting,
} from './traffic-router';

/** The HTTPRoute `{service}`, when it exists. */
interface GatewayState extends RouteState {
  route?: HttpRoute;
}

/** Gateway API HTTPRoute: up to 16 backends per rule and 16 rules per route. */
const MAX_BACKENDS = 16;
const MAX_RULES = 16;
/** What Gateway API allows in a header value (1 to 4096 characters), kept to visible ASCII that every proxy passes on unchanged. */
const HEADER_VALUE = /^[\x21-\x7e]{1,4096}$/;

/**
 * Gateway API: one HTTPRoute per service whose weighted backendRefs split the traffic between the
 * main Service and every experimental variant (A/B/n), after one rule per variant matching the
 * variant header when ROUTING_MODE routes by header. An HTTPRoute of that name that Mayday did
 * not make is never overwritten.
 */
export class GatewayApiRouter implements TrafficRouter {
  readonly provider = 'gateway-api' as const;
  /** Weights: one backend per canary beside the main Service. Headers: one rule per canary, plus CONTROL's and the main rule. */
  readonly maxCanaries: number;
  readonly cachedKinds = [
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      apiPath: '/apis/gateway.networking.k8s.io/v1',
      resource: 'httproutes',
    },
  ];

  constructor(
    private readonly kube: KubeResourcesService,
    private readonly gateway: ParentGateway,
    private readonly routing: VariantRouting = WEIGHT_ROUTING,
    /** A namespace Mayday may read HTTPRoutes in, to check that the API exists. */
    private readonly probeNamespace = 'default',
  ) {
    this.maxCanaries = routing.mode === 'weight' ? MAX_BACKENDS - 1 : MAX_RULES - 2;
  }

  async observe(target: RouteTarget): Promise<GatewayState> {
    const name = mainRouteName(target.service);
    const route = await this.kube.read<HttpRoute>({ apiVersion: HTTPROUTE_API, kind: 'HTTPRoute', namespace: target.namespace, name });
    return { provider: this.provider, route };
  }

  planRoutes(scope: RouteScope, canaries: CanaryRoute[], state: RouteState): RouteChange {
    const live = this.ownRoute(scope, state);
    if (this.routing.mode !== 'weight' && canaries.length > 0) {
      for (const variantId of [...canaries.map((canary) => canary.variantId), scope.controlVariantId]) {
        requireHeaderValue(variantId, HEADER_VALUE, 'Gateway API header matches take 1 to 4096 visible ASCII characters here');
      }
    }
    return {
      writes: [{ desired: httpRoute(scope, canaries, this.gateway, this.routing), live }],
      deletes: [],
      previousWeights: this.canaryWeights(scope.mainServiceName, live),
    };
  }

  planFinalize(scope: RouteScope, state: RouteState): RouteChange {
    const live = this.ownRoute(scope, state);
    // No route means Mayday never routed this service: the main path is left as it is.
    if (!live) return { writes: [], deletes: [], previousWeights: new Map() };
    return {
      writes: [{ desired: httpRoute(scope, [], this.gateway, this.routing), live }],
      deletes: [],
      previousWeights: this.canaryWeights(scope.mainServiceName, live),
    };
  }

  async getRoutes(target: RouteTarget & Pick<RouteScope, 'mainServiceName'>): Promise<Map<string, number>> {
    return this.canaryWeights(target.mainServiceName, (await this.observe(target)).route);
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

  /** Each canary's share as the route gives it: its weight, or in `header` mode the share recorded beside its header rule. */
  private canaryWeights(mainServiceName: string, live: HttpRoute | undefined): Map<string, number> {
    if (!live) return new Map();
    if (this.routing.mode === 'header') return recordedHeaderShares(live);
    return new Map([...backendWeights(live)].filter(([serviceName]) => serviceName !== mainServiceName));
  }
}
