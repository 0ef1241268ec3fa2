import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { ExperimentStatus } from '../../src/contract/experiment.dto';
import type { WebhookEventName } from '../../src/contract/webhook-envelope';
import { planExperiment, type ExperimentPlan } from '../../src/experiments/plan/experiment-plan';
import { canaryService, mainService, variantDeployment, type VariantIdentity } from '../../src/experiments/plan/manifests';
import type { DeploymentSettings } from '../../src/experiments/plan/variant-config';
import type { ExecutionResult } from '../../src/experiments/transitions/experiment.service';
import { ExperimentService } from '../../src/experiments/transitions/experiment.service';
import type { Observed, TransitionRules } from '../../src/experiments/transitions/change-set';
import { ChangeWriter } from '../../src/experiments/transitions/change-writer';
import { rollout } from '../../src/experiments/transitions/rollout';
import { refuseOvertaken, routeWritesFenced } from '../../src/experiments/transitions/route-fence';
import { KubeVersionConflictError } from '../../src/kubernetes/kube-errors';
import type { KubeResourcesService } from '../../src/kubernetes/kube-resources.service';
import { withAppliedHash } from '../../src/kubernetes/object-diff';
import { MetricsService } from '../../src/metrics/metrics.service';
import { APPLIED_FOR_ANNOTATION } from '../../src/naming/labels';
import { canaryIngress, mainIngress } from '../../src/traffic/nginx-ingress';
import { NginxRouter } from '../../src/traffic/nginx.router';
import type { RouteState, TrafficRouter } from '../../src/traffic/traffic-router';
import type { WorkloadState } from '../../src/workloads/workload-state';
import { CONTROL_ID, EXPERIMENT_ID, ROUTE_SCOPE, TEST1_ID, WORKSPACE, experimentDto, routing } from './fixtures';

/**
 * Writing a rollout's route and its record at the same time (transitions/route-fence.ts): which
 * ChangeSets may, the stamp on the routes that carry the weights, the precondition on every route
 * update, and the refusal to write an older state over a newer one.
 */

const NS = 'mumbai';
const EARLIER = '2026-08-20T07:37:40.100000Z';
const NOW = '2026-08-20T07:37:41.100001Z';
const LATER = '2026-08-20T07:37:42.100002Z';
const CONTROL_SETTINGS: DeploymentSettings = { replicas: 1, image: 'nginx:1.25', port: 80, env: [] };
const TEST1_SETTINGS: DeploymentSettings = { replicas: 1, image: 'nginx:1.27', port: 8080, env: [] };
const AVAILABLE: WorkloadState = { phase: 'available' };
const router = new NginxRouter({} as KubeResourcesService, 'nginx');
const rules: TransitionRules = { router, readinessGate: false, scaleDownDelaySeconds: 0, now: Date.parse(NOW) };

/** `lastModified` null: a state without one. */
function plan(
  status: ExperimentStatus = 'INPROGRESS',
  lastModified: string | null = NOW,
  event: WebhookEventName = 'ExperimentInprogress',
): ExperimentPlan {
  const experiment = { ...experimentDto({ status, traffic: 30, chosen: status === 'CONCLUDED' ? TEST1_ID : undefined }) };
  if (lastModified === null) delete experiment.last_modified;
  else experiment.last_modified = lastModified;
  return planExperiment(event, WORKSPACE, experiment, { routing: routing(), maxCanaries: 1 });
}

const id = (variantId: string): VariantIdentity => ({ namespace: NS, service: WORKSPACE, experimentId: EXPERIMENT_ID, variantId });

/** As the API server holds it after Mayday applied it: hash annotation, uid, resourceVersion. */
function live<T extends KubernetesObject>(object: T, resourceVersion = '100'): T {
  const applied = withAppliedHash(object);
  return { ...applied, metadata: { ...applied.metadata, uid: `uid-${object.metadata?.name}`, resourceVersion } };
}

/** The live canary Ingress at `weight`, written for the state `appliedFor` (undefined: before stamps existed). */
const liveCanaryIngress = (weight: number, appliedFor?: string, experimentId = EXPERIMENT_ID) =>
  live(
    canaryIngress(
      { ...ROUTE_SCOPE, experimentId, appliedFor },
      { variantId: TEST1_ID, serviceName: `nginxservice-service-${TEST1_ID}`, weight },
      'nginx',
    ),
    '200',
  );

