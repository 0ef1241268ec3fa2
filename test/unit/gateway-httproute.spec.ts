import { describe, expect, it } from 'vitest';
import { backendWeights, httpRoute, HTTPROUTE_API, type HttpRoute } from '../../src/traffic/gateway-httproute';
import type { CanaryRoute } from '../../src/traffic/traffic-router';
import { CONTROL_ID, EXPERIMENT_ID, ROUTE_SCOPE, TEST1_ID, TEST2_ID, WORKSPACE } from './fixtures';

const SCOPE = ROUTE_SCOPE;
const GATEWAY = { name: 'gw', namespace: 'gws' };
const TEST3_ID = `${EXPERIMENT_ID}-test3`;

const canary = (variantId: string, weight: number): CanaryRoute => ({
  variantId,
  serviceName: `nginxservice-service-${variantId}`,
  weight,
});

const weightsOf = (route: HttpRoute) => route.spec!.rules![0].backendRefs!.map((backend) => backend.weight!);

describe('httpRoute', () => {
  it('is the HTTPRoute {service}: main Service with what the canary leaves, the canary on port 80 with its weight', () => {
    expect(httpRoute(SCOPE, [canary(TEST1_ID, 10)], GATEWAY)).toStrictEqual({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: {
        name: 'nginxservice',
        namespace: 'mumbai',
        labels: {
          'app.kubernetes.io/managed-by': 'mayday',
          'mayday.superposition.io/workspace': WORKSPACE,
          'mayday.superposition.io/experiment': EXPERIMENT_ID,
          'mayday.superposition.io/variant': CONTROL_ID,
          'mayday.superposition.io/role': 'stable',
        },
      },
      spec: {
        parentRefs: [{ name: 'gw', namespace: 'gws' }],
        hostnames: ['nginxservice.mumbai'],
        rules: [
          {
            matches: [{ path: { type: 'PathPrefix', value: '/' } }],
            backendRefs: [
              { name: 'nginxservice', port: 80, weight: 90 },
              { name: 'nginxservice-service-7350102648234549248-test1', port: 80, weight: 10 },
            ],
          },
        ],
      },
    });
    expect(HTTPROUTE_API).toBe('gateway.networking.k8s.io/v1');
  });

  it('leaves namespace out of the parentRef when the Gateway has none', () => {
    expect(httpRoute(SCOPE, [], { name: 'gw' }).spec!.parentRefs).toStrictEqual([{ name: 'gw' }]);
    expect(httpRoute(SCOPE, [], { name: 'gw', namespace: '' }).spec!.parentRefs).toStrictEqual([{ name: 'gw' }]);
  });

  it('sends to the main Service port, but always to port 80 of canary Services', () => {
    const route = httpRoute({ ...SCOPE, mainServiceName: 'legacy-svc', mainServicePort: 8080 }, [canary(TEST1_ID, 20)], GATEWAY);
    expect(route.spec!.rules![0].backendRefs).toStrictEqual([
      { name: 'legacy-svc', port: 8080, weight: 80 },
      { name: 'nginxservice-service-7350102648234549248-test1', port: 80, weight: 20 },
    ]);
  });

  it('routes every request to the main Service with no canary', () => {
    expect(httpRoute(SCOPE, [], GATEWAY).spec!.rules![0].backendRefs).toStrictEqual([{ name: 'nginxservice', port: 80, weight: 100 }]);
  });

  it('lists each canary in order after the main Service (A/B/n)', () => {
    const route = httpRoute(SCOPE, [canary(TEST1_ID, 10), canary(TEST2_ID, 15), canary(TEST3_ID, 5)], GATEWAY);
    expect(route.spec!.rules![0].backendRefs).toStrictEqual([
      { name: 'nginxservice', port: 80, weight: 70 },
      { name: `nginxservice-service-${TEST1_ID}`, port: 80, weight: 10 },
      { name: `nginxservice-service-${TEST2_ID}`, port: 80, weight: 15 },
      { name: `nginxservice-service-${TEST3_ID}`, port: 80, weight: 5 },
    ]);
  });

  it.each([
    [0, [100]],
    [1, [75, 25]],
    [2, [50, 25, 25]],
    [3, [25, 25, 25, 25]],
  ])('weights add up to 100 with %i canaries at 25', (count, expected) => {
    const canaries = [TEST1_ID, TEST2_ID, TEST3_ID].slice(0, count).map((id) => canary(id, 25));
    const weights = weightsOf(httpRoute(SCOPE, canaries, GATEWAY));
    expect(weights).toEqual(expected);
    expect(weights.reduce((sum, weight) => sum + weight, 0)).toBe(100);
  });

  it('gives the main Service 100 when the canaries are paused at 0', () => {
    expect(weightsOf(httpRoute(SCOPE, [canary(TEST1_ID, 0), canary(TEST2_ID, 0)], GATEWAY))).toEqual([100, 0, 0]);
  });

  it('gives the main Service 0 when the canaries take everything', () => {
    expect(weightsOf(httpRoute(SCOPE, [canary(TEST1_ID, 50), canary(TEST2_ID, 50)], GATEWAY))).toEqual([0, 50, 50]);
  });

  it('uses a valid name for a workspace that is not one', () => {
    expect(httpRoute({ ...SCOPE, service: 'Nginx_Service' }, [], GATEWAY).metadata!.name).toMatch(/^nginx-service-[0-9a-f]{8}$/);
  });
});

describe('backendWeights', () => {
  it('reads the weight of each backend by Service name', () => {
    const route = httpRoute(SCOPE, [canary(TEST1_ID, 10), canary(TEST2_ID, 20)], GATEWAY);
    expect(backendWeights(route)).toEqual(
      new Map([
        ['nginxservice', 70],
        [`nginxservice-service-${TEST1_ID}`, 10],
        [`nginxservice-service-${TEST2_ID}`, 20],
      ]),
    );
  });

  it('counts a backend without a weight as 1 (the Gateway API default) and sums a Service over rules', () => {
    const route: HttpRoute = {
      spec: {
        rules: [
          { backendRefs: [{ name: 'a' }, { name: 'b', weight: 3 }] },
          {
            backendRefs: [
              { name: 'b', weight: 4 },
              { name: 'c', weight: 0 },
            ],
          },
          {},
        ],
      },
    };
    expect(backendWeights(route)).toEqual(
      new Map([
        ['a', 1],
        ['b', 7],
        ['c', 0],
      ]),
    );
  });

  it('is empty for a route without rules or spec', () => {
    expect(backendWeights({ spec: {} }).size).toBe(0);
    expect(backendWeights({}).size).toBe(0);
  });
});
