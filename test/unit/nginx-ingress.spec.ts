import type { V1Ingress } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  CANARY_ANNOTATION,
  CANARY_WEIGHT_ANNOTATION,
  canaryIngress,
  canaryWeightOf,
  isCanaryIngress,
  mainIngress,
  servesHostRoot,
} from '../../src/traffic/nginx-ingress';
import type { CanaryRoute } from '../../src/traffic/traffic-router';
import { CONTROL_ID, EXPERIMENT_ID, ROUTE_SCOPE, TEST1_ID, WORKSPACE } from './fixtures';

const SCOPE = ROUTE_SCOPE;
const CANARY: CanaryRoute = { variantId: TEST1_ID, serviceName: 'nginxservice-service-7350102648234549248-test1', weight: 10 };

const labels = (variantId: string, role: string) => ({
  'app.kubernetes.io/managed-by': 'mayday',
  'mayday.superposition.io/workspace': WORKSPACE,
  'mayday.superposition.io/experiment': EXPERIMENT_ID,
  'mayday.superposition.io/variant': variantId,
  'mayday.superposition.io/role': role,
});

const rule = (host: string, service: string, port: number) => ({
  host,
  http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service, port: { number: port } } } }] },
});

describe('annotation keys', () => {
  it('are ingress-nginx canary annotations', () => {
    expect(CANARY_ANNOTATION).toBe('nginx.ingress.kubernetes.io/canary');
    expect(CANARY_WEIGHT_ANNOTATION).toBe('nginx.ingress.kubernetes.io/canary-weight');
  });
});

describe('mainIngress', () => {
  it('routes host and / to the main Service, with no canary annotations', () => {
    const ingress = mainIngress(SCOPE, 'nginx');
    expect(ingress).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'nginxservice', namespace: 'mumbai', labels: labels(CONTROL_ID, 'stable') },
      spec: { ingressClassName: 'nginx', rules: [rule('nginxservice.mumbai', 'nginxservice', 80)] },
    });
    expect(ingress.metadata?.annotations).toBeUndefined();
    expect(isCanaryIngress(ingress)).toBe(false);
  });

  it('uses the main Service port and the configured class', () => {
    const ingress = mainIngress({ ...SCOPE, mainServiceName: 'legacy-svc', mainServicePort: 8080 }, 'public-nginx');
    expect(ingress.spec?.ingressClassName).toBe('public-nginx');
    expect(ingress.spec?.rules?.[0].http?.paths[0].backend.service).toEqual({ name: 'legacy-svc', port: { number: 8080 } });
  });
});

describe('canaryIngress', () => {
  it('is {service}-ingress-{variant} with canary annotations as strings and the canary Service as backend', () => {
    expect(canaryIngress(SCOPE, CANARY, 'nginx')).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: {
        name: 'nginxservice-ingress-7350102648234549248-test1',
        namespace: 'mumbai',
        labels: labels(TEST1_ID, 'canary'),
        annotations: {
          'nginx.ingress.kubernetes.io/canary': 'true',
          'nginx.ingress.kubernetes.io/canary-weight': '10',
        },
      },
      spec: {
        ingressClassName: 'nginx',
        rules: [rule('nginxservice.mumbai', 'nginxservice-service-7350102648234549248-test1', 80)],
      },
    });
  });

  it('writes weight 0 as "0" and always sends to Service port 80', () => {
    const ingress = canaryIngress({ ...SCOPE, mainServicePort: 8080 }, { ...CANARY, weight: 0 }, 'nginx');
    expect(ingress.metadata?.annotations?.[CANARY_WEIGHT_ANNOTATION]).toBe('0');
    expect(ingress.spec?.rules?.[0].http?.paths[0].backend.service?.port).toEqual({ number: 80 });
    expect(canaryWeightOf(ingress)).toBe(0);
  });

  it('is recognised as a canary and its weight read back', () => {
    const ingress = canaryIngress(SCOPE, { ...CANARY, weight: 35 }, 'nginx');
    expect(isCanaryIngress(ingress)).toBe(true);
    expect(canaryWeightOf(ingress)).toBe(35);
  });

  it('shares host and path with the main Ingress (what ingress-nginx needs to honour it)', () => {
    const main = mainIngress(SCOPE, 'nginx');
    const canary = canaryIngress(SCOPE, CANARY, 'nginx');
    expect(servesHostRoot(main, SCOPE.host, 'nginx')).toBe(true);
    expect(servesHostRoot(canary, SCOPE.host, 'nginx')).toBe(true);
    expect(canary.metadata?.name).not.toBe(main.metadata?.name);
  });
});

