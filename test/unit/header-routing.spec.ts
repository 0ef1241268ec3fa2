import type { V1Ingress } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { UnprocessableEventError } from '../../src/common/errors';
import type { RoutingMode } from '../../src/config/mayday-config';
import { GatewayApiRouter } from '../../src/traffic/gateway-api.router';
import { backendWeights, httpRoute, recordedHeaderShares, type HttpRoute } from '../../src/traffic/gateway-httproute';
import { canaryIngress, canaryWeightOf } from '../../src/traffic/nginx-ingress';
import { NginxRouter } from '../../src/traffic/nginx.router';
import type { CanaryRoute, RouteState, VariantRouting } from '../../src/traffic/traffic-router';
import { CONTROL_ID, EXPERIMENT_ID, ROUTE_SCOPE, TEST1_ID, TEST2_ID, clone } from './fixtures';

const SCOPE = ROUTE_SCOPE;
const GATEWAY = { name: 'gw', namespace: 'gws' };
const HEADER = 'x-superposition-variant';
const TEST3_ID = `${EXPERIMENT_ID}-test3`;
const svc = (variantId: string) => `nginxservice-service-${variantId}`;
const routingOf = (mode: RoutingMode): VariantRouting => ({ mode, header: HEADER });
const canary = (variantId: string, weight: number): CanaryRoute => ({ variantId, serviceName: svc(variantId), weight });

const ROOT = { type: 'PathPrefix', value: '/' };
const headerRule = (value: string, backend: string, port = 80) => ({
  matches: [{ path: ROOT, headers: [{ type: 'Exact', name: HEADER, value }] }],
  backendRefs: [{ name: backend, port }],
});
const mainRule = (...backendRefs: { name: string; port: number; weight: number }[]) => ({ matches: [{ path: ROOT }], backendRefs });
const main = (weight: number) => ({ name: 'nginxservice', port: 80, weight });
const weighted = (variantId: string, weight: number) => ({ name: svc(variantId), port: 80, weight });

