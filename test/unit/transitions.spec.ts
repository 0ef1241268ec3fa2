import type { KubernetesObject, V1Deployment, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ConsentRequiredError, ForeignObjectError, UnprocessableEventError } from '../../src/common/errors';
import type { ExperimentStatus } from '../../src/contract/experiment.dto';
import type { WebhookEventName } from '../../src/contract/webhook-envelope';
import { planExperiment, type ExperimentPlan } from '../../src/experiments/plan/experiment-plan';
import { canaryService, mainService, variantDeployment, type VariantIdentity } from '../../src/experiments/plan/manifests';
import type { DeploymentSettings } from '../../src/experiments/plan/variant-config';
import { namedKey, type ChangeSet, type Observed, type TransitionRules, type Written } from '../../src/experiments/transitions/change-set';
import { promotion } from '../../src/experiments/transitions/promotion';
import { rollback } from '../../src/experiments/transitions/rollback';
import { rollout } from '../../src/experiments/transitions/rollout';
import type { KubeResourcesService } from '../../src/kubernetes/kube-resources.service';
import { actionFor, withAppliedHash, type ObjectAction } from '../../src/kubernetes/object-diff';
import { APP_LABEL, CONSENT_ANNOTATION, FAILED_ANNOTATION, ROLE_LABEL } from '../../src/naming/labels';
import { NginxRouter } from '../../src/traffic/nginx.router';
import type { RouteState } from '../../src/traffic/traffic-router';
import type { WorkloadState } from '../../src/workloads/workload-state';
import { CONTROL_ID, EXPERIMENT_ID, TEST1_ID, TEST2_ID, WORKSPACE, experimentDto, routing } from './fixtures';

/**
 * The transitions' decisions, as ChangeSets (docs/architecture.md, "Transitions"): what is written,
 * in which step, what is deleted when, and what the record and the Events say. Pure: no cluster.
 */

const NS = 'mumbai';
const NOW = Date.parse('2026-08-20T08:00:00Z');
const CONTROL_SETTINGS: DeploymentSettings = { replicas: 1, image: 'nginx:1.25', port: 80, env: [] };
const TEST1_SETTINGS: DeploymentSettings = { replicas: 1, image: 'nginx:1.27', port: 8080, env: [] };
const AVAILABLE: WorkloadState = { phase: 'available' };

const router = new NginxRouter({} as KubeResourcesService, 'nginx');
const rules = (overrides: Partial<TransitionRules> = {}): TransitionRules => ({
  router,
  readinessGate: false,
  scaleDownDelaySeconds: 30,
  now: NOW,
  ...overrides,
});

function plan(event: WebhookEventName, status: ExperimentStatus, chosen?: string): ExperimentPlan {
  return planExperiment(event, WORKSPACE, experimentDto({ status, chosen, traffic: 20 }), { routing: routing(), maxCanaries: 1 });
}
const ROLLOUT = () => plan('ExperimentInprogress', 'INPROGRESS');
const PROMOTE = () => plan('ExperimentConcluded', 'CONCLUDED', TEST1_ID);
const DISCARD = () => plan('ExperimentDiscarded', 'DISCARDED');

const id = (variantId: string, experimentId = EXPERIMENT_ID): VariantIdentity => ({
  namespace: NS,
  service: WORKSPACE,
  experimentId,
  variantId,
});

/** An object as the API server holds it after Mayday applied it. */
function live<T extends KubernetesObject>(object: T, uid = `uid-${object.metadata?.name}`): T {
  const applied = withAppliedHash(object);
  return { ...applied, metadata: { ...applied.metadata, uid } };
}

