import { describe, expect, it } from 'vitest';
import { ForeignObjectError, UnprocessableEventError } from '../../src/common/errors';
import { GatewayApiRouter } from '../../src/traffic/gateway-api.router';
import { httpRoute, type HttpRoute } from '../../src/traffic/gateway-httproute';
import type { CanaryRoute, RouteState } from '../../src/traffic/traffic-router';
import { ROUTE_SCOPE, TEST1_ID, TEST2_ID, clone } from './fixtures';

const SCOPE = ROUTE_SCOPE;
const GATEWAY = { name: 'gw', namespace: 'gws' };
const SVC1 = `nginxservice-service-${TEST1_ID}`;
const SVC2 = `nginxservice-service-${TEST2_ID}`;

const canary = (variantId: string, weight: number): CanaryRoute => ({
  variantId,
  serviceName: `nginxservice-service-${variantId}`,
  weight,
});

const state = (route?: HttpRoute): RouteState => ({ provider: 'gateway-api', route }) as RouteState;

/** A live HTTPRoute as the API server returns what Mayday wrote. */
function liveRoute(canaries: CanaryRoute[]): HttpRoute {
  const route = clone(httpRoute(SCOPE, canaries, GATEWAY));
  route.metadata = { ...route.metadata, resourceVersion: '42', uid: 'u-1', generation: 3 };
  return route;
}

function foreignRoute(): HttpRoute {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'nginxservice', namespace: 'mumbai', labels: { app: 'nginxservice' } },
    spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'nginxservice', port: 80 }] }] },
  };
}

const router = new GatewayApiRouter(undefined as never, GATEWAY);

describe('GatewayApiRouter', () => {
  it('is the gateway-api provider and splits over up to 15 canaries (16 backends per rule)', () => {
    expect(router.provider).toBe('gateway-api');
    expect(router.maxCanaries).toBe(15);
  });

  describe('planRoutes', () => {
    it('writes the HTTPRoute when there is none yet, with no previous weights', () => {
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state());
      expect(change.writes).toEqual([{ desired: httpRoute(SCOPE, [canary(TEST1_ID, 10)], GATEWAY), live: undefined }]);
      expect(change.writes[0].desired.metadata?.name).toBe('nginxservice');
      expect(change.deletes).toEqual([]);
      expect(change.previousWeights).toEqual(new Map());
    });

    it('writes the route with the live one attached and reports the canary weights it had (not the main)', () => {
      const live = liveRoute([canary(TEST1_ID, 10), canary(TEST2_ID, 5)]);
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 20), canary(TEST2_ID, 20)], state(live));
      expect(change.writes).toHaveLength(1);
      expect(change.writes[0].live).toBe(live);
      expect(change.writes[0].desired).toEqual(httpRoute(SCOPE, [canary(TEST1_ID, 20), canary(TEST2_ID, 20)], GATEWAY));
      expect((change.writes[0].desired as HttpRoute).spec!.rules![0].backendRefs!.map((b) => b.weight)).toEqual([60, 20, 20]);
      expect(change.deletes).toEqual([]);
      expect(change.previousWeights).toEqual(
        new Map([
          [SVC1, 10],
          [SVC2, 5],
        ]),
      );
    });

    it('drops a canary that is no longer desired from the route (no deletes: it is one object)', () => {
      const live = liveRoute([canary(TEST1_ID, 10), canary(TEST2_ID, 10)]);
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state(live));
      expect((change.writes[0].desired as HttpRoute).spec!.rules![0].backendRefs).toEqual([
        { name: 'nginxservice', port: 80, weight: 90 },
        { name: SVC1, port: 80, weight: 10 },
      ]);
      expect(change.deletes).toEqual([]);
    });

    it('refuses an HTTPRoute of that name that Mayday did not make, naming it', () => {
      const act = () => router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state(foreignRoute()));
      expect(act).toThrow(ForeignObjectError);
      expect(act).toThrow(UnprocessableEventError);
      expect(act).toThrow('HTTPRoute mumbai/nginxservice exists and was not made by Mayday; it is never overwritten');
    });

    it('refuses an HTTPRoute labelled as managed by someone else', () => {
      const route = foreignRoute();
      route.metadata!.labels = { 'app.kubernetes.io/managed-by': 'Helm' };
      expect(() => router.planRoutes(SCOPE, [], state(route))).toThrow(ForeignObjectError);
    });
  });

  describe('planFinalize', () => {
    it('writes nothing when there is no route (Mayday never routed this service)', () => {
      expect(router.planFinalize(SCOPE, state())).toEqual({ writes: [], deletes: [], previousWeights: new Map() });
    });

    it('sends everything back to the main Service, with the live route attached and its canary weights', () => {
      const live = liveRoute([canary(TEST1_ID, 30)]);
      const change = router.planFinalize(SCOPE, state(live));
      expect(change.writes).toHaveLength(1);
      expect(change.writes[0].live).toBe(live);
      expect(change.writes[0].desired).toEqual(httpRoute(SCOPE, [], GATEWAY));
      expect((change.writes[0].desired as HttpRoute).spec!.rules![0].backendRefs).toEqual([
        { name: 'nginxservice', port: 80, weight: 100 },
      ]);
      expect(change.deletes).toEqual([]);
      expect(change.previousWeights).toEqual(new Map([[SVC1, 30]]));
    });

    it('refuses a foreign route', () => {
      expect(() => router.planFinalize(SCOPE, state(foreignRoute()))).toThrow(
        'HTTPRoute mumbai/nginxservice exists and was not made by Mayday; it is never overwritten',
      );
    });
  });
});
