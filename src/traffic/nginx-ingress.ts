import type { V1Ingress } from '@kubernetes/client-node';
import { maydayLabels } from '../naming/labels';
import { canaryIngressName, SERVICE_PORT } from '../naming/names';
import { mainRouteMetadata, type CanaryRoute, type RouteScope } from './traffic-router';

export const CANARY_ANNOTATION = 'nginx.ingress.kubernetes.io/canary';
export const CANARY_WEIGHT_ANNOTATION = 'nginx.ingress.kubernetes.io/canary-weight';
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

/** A variant's canary Ingress: the same host and path, weighted by ingress-nginx's canary annotations. */
export function canaryIngress(scope: RouteScope, canary: CanaryRoute, ingressClass: string): V1Ingress {
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
        [CANARY_WEIGHT_ANNOTATION]: String(canary.weight),
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

export function canaryWeightOf(ingress: V1Ingress): number {
  const weight = Number(ingress.metadata?.annotations?.[CANARY_WEIGHT_ANNOTATION] ?? 0);
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