describe('servesHostRoot', () => {
  const ingress = (spec: V1Ingress['spec'], annotations?: Record<string, string>): V1Ingress => ({
    metadata: { name: 'x', annotations },
    spec,
  });

  it('is true for an Ingress of our class routing host and /', () => {
    expect(servesHostRoot(ingress({ ingressClassName: 'nginx', rules: [rule('a.b', 's', 80)] }), 'a.b', 'nginx')).toBe(true);
  });

  it('is false for another host, another class or another path', () => {
    expect(servesHostRoot(ingress({ ingressClassName: 'nginx', rules: [rule('other.b', 's', 80)] }), 'a.b', 'nginx')).toBe(false);
    expect(servesHostRoot(ingress({ ingressClassName: 'traefik', rules: [rule('a.b', 's', 80)] }), 'a.b', 'nginx')).toBe(false);
    const apiOnly = ingress({
      ingressClassName: 'nginx',
      rules: [{ host: 'a.b', http: { paths: [{ path: '/api', pathType: 'Prefix', backend: { service: { name: 's' } } }] } }],
    });
    expect(servesHostRoot(apiOnly, 'a.b', 'nginx')).toBe(false);
  });

  it('reads the legacy kubernetes.io/ingress.class annotation', () => {
    const spec = { rules: [rule('a.b', 's', 80)] };
    expect(servesHostRoot(ingress(spec, { 'kubernetes.io/ingress.class': 'nginx' }), 'a.b', 'nginx')).toBe(true);
    expect(servesHostRoot(ingress(spec, { 'kubernetes.io/ingress.class': 'haproxy' }), 'a.b', 'nginx')).toBe(false);
  });

  it('prefers spec.ingressClassName over the annotation', () => {
    const spec = { ingressClassName: 'nginx', rules: [rule('a.b', 's', 80)] };
    expect(servesHostRoot(ingress(spec, { 'kubernetes.io/ingress.class': 'haproxy' }), 'a.b', 'nginx')).toBe(true);
  });

  it('counts an Ingress without a class (the default class may be ours)', () => {
    expect(servesHostRoot(ingress({ rules: [rule('a.b', 's', 80)] }), 'a.b', 'nginx')).toBe(true);
  });

  it('treats a path without a value as /', () => {
    const spec = {
      rules: [{ host: 'a.b', http: { paths: [{ pathType: 'ImplementationSpecific', backend: { service: { name: 's' } } }] } }],
    };
    expect(servesHostRoot(ingress(spec), 'a.b', 'nginx')).toBe(true);
  });

  it('finds / among several rules and paths', () => {
    const spec = {
      ingressClassName: 'nginx',
      rules: [
        rule('other.b', 's', 80),
        {
          host: 'a.b',
          http: {
            paths: [
              { path: '/api', pathType: 'Prefix', backend: { service: { name: 's' } } },
              { path: '/', pathType: 'Prefix', backend: { service: { name: 's' } } },
            ],
          },
        },
      ],
    };
    expect(servesHostRoot(ingress(spec), 'a.b', 'nginx')).toBe(true);
  });

  it('is false without rules, spec or http', () => {
    expect(servesHostRoot(ingress({ ingressClassName: 'nginx' }), 'a.b', 'nginx')).toBe(false);
    expect(servesHostRoot({ metadata: { name: 'x' } }, 'a.b', 'nginx')).toBe(false);
    expect(servesHostRoot(ingress({ rules: [{ host: 'a.b' }] }), 'a.b', 'nginx')).toBe(false);
  });
});

describe('isCanaryIngress', () => {
  it('is true only for canary: "true"', () => {
    expect(isCanaryIngress({ metadata: { annotations: { [CANARY_ANNOTATION]: 'true' } } })).toBe(true);
    expect(isCanaryIngress({ metadata: { annotations: { [CANARY_ANNOTATION]: 'false' } } })).toBe(false);
    expect(isCanaryIngress({ metadata: { annotations: { [CANARY_WEIGHT_ANNOTATION]: '10' } } })).toBe(false);
    expect(isCanaryIngress({ metadata: {} })).toBe(false);
    expect(isCanaryIngress({})).toBe(false);
  });
});

describe('canaryWeightOf', () => {
  const withWeight = (weight?: string): V1Ingress => ({
    metadata: { annotations: weight === undefined ? {} : { [CANARY_WEIGHT_ANNOTATION]: weight } },
  });

  it('reads the weight annotation as a number', () => {
    expect(canaryWeightOf(withWeight('25'))).toBe(25);
    expect(canaryWeightOf(withWeight('100'))).toBe(100);
    expect(canaryWeightOf(withWeight('0'))).toBe(0);
  });

  it('is 0 when the annotation is missing or not a number', () => {
    expect(canaryWeightOf(withWeight())).toBe(0);
    expect(canaryWeightOf(withWeight('abc'))).toBe(0);
    expect(canaryWeightOf({})).toBe(0);
  });
});
