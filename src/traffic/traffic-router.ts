import type { KubernetesObject } from '@kubernetes/client-node';
import type { KindToCache } from '../kubernetes/cluster-cache.service';
import { UnprocessableEventError } from '../common/errors';
import type { RoutingMode, TrafficProviderName } from '../config/mayday-config';
import { APPLIED_FOR_ANNOTATION, maydayLabels } from '../naming/labels';
import { mainRouteName } from '../naming/names';

/** Where one experiment's traffic is routed: one service (workspace) on one host in one namespace. */
export interface RouteScope {
  namespace: string;
  /** The Superposition workspace id, i.e. the service. */
  service: string;
  experimentId: string;
  host: string;
  /** The main Service that carries the stable traffic, and the port routes send to. */
  mainServiceName: string;
  mainServicePort: number;
  /** The variant the main Service currently serves, for the labels of a main route Mayday creates. */
  stableVariantId: string;
  /** The experiment's CONTROL variant: a request carrying its id is sent to the main Service (header routing). */
  controlVariantId: string;
  /**
   * The experiment state (its `last_modified`) the weights are for, during a rollout: stamped
   * (APPLIED_FOR_ANNOTATION) on the route objects that carry the weights, never on the main path.
   */
  appliedFor?: string;
}

/** ROUTING_MODE and VARIANT_HEADER: whether requests are routed by weight, by the variant header, or header first. */
export interface VariantRouting {
  mode: RoutingMode;
  /** The request header carrying a full variant id, in lower case. */
  header: string;
}

export const WEIGHT_ROUTING: VariantRouting = { mode: 'weight', header: 'x-superposition-variant' };

/**
 * One experimental variant's share of the traffic, in percent of all requests (by weight) or of users
 * (by header). A canary with weight 0 (paused, not yet available, failed) serves no request by header either.
 */
export interface CanaryRoute {
  variantId: string;
  serviceName: string;
  weight: number;
}

/** Route objects to write (with what is live now, to skip unchanged ones) and to delete, in order. */
export interface RouteChange {
  writes: { desired: KubernetesObject; live?: KubernetesObject }[];
  deletes: KubernetesObject[];
  /** The weight each canary Service has before the change, by Service name. */
  previousWeights: Map<string, number>;
}

/** What a router needs to read: the routes of one service in one namespace. */
export type RouteTarget = Pick<RouteScope, 'namespace' | 'service' | 'experimentId'>;

/** The live route objects a router read, opaque to everyone but that router. */
export type RouteState = { readonly provider: TrafficProviderName };

/**
 * One implementation per traffic provider, the way Flagger's routers are built. `observe` reads
 * the live routes (in the same round of reads as everything else); planning is pure and throws
 * (ForeignObjectError, UnprocessableEventError) before anything is written; the caller writes the
 * returned change in order.
 */
export interface TrafficRouter {
  readonly provider: TrafficProviderName;
  /** How many experimental variants one route can split traffic over. */
  readonly maxCanaries: number;
  /** The route kinds the cluster cache keeps for this router (its `observe` then reads from memory). */
  readonly cachedKinds: readonly KindToCache[];
  observe(target: RouteTarget): Promise<RouteState>;
  /** The main path reaches the main Service (unless something else already routes it) and each canary gets its weight. */
  planRoutes(scope: RouteScope, canaries: CanaryRoute[], state: RouteState): RouteChange;
  /** Every request back to the main Service; this experiment's canary routes removed. */
  planFinalize(scope: RouteScope, state: RouteState): RouteChange;
  /** The canary weights as the cluster has them now, by canary Service name. */
  getRoutes(target: RouteTarget & Pick<RouteScope, 'mainServiceName'>): Promise<Map<string, number>>;
  /** A check for /health/ready that the provider's API exists on the server. */
  checkApi(): Promise<void>;
}

export const TRAFFIC_ROUTER = Symbol('TrafficRouter');

/** Name, namespace and labels of the route object that carries a service's main path (Ingress or HTTPRoute). */
export function mainRouteMetadata(scope: RouteScope): { name: string; namespace: string; labels: Record<string, string> } {
  return {
    name: mainRouteName(scope.service),
    namespace: scope.namespace,
    labels: maydayLabels({ workspace: scope.service, experimentId: scope.experimentId, variantId: scope.stableVariantId, role: 'stable' }),
  };
}

/** The APPLIED_FOR_ANNOTATION of a route object that carries the weights, when the scope names a state. */
export function appliedForAnnotation(scope: RouteScope): Record<string, string> {
  return scope.appliedFor ? { [APPLIED_FOR_ANNOTATION]: scope.appliedFor } : {};
}

/**
 * Refuses a variant id that cannot travel as a header value (`allowed` is the provider's own rule),
 * before anything is written.
 */
export function requireHeaderValue(variantId: string, allowed: RegExp, rule: string): void {
  if (!allowed.test(variantId)) {
    throw new UnprocessableEventError(`variant id "${variantId}" cannot be matched as a header value: ${rule}`);
  }
}
