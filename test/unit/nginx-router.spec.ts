import { CONSENT_ANNOTATION } from '../../src/naming/labels';
import type { V1Ingress } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ConsentRequiredError, ForeignObjectError, UnprocessableEventError } from '../../src/common/errors';
import { canaryIngress, mainIngress } from '../../src/traffic/nginx-ingress';
import { NginxRouter } from '../../src/traffic/nginx.router';
import type { CanaryRoute, RouteChange, RouteState } from '../../src/traffic/traffic-router';
import { EXPERIMENT_ID, ROUTE_SCOPE, TEST1_ID, TEST2_ID, clone } from './fixtures';

const SCOPE = ROUTE_SCOPE;
const OTHER_EXPERIMENT = '7350102648234549999';
const MAIN_NAME = 'nginxservice';
const CANARY1_NAME = `nginxservice-ingress-${TEST1_ID}`;
const CANARY2_NAME = `nginxservice-ingress-${TEST2_ID}`;
const SVC1 = `nginxservice-service-${TEST1_ID}`;
const SVC2 = `nginxservice-service-${TEST2_ID}`;

const canary = (variantId: string, weight: number): CanaryRoute => ({
  variantId,
  serviceName: `nginxservice-service-${variantId}`,
  weight,
});

const state = (ingresses: V1Ingress[]): RouteState => ({ provider: 'nginx', ingresses }) as RouteState;

/** What the API server returns for an Ingress Mayday wrote. */
function live<T extends V1Ingress>(ingress: T): T {
  const copy = clone(ingress);
  copy.metadata = { ...copy.metadata, resourceVersion: '7', uid: `uid-${copy.metadata?.name}` };
  return copy;
}

const ownMain = () => live(mainIngress(SCOPE, 'nginx'));
const ownCanary = (variantId: string, weight: number) => live(canaryIngress(SCOPE, canary(variantId, weight), 'nginx'));

/** An Ingress someone else made (no Mayday labels). */
function userIngress(
  name: string,
  options: { host?: string; path?: string; className?: string; legacyClass?: string; canaryWeight?: string; consent?: boolean } = {},
): V1Ingress {
  // The owner's consent for this workspace, unless a test leaves it out.
  const annotations: Record<string, string> = options.consent === false ? {} : { [CONSENT_ANNOTATION]: SCOPE.service };
  if (options.legacyClass) annotations['kubernetes.io/ingress.class'] = options.legacyClass;
  if (options.canaryWeight !== undefined) {
    annotations['nginx.ingress.kubernetes.io/canary'] = 'true';
    annotations['nginx.ingress.kubernetes.io/canary-weight'] = options.canaryWeight;
  }
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'mumbai', labels: { app: 'frontend' }, annotations, resourceVersion: '3' },
    spec: {
      ...(options.className !== undefined || options.legacyClass ? {} : { ingressClassName: 'nginx' }),
      ...(options.className !== undefined ? { ingressClassName: options.className } : {}),
      rules: [
        {
          host: options.host ?? SCOPE.host,
          http: {
            paths: [{ path: options.path ?? '/', pathType: 'Prefix', backend: { service: { name: 'frontend', port: { number: 8080 } } } }],
          },
        },
      ],
    },
  };
}

/** A canary Ingress Mayday made for another experiment on the same service. */
function otherExperimentCanary(host = SCOPE.host): V1Ingress {
  const scope = { ...SCOPE, experimentId: OTHER_EXPERIMENT, host };
  return live(canaryIngress(scope, canary(`${OTHER_EXPERIMENT}-test1`, 30), 'nginx'));
}

const names = (objects: { metadata?: { name?: string } }[]) => objects.map((object) => object.metadata?.name);
const desiredNames = (change: RouteChange) => change.writes.map((write) => write.desired.metadata?.name);

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

const router = new NginxRouter(undefined as never, 'nginx');

