import { HEADER_SHARE_ANNOTATION } from '../naming/labels';
import type { KubernetesObject } from '@kubernetes/client-node';
import { SERVICE_PORT } from '../naming/names';
import {
  appliedForAnnotation,
  mainRouteMetadata,
  WEIGHT_ROUTING,
  type CanaryRoute,
  type RouteScope,
  type VariantRouting,
} from './traffic-router';

export const HTTPROUTE_API = 'gateway.networking.k8s.io/v1';

interface BackendRef {
  name: string;
  port?: number;
  weight?: number;
}

interface HeaderMatch {
  type?: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}

/** The subset of gateway.networking.k8s.io/v1 HTTPRoute that Mayday writes and reads. */
export interface HttpRoute extends KubernetesObject {
  spec?: {
    parentRefs?: { name: string; namespace?: string }[];
    hostnames?: string[];
    rules?: {
      matches?: { path?: { type?: string; value?: string }; headers?: HeaderMatch[] }[];
      backendRefs?: BackendRef[];
    }[];
  };
}

export interface ParentGateway {
  name: string;
  namespace?: string;
}

const ROOT_PATH = { type: 'PathPrefix', value: '/' };

/**
 * The HTTPRoute `{service}`. Its last rule, on `/`, splits by weight: the main Service gets what the
 * canaries leave and, unless ROUTING_MODE is `header`, each canary's Service gets its own weight
 * (percentages, adding up to 100). With header routing, rules before it send a request whose variant
 * header holds an experimental variant's id to that variant's Service (to the main Service while the
 * variant has no weight: paused, unavailable or failed), and the CONTROL id to the main Service. A
 * request matching a header rule never reaches the weighted one (more header matches win in Gateway
 * API, and the rules come first). Without canaries (promotion, rollback) only the main rule is left.
 */
export function httpRoute(
  scope: RouteScope,
  canaries: CanaryRoute[],
  gateway: ParentGateway,
  routing: VariantRouting = WEIGHT_ROUTING,
): HttpRoute {
  const main: BackendRef = { name: scope.mainServiceName, port: scope.mainServicePort };
  const weighted = routing.mode === 'header' ? [] : canaries;
  const headerRules =
    routing.mode === 'weight' || canaries.length === 0
      ? []
      : [
          ...canaries.map((canary) =>
            headerRule(routing.header, canary.variantId, canary.weight > 0 ? { name: canary.serviceName, port: SERVICE_PORT } : main),
          ),
          headerRule(routing.header, scope.controlVariantId, main),
        ];
  const metadata = mainRouteMetadata(scope);
  return {
    apiVersion: HTTPROUTE_API,
    kind: 'HTTPRoute',
    metadata: withAnnotations(metadata, {
      ...(routing.mode === 'header' ? { [HEADER_SHARE_ANNOTATION]: headerShares(canaries) } : {}),
      ...appliedForAnnotation(scope),
    }),
    spec: {
      parentRefs: [{ name: gateway.name, ...(gateway.namespace ? { namespace: gateway.namespace } : {}) }],
      hostnames: [scope.host],
      rules: [
        ...headerRules,
        {
          matches: [{ path: ROOT_PATH }],
          backendRefs: [
            { ...main, weight: 100 - weighted.reduce((sum, canary) => sum + canary.weight, 0) },
            ...weighted.map((canary) => ({ name: canary.serviceName, port: SERVICE_PORT, weight: canary.weight })),
          ],
        },
      ],
    },
  };
}

/** The metadata with these annotations, or as it is when there are none (no empty `annotations`). */
function withAnnotations<T extends object>(metadata: T, annotations: Record<string, string>): T & { annotations?: Record<string, string> } {
  return Object.keys(annotations).length > 0 ? { ...metadata, annotations } : metadata;
}

function headerRule(header: string, variantId: string, backend: BackendRef) {
  return {
    matches: [{ path: ROOT_PATH, headers: [{ type: 'Exact' as const, name: header, value: variantId }] }],
    backendRefs: [backend],
  };
}

/** `{"<canary Service>": <weight>, ...}`, the annotation's value. */
function headerShares(canaries: CanaryRoute[]): string {
  return JSON.stringify(Object.fromEntries(canaries.map((canary) => [canary.serviceName, canary.weight])));
}

/** The weights an HTTPRoute's weighted rules (those without header matches) give, by backend Service name. */
export function backendWeights(route: HttpRoute): Map<string, number> {
  const weights = new Map<string, number>();
  for (const rule of route.spec?.rules ?? []) {
    if ((rule.matches ?? []).some((match) => (match.headers ?? []).length > 0)) continue;
    for (const backend of rule.backendRefs ?? []) {
      weights.set(backend.name, (weights.get(backend.name) ?? 0) + (backend.weight ?? 1));
    }
  }
  return weights;
}

/** The shares Mayday recorded on a route it wrote in `header` mode, by canary Service name (unreadable entries left out). */
export function recordedHeaderShares(route: HttpRoute): Map<string, number> {
  const shares = new Map<string, number>();
  let recorded: unknown;
  try {
    recorded = JSON.parse(route.metadata?.annotations?.[HEADER_SHARE_ANNOTATION] ?? '{}');
  } catch {
    return shares;
  }
  if (recorded === null || typeof recorded !== 'object' || Array.isArray(recorded)) return shares;
  for (const [serviceName, share] of Object.entries(recorded)) {
    if (typeof share === 'number' && Number.isFinite(share)) shares.set(serviceName, share);
  }
  return shares;
}