describe('gateway-api HTTPRoute by ROUTING_MODE', () => {
  const abn = [canary(TEST1_ID, 20), canary(TEST2_ID, 20), canary(TEST3_ID, 20)];

  it('weight: one weighted rule, no header rules, no share annotation (as before)', () => {
    const route = httpRoute(SCOPE, abn, GATEWAY, routingOf('weight'));
    expect(route.spec!.rules).toStrictEqual([mainRule(main(40), weighted(TEST1_ID, 20), weighted(TEST2_ID, 20), weighted(TEST3_ID, 20))]);
    expect(route.metadata!.annotations).toBeUndefined();
    expect(route).toStrictEqual(httpRoute(SCOPE, abn, GATEWAY));
  });

  it('header: one rule per variant to its Service, the CONTROL id to the main Service, then the main Service alone at 100', () => {
    const route = httpRoute(SCOPE, abn, GATEWAY, routingOf('header'));
    expect(route.spec!.rules).toStrictEqual([
      headerRule(TEST1_ID, svc(TEST1_ID)),
      headerRule(TEST2_ID, svc(TEST2_ID)),
      headerRule(TEST3_ID, svc(TEST3_ID)),
      headerRule(CONTROL_ID, 'nginxservice'),
      mainRule(main(100)),
    ]);
    expect(route.metadata!.annotations).toStrictEqual({
      'mayday.superposition.io/header-share': JSON.stringify({ [svc(TEST1_ID)]: 20, [svc(TEST2_ID)]: 20, [svc(TEST3_ID)]: 20 }),
    });
    // The weighted rule gives the canaries nothing; the shares are read back from the annotation.
    expect(backendWeights(route)).toEqual(new Map([['nginxservice', 100]]));
    expect(recordedHeaderShares(route)).toEqual(
      new Map([
        [svc(TEST1_ID), 20],
        [svc(TEST2_ID), 20],
        [svc(TEST3_ID), 20],
      ]),
    );
  });

  it('both: the same header rules before the weighted rule of weight mode', () => {
    const route = httpRoute(SCOPE, abn, GATEWAY, routingOf('both'));
    expect(route.spec!.rules).toStrictEqual([
      headerRule(TEST1_ID, svc(TEST1_ID)),
      headerRule(TEST2_ID, svc(TEST2_ID)),
      headerRule(TEST3_ID, svc(TEST3_ID)),
      headerRule(CONTROL_ID, 'nginxservice'),
      mainRule(main(40), weighted(TEST1_ID, 20), weighted(TEST2_ID, 20), weighted(TEST3_ID, 20)),
    ]);
    expect(route.metadata!.annotations).toBeUndefined();
    // Header rules' backends (weight defaulted to 1 by the API server) do not count as weights.
    const live = clone(route);
    for (const rule of live.spec!.rules!.slice(0, 4)) rule.backendRefs![0].weight = 1;
    expect(backendWeights(live)).toEqual(
      new Map([
        ['nginxservice', 40],
        [svc(TEST1_ID), 20],
        [svc(TEST2_ID), 20],
        [svc(TEST3_ID), 20],
      ]),
    );
  });

  it.each<RoutingMode>(['header', 'both'])(
    '%s: a variant without weight (paused, unavailable, failed) has its header rule on the main Service',
    (mode) => {
      const route = httpRoute(SCOPE, [canary(TEST1_ID, 0), canary(TEST2_ID, 20)], { name: 'gw' }, routingOf(mode));
      expect(route.spec!.rules!.slice(0, 3)).toStrictEqual([
        headerRule(TEST1_ID, 'nginxservice'),
        headerRule(TEST2_ID, svc(TEST2_ID)),
        headerRule(CONTROL_ID, 'nginxservice'),
      ]);
    },
  );

  it.each<RoutingMode>(['header', 'both'])('%s: a main Service on another port is matched on that port', (mode) => {
    const route = httpRoute({ ...SCOPE, mainServicePort: 8080 }, [canary(TEST1_ID, 0)], GATEWAY, routingOf(mode));
    expect(route.spec!.rules!.slice(0, 2)).toStrictEqual([
      headerRule(TEST1_ID, 'nginxservice', 8080),
      headerRule(CONTROL_ID, 'nginxservice', 8080),
    ]);
  });

  it.each<RoutingMode>(['header', 'both'])('%s without canaries (promotion, rollback): the main rule alone, header rules gone', (mode) => {
    expect(httpRoute(SCOPE, [], GATEWAY, routingOf(mode)).spec!.rules).toStrictEqual([mainRule(main(100))]);
  });

  it('uses VARIANT_HEADER as the header name', () => {
    const route = httpRoute(SCOPE, [canary(TEST1_ID, 5)], GATEWAY, { mode: 'header', header: 'x-variant' });
    expect(route.spec!.rules![0].matches![0].headers).toStrictEqual([{ type: 'Exact', name: 'x-variant', value: TEST1_ID }]);
  });

  it('reads no shares from a missing, malformed or hostile annotation', () => {
    const route = (value?: string): HttpRoute => ({
      metadata: value === undefined ? {} : { annotations: { 'mayday.superposition.io/header-share': value } },
    });
    expect(recordedHeaderShares(route())).toEqual(new Map());
    expect(recordedHeaderShares(route('not json'))).toEqual(new Map());
    expect(recordedHeaderShares(route('[1,2]'))).toEqual(new Map());
    expect(recordedHeaderShares(route('{"a": "10", "b": 7}'))).toEqual(new Map([['b', 7]]));
  });
});

