import type { KubernetesObject } from '@kubernetes/client-node';
import { SERVICE_PORT } from '../naming/names';
import { mainRouteMetadata, type CanaryRoute, type RouteScope } from './traffic-router';

export const HTTPROUTE_API = 'gateway.networking.k8s.io/v1';

/** The subset of gateway.networking.k8s.io/v1 HTTPRoute that Mayday writes and reads. */
export interface HttpRoute extends KubernetesObject {
  spec?: {
    parentRefs?: { name: string; namespace?: string }[];
    hostnames?: string[];
    rules?: {
      matches?: { path?: { type?: string; value?: string } }[];
      backendRefs?: { name: string; port?: number; weight?: number }[];
    }[];
  };
}

export interface ParentGateway {
  name: string;
  namespace?: string;
}

/**
 * The HTTPRoute `{service}`: one rule on `/` whose backendRefs are the main Service, weighted with
 * what the canaries leave, and each canary's Service with its own weight. Weights are percentages
 * and always add up to 100.
 */
export function httpRoute(scope: RouteScope, canaries: CanaryRoute[], gateway: ParentGateway): HttpRoute {
  const canaryTotal = canaries.reduce((sum, canary) => sum + canary.weight, 0);
  return {
    apiVersion: HTTPROUTE_API,
    kind: 'HTTPRoute',
    metadata: mainRouteMetadata(scope),
    spec: {
      parentRefs: [{ name: gateway.name, ...(gateway.namespace ? { namespace: gateway.namespace } : {}) }],
      hostnames: [scope.host],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' } }],
          backendRefs: [
            { name: scope.mainServiceName, port: scope.mainServicePort, weight: 100 - canaryTotal },
            ...canaries.map((canary) => ({ name: canary.serviceName, port: SERVICE_PORT, weight: canary.weight })),
          ],
        },
      ],
    },
  };
}

/** The weights an HTTPRoute gives, by backend Service name. */
export function backendWeights(route: HttpRoute): Map<string, number> {
  const weights = new Map<string, number>();
  for (const rule of route.spec?.rules ?? []) {
    for (const backend of rule.backendRefs ?? []) {
      weights.set(backend.name, (weights.get(backend.name) ?? 0) + (backend.weight ?? 1));
    }
  }
  return weights;
}
