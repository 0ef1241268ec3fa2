import type { V1Ingress } from '@kubernetes/client-node';
import { ConsentRequiredError, ForeignObjectError, hasConsent, UnprocessableEventError } from '../common/errors';
import { KubeResourcesService } from '../kubernetes/kube-resources.service';
import { EXPERIMENT_LABEL, isManagedByMayday, ownedSelector } from '../naming/labels';
import { labelValue } from '../naming/names';
import { canaryIngress, canaryWeightOf, isCanaryIngress, mainIngress, servesHostRoot } from './nginx-ingress';
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

/** Every Ingress of the namespace: the main route may be anyone's, the canary must be alone on its host. */
interface NginxState extends RouteState {
  ingresses: V1Ingress[];
}

const INGRESS_API = 'networking.k8s.io/v1';
/**
 * What ingress-nginx accepts in canary-by-header-value (its annotation validation, on by default). It
 * drops anything else silently, and a canary-by-header left without a value sends every request whose
 * header says "always" to the canary.
 */
const NGINX_HEADER_VALUE = /^[-._~a-zA-Z0-9/:]+$/;

/**
 * ingress-nginx: a main Ingress for the host and one canary Ingress carrying the weight and, with
 * header routing, the variant header match. ingress-nginx honours a single canary per host and path,
 * so one experimental variant at most. With header routing a canary that gets no traffic (paused,
 * unavailable, failed) has no canary Ingress at all: its header sends requests to the main Ingress.
 */
export class NginxRouter implements TrafficRouter {
  readonly provider = 'nginx' as const;
  readonly maxCanaries = 1;
  // Every Ingress: the main route may be a user's, and no other canary may hold the host.
  readonly cachedKinds = [
    { apiVersion: INGRESS_API, kind: 'Ingress', apiPath: '/apis/networking.k8s.io/v1', resource: 'ingresses', all: true },
  ];

  constructor(
    private readonly kube: KubeResourcesService,
    private readonly ingressClass: string,
    private readonly routing: VariantRouting = WEIGHT_ROUTING,
  ) {}

  async observe(target: RouteTarget): Promise<NginxState> {
    return { provider: this.provider, ingresses: await this.kube.list<V1Ingress>(INGRESS_API, 'Ingress', target.namespace) };
  }

  planRoutes(scope: RouteScope, canaries: CanaryRoute[], state: RouteState): RouteChange {
    const { ingresses } = state as NginxState;
    const byName = new Map(ingresses.map((ingress) => [ingress.metadata?.name, ingress]));
    const writes: RouteChange['writes'] = [];

    const main = mainIngress(scope, this.ingressClass);
    const liveMain = byName.get(main.metadata!.name);
    if (liveMain && isManagedByMayday(liveMain)) {
      writes.push({ desired: main, live: liveMain });
    } else {
      // Anyone's non-canary Ingress of our class for the host and `/` (even one named like ours) is the main
      // path, if its owner consented to this workspace's canaries next to it.
      const served = ingresses.find((ingress) => !isCanaryIngress(ingress) && servesHostRoot(ingress, scope.host, this.ingressClass));
      if (served && !isManagedByMayday(served) && !hasConsent(served, scope.service)) {
        throw new ConsentRequiredError('Ingress', scope.namespace, served.metadata!.name!, scope.service);
      }
      if (!served) {
        if (liveMain) throw new ForeignObjectError('Ingress', scope.namespace, main.metadata!.name!);
        writes.push({ desired: main });
      }
    }

    // By weight a canary Ingress stays at "0" while it gets nothing; by header it must not exist then (nothing
    // else can stop its header match without removing annotations, and an Ingress at "0" with no header does nothing).
    const routed = this.routing.mode === 'weight' ? canaries : canaries.filter((canary) => canary.weight > 0);
    if (this.routing.mode !== 'weight') {
      for (const canary of canaries) {
        requireHeaderValue(
          canary.variantId,
          NGINX_HEADER_VALUE,
          'ingress-nginx accepts only letters, digits and - . _ ~ / : in canary-by-header-value',
        );
      }
    }
    const desiredCanaries = routed.map((canary) => canaryIngress(scope, canary, this.ingressClass, this.routing));
    const desiredNames = new Set(desiredCanaries.map((ingress) => ingress.metadata!.name));
    for (const ingress of ingresses) {
      const sameExperiment = ingress.metadata?.labels?.[EXPERIMENT_LABEL] === labelValue(scope.experimentId);
      const holdsHost = isCanaryIngress(ingress) && servesHostRoot(ingress, scope.host, this.ingressClass);
      if (holdsHost && !(isManagedByMayday(ingress) && sameExperiment)) {
        const owner = isManagedByMayday(ingress)
          ? `experiment ${ingress.metadata?.labels?.[EXPERIMENT_LABEL]}`
          : 'someone other than Mayday';
        throw new UnprocessableEventError(
          `ingress-nginx honours one canary Ingress per host and path, and Ingress ${scope.namespace}/${ingress.metadata?.name} ` +
            `(${owner}) already holds the canary for ${scope.host}/`,
        );
      }
    }
    for (const desired of desiredCanaries) {
      const live = byName.get(desired.metadata!.name);
      if (live && !isManagedByMayday(live)) throw new ForeignObjectError('Ingress', scope.namespace, desired.metadata!.name!);
      writes.push({ desired, live });
    }
    const deletes = ingresses.filter((ingress) => isOurCanary(ingress, scope.experimentId) && !desiredNames.has(ingress.metadata?.name));
    const ours = ingresses.filter((ingress) => isOurCanary(ingress, scope.experimentId));
    return { writes, deletes, previousWeights: this.weightsByService(ours) };
  }

  planFinalize(scope: RouteScope, state: RouteState): RouteChange {
    const canaries = (state as NginxState).ingresses.filter((ingress) => isOurCanary(ingress, scope.experimentId));
    return { writes: [], deletes: canaries, previousWeights: this.weightsByService(canaries) };
  }

  async getRoutes(target: RouteTarget): Promise<Map<string, number>> {
    return this.weightsByService(await this.listCanaries(target));
  }

  async checkApi(): Promise<void> {
    // networking.k8s.io/v1 Ingress is part of every Kubernetes >= 1.19: nothing more to check.
  }

  private listCanaries(scope: RouteTarget): Promise<V1Ingress[]> {
    return this.kube.list<V1Ingress>(
      INGRESS_API,
      'Ingress',
      scope.namespace,
      ownedSelector({ workspace: scope.service, experimentId: scope.experimentId, role: 'canary' }),
    );
  }

  private weightsByService(canaries: V1Ingress[]): Map<string, number> {
    return new Map(canaries.map((ingress) => [backendOf(ingress), canaryWeightOf(ingress, this.routing)]));
  }
}

function backendOf(ingress: V1Ingress): string {
  return ingress.spec?.rules?.[0]?.http?.paths?.[0]?.backend?.service?.name ?? '';
}

function isOurCanary(ingress: V1Ingress, experimentId: string): boolean {
  return (
    isManagedByMayday(ingress) && isCanaryIngress(ingress) && ingress.metadata?.labels?.[EXPERIMENT_LABEL] === labelValue(experimentId)
  );
}