describe('GatewayApiRouter by ROUTING_MODE', () => {
  const stateOf = (route?: HttpRoute): RouteState => ({ provider: 'gateway-api', route }) as RouteState;

  it('splits over 15 canaries by weight, 14 with header rules (16 rules: one per variant, CONTROL, main)', () => {
    expect(new GatewayApiRouter(undefined as never, GATEWAY, routingOf('weight')).maxCanaries).toBe(15);
    expect(new GatewayApiRouter(undefined as never, GATEWAY, routingOf('header')).maxCanaries).toBe(14);
    expect(new GatewayApiRouter(undefined as never, GATEWAY, routingOf('both')).maxCanaries).toBe(14);
  });

  it('header: reports the shares it recorded as the previous weights, and the finalized route drops every header rule', () => {
    const router = new GatewayApiRouter(undefined as never, GATEWAY, routingOf('header'));
    const live = clone(httpRoute(SCOPE, [canary(TEST1_ID, 10), canary(TEST2_ID, 0)], GATEWAY, routingOf('header')));
    live.metadata!.labels!['app.kubernetes.io/managed-by'] = 'mayday';
    const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 30), canary(TEST2_ID, 30)], stateOf(live));
    expect(change.previousWeights).toEqual(
      new Map([
        [svc(TEST1_ID), 10],
        [svc(TEST2_ID), 0],
      ]),
    );
    const finalized = router.planFinalize(SCOPE, stateOf(live));
    expect((finalized.writes[0].desired as HttpRoute).spec!.rules).toStrictEqual([mainRule(main(100))]);
    expect(finalized.previousWeights.get(svc(TEST1_ID))).toBe(10);
  });

  it.each<RoutingMode>(['header', 'both'])('%s: refuses a variant id that cannot be a header value, before writing', (mode) => {
    const router = new GatewayApiRouter(undefined as never, GATEWAY, routingOf(mode));
    expect(() => router.planRoutes(SCOPE, [canary(`${EXPERIMENT_ID}-new variant`, 10)], stateOf())).toThrow(UnprocessableEventError);
    expect(() => router.planRoutes(SCOPE, [canary(`${EXPERIMENT_ID}-test\u00e9`, 10)], stateOf())).toThrow(
      /cannot be matched as a header value/,
    );
    expect(() => router.planRoutes({ ...SCOPE, controlVariantId: 'a\nb' }, [canary(TEST1_ID, 10)], stateOf())).toThrow(
      UnprocessableEventError,
    );
    // Weight mode never puts ids in headers.
    expect(() =>
      new GatewayApiRouter(undefined as never, GATEWAY, routingOf('weight')).planRoutes(
        SCOPE,
        [canary(`${EXPERIMENT_ID}-new variant`, 10)],
        stateOf(),
      ),
    ).not.toThrow();
  });
});

describe('ingress-nginx canary Ingress by ROUTING_MODE', () => {
  const annotationsOf = (ingress: V1Ingress) => ingress.metadata!.annotations;

  it('weight: canary and weight only (as before)', () => {
    expect(annotationsOf(canaryIngress(SCOPE, canary(TEST1_ID, 10), 'nginx', routingOf('weight')))).toStrictEqual({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '10',
    });
  });

  it('header: canary-by-header and its value, weight "0", the share recorded', () => {
    const ingress = canaryIngress(SCOPE, canary(TEST1_ID, 10), 'nginx', routingOf('header'));
    expect(annotationsOf(ingress)).toStrictEqual({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '0',
      'nginx.ingress.kubernetes.io/canary-by-header': HEADER,
      'nginx.ingress.kubernetes.io/canary-by-header-value': TEST1_ID,
      'mayday.superposition.io/header-share': '10',
    });
    expect(ingress.spec!.rules![0].http!.paths[0].backend.service!.name).toBe(svc(TEST1_ID));
    expect(canaryWeightOf(ingress, routingOf('header'))).toBe(10);
    expect(canaryWeightOf(ingress, routingOf('weight'))).toBe(0);
  });

  it('both: canary-by-header and its value beside the weight', () => {
    const ingress = canaryIngress(SCOPE, canary(TEST1_ID, 10), 'nginx', routingOf('both'));
    expect(annotationsOf(ingress)).toStrictEqual({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '10',
      'nginx.ingress.kubernetes.io/canary-by-header': HEADER,
      'nginx.ingress.kubernetes.io/canary-by-header-value': TEST1_ID,
    });
    expect(canaryWeightOf(ingress, routingOf('both'))).toBe(10);
  });
});

