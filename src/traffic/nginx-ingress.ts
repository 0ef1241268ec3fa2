import type { V1Ingress } from '@kubernetes/client-node';
import { HEADER_SHARE_ANNOTATION, maydayLabels } from '../naming/labels';
import { canaryIngressName, SERVICE_PORT } from '../naming/names';
import {
  appliedForAnnotation,
  mainRouteMetadata,
  WEIGHT_ROUTING,
  type CanaryRoute,
  type RouteScope,
  type VariantRouting,
} from './traffic-router';

export const CANARY_ANNOTATION = 'nginx.ingress.kubernetes.io/canary';
export const CANARY_WEIGHT_ANNOTATION = 'nginx.ingress.kubernetes.io/canary-weight';
export const CANARY_BY_HEADER_ANNOTATION = 'nginx.ingress.kubernetes.io/canary-by-header';
export const CANARY_BY_HEADER_VALUE_ANNOTATION = 'nginx.ingress.kubernetes.io/canary-by-header-value';
const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';

/** The main Ingress `{service}`: host and `/` to the main Service, no canary annotations. */
export function mainIngress(scope: RouteScope, ingressClass: string): V1Ingress {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: mainRouteMetadata(scope),
    spec: ingressSpec(scope.host, ingressClass, scope.mainServiceName, scope.mainServicePort),
  };
}

/**
 * A variant's canary Ingress: the same host and path, weighted by ingress-nginx's canary annotations.
 * With header routing it also takes requests whose variant header holds the variant's id (ingress-nginx
 * checks the header before the weight), its weight is "0" in `header` mode, and the share of users it
 * serves is recorded for Mayday to read back.
 */
export function canaryIngress(
  scope: RouteScope,
  canary: CanaryRoute,
  ingressClass: string,
  routing: VariantRouting = WEIGHT_ROUTING,
): V1Ingress {
  const byHeader: Record<string, string> =
    routing.mode === 'weight'
      ? {}
      : { [CANARY_BY_HEADER_ANNOTATION]: routing.header, [CANARY_BY_HEADER_VALUE_ANNOTATION]: canary.variantId };
  const share: Record<string, string> = routing.mode === 'header' ? { [HEADER_SHARE_ANNOTATION]: String(canary.weight) } : {};
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: canaryIngressName(scope.service, canary.variantId),
      namespace: scope.namespace,
      labels: maydayLabels({
        workspace: scope.service,
        experimentId: scope.experimentId,
        variantId: canary.variantId,
        role: 'canary',
      }),
      annotations: {
        [CANARY_ANNOTATION]: 'true',
        [CANARY_WEIGHT_ANNOTATION]: String(routing.mode === 'header' ? 0 : canary.weight),
        ...byHeader,
        ...share,
        ...appliedForAnnotation(scope),
      },
    },
    spec: ingressSpec(scope.host, ingressClass, canary.serviceName, SERVICE_PORT),
  };
}

export function isCanaryIngress(ingress: V1Ingress): boolean {
  return ingress.metadata?.annotations?.[CANARY_ANNOTATION] === 'true';
}

/** Whether an Ingress of our class routes `host` + `/` (what a canary Ingress needs beside it). */
export function servesHostRoot(ingress: V1Ingress, host: string, ingressClass: string): boolean {
  const className = ingress.spec?.ingressClassName ?? ingress.metadata?.annotations?.[LEGACY_CLASS_ANNOTATION];
  if (className !== undefined && className !== ingressClass) return false;
  return (ingress.spec?.rules ?? []).some(
    (rule) => rule.host === host && (rule.http?.paths ?? []).some((path) => (path.path ?? '/') === '/'),
  );
}

/** The canary's share: its weight, or in `header` mode the share Mayday recorded (its weight is "0" then). */
export function canaryWeightOf(ingress: V1Ingress, routing: VariantRouting = WEIGHT_ROUTING): number {
  const annotation = routing.mode === 'header' ? HEADER_SHARE_ANNOTATION : CANARY_WEIGHT_ANNOTATION;
  const weight = Number(ingress.metadata?.annotations?.[annotation] ?? 0);
  return Number.isFinite(weight) ? weight : 0;
}

function ingressSpec(host: string, ingressClass: string, serviceName: string, port: number): V1Ingress['spec'] {
  return {
    ingressClassName: ingressClass,
    rules: [
      {
        host,
        http: {
          paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: serviceName, port: { number: port } } } }],
        },
      },
    ],
  };
}