describe('NginxRouter', () => {
  it('is the nginx provider and splits over one canary at most', () => {
    expect(router.provider).toBe('nginx');
    expect(router.maxCanaries).toBe(1);
  });

  describe('planRoutes: the main Ingress', () => {
    it('creates the main Ingress, then the canary, when no Ingress exists', () => {
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([]));
      expect(change.writes).toEqual([
        { desired: mainIngress(SCOPE, 'nginx') },
        { desired: canaryIngress(SCOPE, canary(TEST1_ID, 10), 'nginx'), live: undefined },
      ]);
      expect(change.writes[0].live).toBeUndefined();
      expect(change.deletes).toEqual([]);
      expect(change.previousWeights).toEqual(new Map());
    });

    it('does not create it when a user Ingress of the same class serves host and /', () => {
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([userIngress('frontend')]));
      expect(desiredNames(change)).toEqual([CANARY1_NAME]);
      expect(change.deletes).toEqual([]);
    });

    it("refuses a user's main Ingress without its owner's consent for this workspace, naming it and the annotation", () => {
      for (const annotations of [undefined, { [CONSENT_ANNOTATION]: 'another-workspace' }]) {
        const theirs = userIngress('frontend', { consent: false });
        if (annotations) theirs.metadata!.annotations = annotations;
        const error = thrown(() => router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([theirs])));
        expect(error).toBeInstanceOf(ConsentRequiredError);
        expect(error.message).toContain('Ingress mumbai/frontend');
        expect(error.message).toContain(`${CONSENT_ANNOTATION}: "${SCOPE.service}"`);
      }
    });

    it('does not create it when a user Ingress of the legacy class annotation, or without a class, serves it', () => {
      const legacy = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([userIngress('frontend', { legacyClass: 'nginx' })]));
      expect(desiredNames(legacy)).toEqual([CANARY1_NAME]);
      const noClass = userIngress('frontend');
      delete noClass.spec!.ingressClassName;
      expect(desiredNames(router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([noClass])))).toEqual([CANARY1_NAME]);
    });

    it("uses a user's own main Ingress named like Mayday's when it serves host and / (and refuses one that does not)", () => {
      const theirs = userIngress(MAIN_NAME);
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([theirs]));
      expect(desiredNames(change)).toEqual([CANARY1_NAME]);
      const elsewhere = userIngress(MAIN_NAME, { host: 'other.example' });
      expect(thrown(() => router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([elsewhere])))).toBeInstanceOf(ForeignObjectError);
    });

    it('creates it when the user Ingress is of another class', () => {
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([userIngress('frontend', { className: 'traefik' })]));
      expect(desiredNames(change)).toEqual([MAIN_NAME, CANARY1_NAME]);
      expect(change.writes[0]).toEqual({ desired: mainIngress(SCOPE, 'nginx') });
    });

    it('creates it when the user Ingress serves another host, or only another path', () => {
      const otherHost = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([userIngress('frontend', { host: 'www.example.com' })]));
      expect(desiredNames(otherHost)).toEqual([MAIN_NAME, CANARY1_NAME]);
      const apiOnly = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([userIngress('frontend', { path: '/api' })]));
      expect(desiredNames(apiOnly)).toEqual([MAIN_NAME, CANARY1_NAME]);
    });

    it('does not count a canary Ingress as serving the main path', () => {
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([ownCanary(TEST1_ID, 5)]));
      expect(desiredNames(change)).toEqual([MAIN_NAME, CANARY1_NAME]);
    });

    it('updates its own main Ingress, with the live one attached', () => {
      const liveMain = ownMain();
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([liveMain]));
      expect(change.writes[0]).toEqual({ desired: mainIngress(SCOPE, 'nginx'), live: liveMain });
      expect(change.writes[0].live).toBe(liveMain);
    });

    it('updates its own main Ingress even when a user Ingress also serves the host', () => {
      const liveMain = ownMain();
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([userIngress('frontend'), liveMain]));
      expect(change.writes[0].live).toBe(liveMain);
      expect(desiredNames(change)).toEqual([MAIN_NAME, CANARY1_NAME]);
    });

    it('updates its own main Ingress made by an earlier experiment (labels move to this one)', () => {
      const earlier = live(mainIngress({ ...SCOPE, experimentId: OTHER_EXPERIMENT }, 'nginx'));
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([earlier]));
      expect(change.writes[0]).toEqual({ desired: mainIngress(SCOPE, 'nginx'), live: earlier });
    });

    it('refuses a foreign Ingress named like the main Ingress', () => {
      const foreign = userIngress(MAIN_NAME, { host: 'www.example.com' });
      const error = thrown(() => router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([foreign])));
      expect(error).toBeInstanceOf(ForeignObjectError);
      expect(error.message).toBe('Ingress mumbai/nginxservice exists and was not made by Mayday; it is never overwritten');
    });

    it('leaves a foreign Ingress named like the main one alone when another Ingress serves the main path', () => {
      const foreign = userIngress(MAIN_NAME, { host: 'www.example.com' });
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([foreign, userIngress('frontend')]));
      expect(desiredNames(change)).toEqual([CANARY1_NAME]);
    });
  });

  describe('planRoutes: canary Ingresses', () => {
    it('writes its own canary with the live one attached, and reports the live weight', () => {
      const liveCanary = ownCanary(TEST1_ID, 10);
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 25)], state([ownMain(), liveCanary]));
      expect(change.writes[1]).toEqual({ desired: canaryIngress(SCOPE, canary(TEST1_ID, 25), 'nginx'), live: liveCanary });
      expect(change.writes[1].desired.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight']).toBe('25');
      expect(change.deletes).toEqual([]);
      expect(change.previousWeights).toEqual(new Map([[SVC1, 10]]));
    });

    it('writes a paused canary at weight 0', () => {
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 0)], state([ownMain(), ownCanary(TEST1_ID, 10)]));
      expect(change.writes[1].desired.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight']).toBe('0');
      expect(change.deletes).toEqual([]);
    });

    it('refuses a foreign Ingress named like the canary Ingress', () => {
      const foreign = userIngress(CANARY1_NAME, { host: 'www.example.com' });
      const error = thrown(() => router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([foreign])));
      expect(error).toBeInstanceOf(ForeignObjectError);
      expect(error.message).toBe(`Ingress mumbai/${CANARY1_NAME} exists and was not made by Mayday; it is never overwritten`);
    });

    it('refuses when another experiment holds the canary for the host ("one canary")', () => {
      const other = otherExperimentCanary();
      const error = thrown(() => router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([ownMain(), other])));
      expect(error).toBeInstanceOf(UnprocessableEventError);
      expect(error).not.toBeInstanceOf(ForeignObjectError);
      expect(error.message).toBe(
        `ingress-nginx honours one canary Ingress per host and path, and Ingress mumbai/${other.metadata!.name} ` +
          `(experiment ${OTHER_EXPERIMENT}) already holds the canary for nginxservice.mumbai/`,
      );
    });

    it('refuses when someone other than Mayday holds the canary for the host', () => {
      const theirs = userIngress('frontend-canary', { canaryWeight: '50' });
      const error = thrown(() => router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([userIngress('frontend'), theirs])));
      expect(error).toBeInstanceOf(UnprocessableEventError);
      expect(error.message).toContain('one canary');
      expect(error.message).toBe(
        'ingress-nginx honours one canary Ingress per host and path, and Ingress mumbai/frontend-canary ' +
          '(someone other than Mayday) already holds the canary for nginxservice.mumbai/',
      );
    });

    it('refuses even when this experiment no longer wants a canary (nothing is written before the refusal)', () => {
      expect(() => router.planRoutes(SCOPE, [], state([otherExperimentCanary()]))).toThrow(/one canary/);
    });

    it('ignores canaries of other hosts and other classes', () => {
      const otherHost = otherExperimentCanary('other.mumbai');
      const otherClass = userIngress('traefik-canary', { className: 'traefik', canaryWeight: '50' });
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 10)], state([ownMain(), otherHost, otherClass]));
      expect(desiredNames(change)).toEqual([MAIN_NAME, CANARY1_NAME]);
      expect(change.deletes).toEqual([]);
      expect(change.previousWeights).toEqual(new Map());
    });

    it('deletes its own canary Ingresses that are no longer desired, and reports all live weights', () => {
      const stale = ownCanary(TEST2_ID, 5);
      const kept = ownCanary(TEST1_ID, 10);
      const change = router.planRoutes(SCOPE, [canary(TEST1_ID, 20)], state([ownMain(), kept, stale]));
      expect(desiredNames(change)).toEqual([MAIN_NAME, CANARY1_NAME]);
      expect(change.writes[1].live).toBe(kept);
      expect(change.deletes).toEqual([stale]);
      expect(change.previousWeights).toEqual(
        new Map([
          [SVC1, 10],
          [SVC2, 5],
        ]),
      );
    });

    it('deletes every own canary when no canary is desired, never the main Ingress', () => {
      const liveMain = ownMain();
      const own = ownCanary(TEST1_ID, 10);
      const change = router.planRoutes(SCOPE, [], state([liveMain, own, userIngress('unrelated', { host: 'x.y' })]));
      expect(change.writes).toEqual([{ desired: mainIngress(SCOPE, 'nginx'), live: liveMain }]);
      expect(change.deletes).toEqual([own]);
      expect(names(change.deletes)).toEqual([CANARY1_NAME]);
    });

    it('does not delete a canary of another experiment on another host', () => {
      const otherHost = otherExperimentCanary('other.mumbai');
      const change = router.planRoutes(SCOPE, [], state([ownMain(), otherHost]));
      expect(change.deletes).toEqual([]);
    });
  });

  describe('planFinalize', () => {
    it("deletes this experiment's canary Ingresses only, with their live weights, and writes nothing", () => {
      const own1 = ownCanary(TEST1_ID, 10);
      const own2 = ownCanary(TEST2_ID, 0);
      const ingresses = [
        ownMain(),
        own1,
        otherExperimentCanary('other.mumbai'),
        userIngress('frontend'),
        userIngress('frontend-canary', { host: 'other.mumbai', canaryWeight: '50' }),
        own2,
      ];
      const change = router.planFinalize(SCOPE, state(ingresses));
      expect(change.writes).toEqual([]);
      expect(change.deletes).toEqual([own1, own2]);
      expect(names(change.deletes)).toEqual([CANARY1_NAME, CANARY2_NAME]);
      expect(change.previousWeights).toEqual(
        new Map([
          [SVC1, 10],
          [SVC2, 0],
        ]),
      );
    });

    it('does not delete an Ingress carrying this experiment label that is not a canary (the main one)', () => {
      expect(router.planFinalize(SCOPE, state([ownMain()]))).toEqual({ writes: [], deletes: [], previousWeights: new Map() });
    });

    it('does not delete a foreign canary Ingress that copies the experiment label', () => {
      const copied = userIngress(CANARY1_NAME, { canaryWeight: '10' });
      copied.metadata!.labels = { 'mayday.superposition.io/experiment': EXPERIMENT_ID };
      expect(router.planFinalize(SCOPE, state([copied])).deletes).toEqual([]);
    });

    it('is empty when there are no Ingresses', () => {
      expect(router.planFinalize(SCOPE, state([]))).toEqual({ writes: [], deletes: [], previousWeights: new Map() });
    });
  });
});