/** A running experiment: everything deployed as applied, the routes as given. */
function running(ingresses: KubernetesObject[]): Observed {
  const canaryDeployment = live(variantDeployment(id(TEST1_ID), TEST1_SETTINGS, 'canary'));
  return {
    mainService: live(mainService(id(CONTROL_ID), CONTROL_SETTINGS.port)),
    deployments: [live(variantDeployment(id(CONTROL_ID), CONTROL_SETTINGS, 'stable')), canaryDeployment],
    services: [live(canaryService(id(TEST1_ID), TEST1_SETTINGS.port))],
    named: new Map(),
    routes: { provider: 'nginx', ingresses } as RouteState,
    settings: new Map([[TEST1_ID, TEST1_SETTINGS]]),
    workloadStates: new Map([[canaryDeployment.metadata!.name!, AVAILABLE]]),
  };
}

const liveMainIngress = () => live(mainIngress(ROUTE_SCOPE, 'nginx'));

describe('the route stamp', () => {
  it("is on the canary Ingress a rollout writes (its state's last_modified), never on the main Ingress", () => {
    const changes = rollout(plan(), running([]), rules);
    const [main, canary] = changes.routes!.writes.map((write) => write.desired);
    expect(main.metadata?.annotations?.[APPLIED_FOR_ANNOTATION]).toBeUndefined();
    expect(canary.metadata?.annotations?.[APPLIED_FOR_ANNOTATION]).toBe(NOW);
  });

  it('makes a new state rewrite the canary Ingress even at the same weight (a write another replica can be fenced by)', () => {
    const changes = rollout(plan(), running([liveMainIngress(), liveCanaryIngress(30, EARLIER)]), rules);
    expect(changes.routes!.writes.map((write) => write.live !== undefined)).toEqual([true, true]);
    const [main, canary] = changes.routes!.writes;
    expect(withAppliedHash(main.desired).metadata?.annotations).toEqual(main.live!.metadata?.annotations);
    expect(withAppliedHash(canary.desired).metadata?.annotations).not.toEqual(canary.live!.metadata?.annotations);
  });
});