const controlDeployment = () => live(variantDeployment(id(CONTROL_ID), CONTROL_SETTINGS, 'stable'));
const ownMainService = () => live(mainService(id(CONTROL_ID), CONTROL_SETTINGS.port));
const canaryDeployment = (variantId = TEST1_ID, settings = TEST1_SETTINGS) => live(variantDeployment(id(variantId), settings, 'canary'));
const ownCanaryService = (variantId = TEST1_ID) => live(canaryService(id(variantId), TEST1_SETTINGS.port));
const name = (object: KubernetesObject) => object.metadata!.name!;

function observed(parts: Partial<Observed> = {}): Observed {
  return {
    deployments: [],
    services: [],
    named: new Map(),
    routes: { provider: 'nginx', ingresses: [] } as RouteState,
    settings: new Map([
      [CONTROL_ID, CONTROL_SETTINGS],
      [TEST1_ID, TEST1_SETTINGS],
    ]),
    workloadStates: new Map([[name(canaryDeployment()), AVAILABLE]]),
    ...parts,
  };
}

/** What the ChangeWriter would report for a ChangeSet when every write succeeds (created objects get a uid). */
function writtenFor(changes: ChangeSet): Written {
  const applied = (desired: KubernetesObject, live?: KubernetesObject): ObjectAction =>
    live
      ? actionFor(live, 'updated')
      : actionFor({ ...desired, metadata: { ...desired.metadata, uid: `new-${name(desired)}` } }, 'created');
  const deleted = changes.deletes.map((object) => actionFor(object, 'deleted'));
  const main = changes.mainService;
  return {
    actions: [
      ...changes.workloads.map(({ desired, live }) => applied(desired, live)),
      ...changes.relabels.map(({ object }) => actionFor(object, 'updated')),
      ...(main ? ['desired' in main ? applied(main.desired, main.live) : actionFor(main.service, 'updated')] : []),
      ...(changes.routes?.writes ?? []).map(({ desired, live }) => applied(desired, live)),
      ...(changes.routes?.deletes ?? []).map((object) => actionFor(object, 'deleted')),
      ...deleted,
    ],
    deleted,
  };
}

const names = (objects: { desired: KubernetesObject }[] | KubernetesObject[]) =>
  objects.map((item) => ('desired' in item ? `${item.desired.kind} ${name(item.desired)}` : `${item.kind} ${name(item)}`));