describe('NginxRouter by ROUTING_MODE', () => {
  const stateOf = (ingresses: V1Ingress[]): RouteState => ({ provider: 'nginx', ingresses }) as RouteState;
  const live = (ingress: V1Ingress): V1Ingress => ({
    ...clone(ingress),
    metadata: { ...clone(ingress).metadata, uid: 'u', resourceVersion: '1' },
  });
  const names = (ingresses: { desired?: V1Ingress; metadata?: V1Ingress['metadata'] }[]) =>
    ingresses.map((item) => (item.desired ?? item).metadata!.name);

  it('weight: a canary without weight keeps its Ingress at "0" (as before)', () => {
    const router = new NginxRouter(undefined as never, 'nginx', routingOf('weight'));
    const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 0)], stateOf([]));
    expect(names(change.writes)).toEqual(['nginxservice', `nginxservice-ingress-${TEST1_ID}`]);
  });

  it.each<RoutingMode>(['header', 'both'])(
    '%s: a canary without weight has no canary Ingress (its header goes to the main Ingress); with weight it has one',
    (mode) => {
      const router = new NginxRouter(undefined as never, 'nginx', routingOf(mode));
      const serving = live(canaryIngress(SCOPE, canary(TEST1_ID, 10), 'nginx', routingOf(mode)));
      const paused = router.planRoutes(SCOPE, [canary(TEST1_ID, 0)], stateOf([serving]));
      expect(names(paused.writes)).toEqual(['nginxservice']);
      expect(paused.deletes).toEqual([serving]);
      expect(paused.previousWeights).toEqual(new Map([[svc(TEST1_ID), 10]]));

      const resumed = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], stateOf([]));
      expect(resumed.writes.map(({ desired }) => desired)).toContainEqual(
        canaryIngress(SCOPE, canary(TEST1_ID, 10), 'nginx', routingOf(mode)),
      );
      expect(resumed.deletes).toEqual([]);
    },
  );

  it.each<RoutingMode>(['header', 'both'])('%s: refuses a variant id ingress-nginx would drop from canary-by-header-value', (mode) => {
    const router = new NginxRouter(undefined as never, 'nginx', routingOf(mode));
    for (const variantId of [`${EXPERIMENT_ID}-a+b`, `${EXPERIMENT_ID}-new variant`, `${EXPERIMENT_ID}-x,y`]) {
      expect(() => router.planRoutes(SCOPE, [canary(variantId, 10)], stateOf([]))).toThrow(UnprocessableEventError);
    }
    // Paused or not, the id is checked: the next ramp would write it.
    expect(() => router.planRoutes(SCOPE, [canary(`${EXPERIMENT_ID}-a+b`, 0)], stateOf([]))).toThrow(/canary-by-header-value/);
    expect(() => router.planRoutes(SCOPE, [canary(`${EXPERIMENT_ID}-Test_1.v2~x`, 10)], stateOf([]))).not.toThrow();
  });

  it('header: the previous weight of a canary is the share it recorded, not its "0" weight', () => {
    const router = new NginxRouter(undefined as never, 'nginx', routingOf('header'));
    const serving = live(canaryIngress(SCOPE, canary(TEST1_ID, 25), 'nginx', routingOf('header')));
    expect(router.planRoutes(SCOPE, [canary(TEST1_ID, 40)], stateOf([serving])).previousWeights).toEqual(new Map([[svc(TEST1_ID), 25]]));
    expect(router.planFinalize(SCOPE, stateOf([serving]))).toMatchObject({ writes: [], deletes: [serving] });
  });

  it('stays at one experimental variant in every mode', () => {
    for (const mode of ['weight', 'header', 'both'] as const)
      expect(new NginxRouter(undefined as never, 'nginx', routingOf(mode)).maxCanaries).toBe(1);
  });
});