describe('refuseOvertaken', () => {
  it('refuses (a version conflict: judged again) a rollout over a canary Ingress written for a newer state of the same experiment', () => {
    const changes = rollout(plan(), running([liveMainIngress(), liveCanaryIngress(20, LATER)]), rules);
    expect(() => refuseOvertaken(plan(), changes)).toThrow(KubeVersionConflictError);
    expect(() => refuseOvertaken(plan(), changes)).toThrow(/newer than this event's/);
  });

  it('lets an equal or older state, or an unstamped route through', () => {
    for (const ingress of [liveCanaryIngress(20, EARLIER), liveCanaryIngress(30, NOW), liveCanaryIngress(20)]) {
      expect(() => refuseOvertaken(plan(), rollout(plan(), running([liveMainIngress(), ingress]), rules))).not.toThrow();
    }
  });

  it('compares only stamps of the same experiment', () => {
    const changes = rollout(plan(), running([liveMainIngress(), liveCanaryIngress(20, EARLIER)]), rules);
    const [main, canary] = changes.routes!.writes;
    const anothers = {
      ...changes,
      routes: { ...changes.routes!, writes: [main, { ...canary, live: liveCanaryIngress(20, LATER, '7350102648234549999') }] },
    };
    expect(() => refuseOvertaken(plan(), anothers)).not.toThrow();
  });

  it('never refuses a state without a readable last_modified (nothing to order by)', () => {
    const unordered = plan('INPROGRESS', null);
    const changes = rollout(unordered, running([liveMainIngress(), liveCanaryIngress(20, LATER)]), rules);
    expect(() => refuseOvertaken(unordered, changes)).not.toThrow();
  });
});

describe('routeWritesFenced and ChangeWriter.expected: when the record may be written alongside the route', () => {
  const writer = new ChangeWriter({} as KubeResourcesService, new MetricsService());

  it('a ramp or a pause of a running experiment: only the stamped canary Ingress is updated, under a precondition', () => {
    for (const next of [plan(), plan('PAUSED', NOW, 'ExperimentPaused')]) {
      const changes = rollout(next, running([liveMainIngress(), liveCanaryIngress(10, EARLIER)]), rules);
      expect(routeWritesFenced(next, changes)).toBe(true);
      expect(writer.expected(changes)!.actions.map((action) => `${action.action} ${action.kind} ${action.name}`)).toEqual([
        `unchanged Deployment nginxservice-dep-${TEST1_ID}`,
        `unchanged Service nginxservice-service-${TEST1_ID}`,
        'unchanged Ingress nginxservice',
        `updated Ingress nginxservice-ingress-${TEST1_ID}`,
      ]);
    }
  });

  it('not when a route object is created (nothing to name a resourceVersion of): the record follows the writes', () => {
    const changes = rollout(plan(), running([liveMainIngress()]), rules);
    expect(routeWritesFenced(plan(), changes)).toBe(false);
    expect(writer.expected(changes)).toBeUndefined();
  });

  it('not when a workload is written, nor for a state without last_modified, a promotion or a rollback', () => {
    const observed = running([liveMainIngress(), liveCanaryIngress(10, EARLIER)]);
    const newImage = rollout(plan(), { ...observed, settings: new Map([[TEST1_ID, { ...TEST1_SETTINGS, image: 'nginx:1.28' }]]) }, rules);
    expect(routeWritesFenced(plan(), newImage)).toBe(true);
    expect(writer.expected(newImage)).toBeUndefined();
    const unordered = plan('INPROGRESS', null);
    expect(routeWritesFenced(unordered, rollout(unordered, observed, rules))).toBe(false);
    expect(routeWritesFenced(plan('CONCLUDED', NOW, 'ExperimentConcluded'), rollout(plan(), observed, rules))).toBe(false);
  });

  it('not when a route object is deleted (header routing removes a paused canary’s Ingress)', () => {
    const byHeader = new NginxRouter({} as KubeResourcesService, 'nginx', { mode: 'header', header: 'x-superposition-variant' });
    const paused = plan('PAUSED', NOW, 'ExperimentPaused');
    const changes = rollout(paused, running([liveMainIngress(), liveCanaryIngress(10, EARLIER)]), { ...rules, router: byHeader });
    expect(changes.routes!.deletes).toHaveLength(1);
    expect(routeWritesFenced(paused, changes)).toBe(false);
    expect(writer.expected(changes)).toBeUndefined();
  });
});

/** A KubeResourcesService whose route applies wait for `release`, and that records what each apply named. */
function gatedKube() {
  const applied: string[] = [];
  let release!: (outcome?: Error) => void;
  const gate = new Promise<Error | undefined>((resolve) => (release = resolve));
  const kube = {
    apply: async (object: KubernetesObject) => {
      const failure = await gate;
      applied.push(`${object.kind} ${object.metadata?.name} uid=${object.metadata?.uid} rv=${object.metadata?.resourceVersion}`);
      if (failure) throw failure;
      return object;
    },
  };
  return { kube: kube as unknown as KubeResourcesService, applied, release };
}

function experimentService(kube: KubeResourcesService): ExperimentService {
  const config = { safety: { scaleDownDelaySeconds: 0 }, routing: routing() };
  return new ExperimentService(
    kube,
    {} as never,
    config as never,
    { enabled: false } as never,
    new MetricsService(),
    router as TrafficRouter,
  );
}

describe('ExperimentService.execute', () => {
  it('writes the record while a ramp’s route update (naming the uid and resourceVersion read) is still on its way', async () => {
    const { kube, applied, release } = gatedKube();
    let recorded: ExecutionResult | undefined;
    const executing = experimentService(kube).execute(
      plan(),
      running([liveMainIngress(), liveCanaryIngress(10, EARLIER)]),
      async (result) => {
        recorded = result;
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(applied).toEqual([]);
    expect(recorded?.actions.filter((action) => action.action === 'updated').map((action) => action.name)).toEqual([
      `nginxservice-ingress-${TEST1_ID}`,
    ]);
    release();
    await executing;
    expect(applied).toEqual([`Ingress nginxservice-ingress-${TEST1_ID} uid=uid-nginxservice-ingress-${TEST1_ID} rv=200`]);
  });

  it('fails with the route’s conflict once both writes settled, the record written or not', async () => {
    const { kube, release } = gatedKube();
    let recordDone = false;
    const executing = experimentService(kube).execute(plan(), running([liveMainIngress(), liveCanaryIngress(10, EARLIER)]), async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      recordDone = true;
    });
    release(new KubeVersionConflictError('the object has been modified', 409, 'Conflict'));
    await expect(executing).rejects.toBeInstanceOf(KubeVersionConflictError);
    expect(recordDone).toBe(true);
  });

  it('writes the record only after the writes when a route object is created', async () => {
    const { kube, applied, release } = gatedKube();
    let recordedAfter: string[] | undefined;
    const executing = experimentService(kube).execute(plan(), running([liveMainIngress()]), async () => {
      recordedAfter = [...applied];
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(recordedAfter).toBeUndefined();
    release();
    await executing;
    expect(recordedAfter).toEqual([`Ingress nginxservice-ingress-${TEST1_ID} uid=undefined rv=undefined`]);
  });
});