describe('rollout', () => {
  it('on an empty namespace creates the main path and the canary, then routes to them, deleting nothing', () => {
    const changes = rollout(ROLLOUT(), observed(), rules());
    expect(names(changes.workloads)).toEqual([
      `Deployment nginxservice-dep-${CONTROL_ID}`,
      'Service nginxservice',
      `Deployment nginxservice-dep-${TEST1_ID}`,
      `Service nginxservice-service-${TEST1_ID}`,
    ]);
    expect(changes.workloads.every(({ live }) => live === undefined)).toBe(true);
    expect(changes.workloads[0].desired.metadata?.labels?.[ROLE_LABEL]).toBe('stable');
    expect(names(changes.routes!.writes)).toEqual(['Ingress nginxservice', `Ingress nginxservice-ingress-${TEST1_ID}`]);
    expect(changes.deletes).toEqual([]);
    expect(changes.canaries).toEqual([{ variantId: TEST1_ID, weight: 20, state: AVAILABLE }]);
    expect(changes.record).toEqual({ phase: 'applied' });
    const events = changes.events(writtenFor(changes));
    expect(events.map((event) => event.reason)).toEqual(['CanaryCreated', 'WeightChanged']);
    expect(events[0].regarding.uid).toBe(`new-nginxservice-dep-${TEST1_ID}`);
  });

  it('leaves an existing main path alone and keeps what is as applied', () => {
    const changes = rollout(
      ROLLOUT(),
      observed({ mainService: ownMainService(), deployments: [controlDeployment(), canaryDeployment()], services: [ownCanaryService()] }),
      rules(),
    );
    expect(names(changes.workloads)).toEqual([`Deployment nginxservice-dep-${TEST1_ID}`, `Service nginxservice-service-${TEST1_ID}`]);
    expect(changes.workloads.map(({ live }) => live?.metadata?.uid)).toEqual([
      `uid-nginxservice-dep-${TEST1_ID}`,
      `uid-nginxservice-service-${TEST1_ID}`,
    ]);
    expect(changes.deletes).toEqual([]);
  });

  it('with the readiness gate, gives a canary being created or updated weight 0 (waiting)', () => {
    const changes = rollout(ROLLOUT(), observed({ mainService: ownMainService() }), rules({ readinessGate: true }));
    expect(changes.canaries).toEqual([
      { variantId: TEST1_ID, weight: 0, state: { phase: 'waiting', reason: 'the Deployment is being created or updated' } },
    ]);
  });

  it('takes a failing canary out of traffic and marks it once per reason', () => {
    const failed: WorkloadState = { phase: 'failed', reason: 'CrashLoopBackOff: container app restarted 5 times' };
    const deployment = canaryDeployment();
    const seen = observed({
      mainService: ownMainService(),
      deployments: [controlDeployment(), deployment],
      services: [ownCanaryService()],
      workloadStates: new Map([[name(deployment), failed]]),
    });
    const changes = rollout(ROLLOUT(), seen, rules({ readinessGate: true }));
    expect(changes.canaries).toEqual([{ variantId: TEST1_ID, weight: 0, state: failed }]);
    expect(changes.failures).toHaveLength(1);
    expect(changes.failures[0].deployment).toBe(deployment);
    expect(changes.failures[0].annotations[FAILED_ANNOTATION]).toBe(failed.reason);
    expect(changes.events(writtenFor(changes)).map((event) => event.reason)).toContain('CanaryFailed');

    const marked = {
      ...deployment,
      metadata: { ...deployment.metadata, annotations: { ...deployment.metadata!.annotations, ...changes.failures[0].annotations } },
    };
    const again = rollout(ROLLOUT(), { ...seen, deployments: [controlDeployment(), marked] }, rules({ readinessGate: true }));
    expect(again.failures).toEqual([]);
    expect(again.events(writtenFor(again)).map((event) => event.reason)).not.toContain('CanaryFailed');
  });

  it("deletes this experiment's canaries of variants it no longer has, after the routes", () => {
    const gone = canaryDeployment(TEST2_ID);
    const goneService = ownCanaryService(TEST2_ID);
    const changes = rollout(
      ROLLOUT(),
      observed({
        mainService: ownMainService(),
        deployments: [controlDeployment(), canaryDeployment(), gone],
        services: [ownCanaryService(), goneService],
      }),
      rules(),
    );
    expect(changes.deletes).toEqual([goneService, gone]);
  });

  it("refuses while another experiment's canary runs on the service, and writes nothing", () => {
    const other = live(variantDeployment(id('other-test1', 'other'), TEST1_SETTINGS, 'canary'));
    expect(() => rollout(ROLLOUT(), observed({ mainService: ownMainService(), deployments: [other] }), rules())).toThrow(
      UnprocessableEventError,
    );
  });

  it('refuses an object of the same name that Mayday did not make', () => {
    const foreign: V1Deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: `nginxservice-dep-${TEST1_ID}`, namespace: NS },
    };
    const named = new Map([[namedKey('Deployment', name(foreign)), foreign as KubernetesObject]]);
    expect(() => rollout(ROLLOUT(), observed({ mainService: ownMainService(), named }), rules())).toThrow(ForeignObjectError);
  });

  it("refuses a main Service that is not Mayday's without its owner's consent", () => {
    const users: V1Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'nginxservice', namespace: NS },
      spec: { selector: { app: 'web' } },
    };
    expect(() => rollout(ROLLOUT(), observed({ mainService: users }), rules())).toThrow(ConsentRequiredError);
  });
});

describe('promotion', () => {
  const winner = () => canaryDeployment();
  const running = (parts: Partial<Observed> = {}) =>
    observed({
      mainService: ownMainService(),
      deployments: [controlDeployment(), winner()],
      services: [ownCanaryService()],
      workloadStates: new Map([[name(winner()), AVAILABLE]]),
      ...parts,
    });

  it('is pending, and writes nothing, while the winner is not ready to take all traffic', () => {
    const waiting: WorkloadState = { phase: 'waiting', reason: '1 of 3 replicas available' };
    const changes = promotion(PROMOTE(), running({ workloadStates: new Map([[name(winner()), waiting]]) }), rules({ readinessGate: true }));
    expect(changes.workloads).toEqual([]);
    expect(changes.relabels).toEqual([]);
    expect(changes.mainService).toBeUndefined();
    expect(changes.routes).toBeUndefined();
    expect(changes.deletes).toEqual([]);
    expect(changes.record).toEqual({
      phase: 'promotion-pending',
      pendingReason: `Deployment ${NS}/nginxservice-dep-${TEST1_ID} is not ready to take all traffic (1 of 3 replicas available); the promotion completes when it is`,
    });
    const events = changes.events(writtenFor(changes));
    expect(events).toMatchObject([{ reason: 'PromotionPending', type: 'Normal', regarding: { name: name(winner()) } }]);
  });

  it("is pending (a Warning) while a user's Service would send its port to pods that do not serve it", () => {
    const users: V1Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'nginxservice', namespace: NS, annotations: { [CONSENT_ANNOTATION]: WORKSPACE } },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 9999 as never }] },
    };
    const changes = promotion(PROMOTE(), running({ mainService: users }), rules());
    expect(changes.record.phase).toBe('promotion-pending');
    expect(changes.events(writtenFor(changes))[0].type).toBe('Warning');
  });

  it('switches in order: the winner becomes stable, the main Service selects it, the routes follow; the rest is deleted later', () => {
    const changes = promotion(PROMOTE(), running(), rules());
    expect(changes.workloads).toEqual([]);
    expect(changes.relabels).toEqual([{ object: winner(), labels: { [ROLE_LABEL]: 'stable' } }]);
    const main = changes.mainService as { desired: V1Service; live?: V1Service };
    expect(main.desired.spec?.selector).toEqual({ [APP_LABEL]: name(winner()) });
    expect(main.desired.spec?.ports?.[0].targetPort).toBe(TEST1_SETTINGS.port);
    expect(main.live).toEqual(ownMainService());
    expect(names(changes.routes!.writes)).toEqual(['Ingress nginxservice']);
    // Nothing is deleted at the switch: the previous stable and the canary Service keep serving for SCALE_DOWN_DELAY_SECONDS.
    expect(changes.deletes).toEqual([]);
    const scaleDownAt = new Date(NOW + 30_000).toISOString();
    expect(changes.record).toEqual({ phase: 'scale-down-pending', scaleDownAt });
    const events = changes.events(writtenFor(changes));
    expect(events.map((event) => `${event.reason} ${event.regarding.kind}`)).toEqual(['Promoted Deployment', 'Promoted Service']);
    expect(events[0].note).toContain(`keep running until ${scaleDownAt}`);
  });

  it('deletes at once when there is no delay', () => {
    const changes = promotion(PROMOTE(), running(), rules({ scaleDownDelaySeconds: 0 }));
    expect(changes.deletes).toEqual([ownCanaryService(), controlDeployment()]);
    expect(changes.record).toEqual({ phase: 'applied' });
    expect(changes.events(writtenFor(changes)).map((event) => event.reason)).toEqual(['Promoted', 'Promoted']);
  });

  it('after the switch, waits for the recorded time, then deletes what it retires, never what the main Service selects', () => {
    const switchedMain = live(mainService(id(TEST1_ID), TEST1_SETTINGS.port));
    const stableWinner = {
      ...winner(),
      metadata: { ...winner().metadata, labels: { ...winner().metadata!.labels, [ROLE_LABEL]: 'stable' } },
    };
    const after = (scaleDownAt: string) =>
      running({ mainService: switchedMain, deployments: [controlDeployment(), stableWinner], scaleDownAt, workloadStates: new Map() });

    const early = promotion(PROMOTE(), after(new Date(NOW + 10_000).toISOString()), rules());
    expect(early.deletes).toEqual([]);
    expect(early.record).toEqual({ phase: 'scale-down-pending', scaleDownAt: new Date(NOW + 10_000).toISOString() });
    expect(early.events(writtenFor(early))).toEqual([]);

    const due = promotion(PROMOTE(), after(new Date(NOW - 1).toISOString()), rules());
    expect(due.relabels).toEqual([]);
    expect(due.deletes).toEqual([ownCanaryService(), controlDeployment()]);
    expect(due.record).toEqual({ phase: 'applied' });
    const events = due.events(writtenFor(due));
    expect(events).toMatchObject([{ reason: 'ScaledDown', regarding: { name: name(winner()) } }]);
    expect(events[0].note).toBe(
      `deleted after the promotion: Service nginxservice-service-${TEST1_ID}, Deployment nginxservice-dep-${CONTROL_ID}`,
    );
  });

  it("switches a consenting user's Service by its selector instead of applying it", () => {
    const users: V1Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'nginxservice', namespace: NS, annotations: { [CONSENT_ANNOTATION]: WORKSPACE } },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: TEST1_SETTINGS.port as never }] },
    };
    const changes = promotion(PROMOTE(), running({ mainService: users }), rules());
    expect(changes.mainService).toEqual({ service: users, deploymentName: name(winner()) });
  });

  it('deploys a winner whose Deployment never arrived from its config (a canary first, with the readiness gate)', () => {
    const seen = running({
      deployments: [controlDeployment()],
      workloadStates: new Map([[name(winner()), { phase: 'waiting', reason: 'no Deployment' }]]),
    });
    const gated = promotion(PROMOTE(), seen, rules({ readinessGate: true }));
    expect(names(gated.workloads)).toEqual([`Deployment ${name(winner())}`]);
    expect(gated.workloads[0].desired.metadata?.labels?.[ROLE_LABEL]).toBe('canary');
    expect(gated.record.phase).toBe('promotion-pending');

    const ungated = promotion(PROMOTE(), { ...seen, workloadStates: new Map([[name(winner()), AVAILABLE]]) }, rules());
    expect(ungated.workloads[0].desired.metadata?.labels?.[ROLE_LABEL]).toBe('stable');
    expect(ungated.relabels).toEqual([]);
    expect(ungated.mainService).toBeDefined();
  });
});

describe('rollback', () => {
  it("removes this experiment's routes, canary Services and Deployments, and leaves the main path alone", () => {
    const other = live(variantDeployment(id('other-test1', 'other'), TEST1_SETTINGS, 'canary'));
    const seen = observed({
      mainService: ownMainService(),
      deployments: [controlDeployment(), canaryDeployment(), other],
      services: [ownMainService(), ownCanaryService()],
    });
    const changes = rollback(DISCARD(), seen, rules());
    expect(changes.workloads).toEqual([]);
    expect(changes.mainService).toBeUndefined();
    expect(changes.deletes).toEqual([ownCanaryService(), canaryDeployment()]);
    const events = changes.events(writtenFor(changes));
    expect(events).toMatchObject([{ reason: 'RolledBack', regarding: { kind: 'Service', name: 'nginxservice' } }]);
  });

  it('tells nothing when there was nothing to remove', () => {
    const changes = rollback(DISCARD(), observed({ mainService: ownMainService(), deployments: [controlDeployment()] }), rules());
    expect(changes.deletes).toEqual([]);
    expect(changes.events({ actions: [actionFor(ownMainService(), 'unchanged')], deleted: [] })).toEqual([]);
  });
});
