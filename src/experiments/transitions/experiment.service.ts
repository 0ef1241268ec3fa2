import { Inject, Injectable, Logger } from '@nestjs/common';
import type { KubernetesObject, V1Deployment, V1Service } from '@kubernetes/client-node';
import { ConsentRequiredError, ForeignObjectError, hasConsent, UnprocessableEventError } from '../../common/errors';
import { MaydayConfig } from '../../config/mayday-config';
import type { TransitionEvent } from '../../kubernetes/kube-events.service';
import { KubeResourcesService, type ObjectRef } from '../../kubernetes/kube-resources.service';
import { actionFor, isAsApplied, withAppliedHash, type ObjectAction } from '../../kubernetes/object-diff';
import { MetricsService } from '../../metrics/metrics.service';
import { APP_LABEL, EXPERIMENT_LABEL, isManagedByMayday, ownedSelector, ROLE_LABEL, VARIANT_LABEL } from '../../naming/labels';
import { canaryServiceName, deploymentName, labelValue, mainServiceName, SERVICE_PORT } from '../../naming/names';
import type { SuperpositionScope } from '../../superposition/superposition.client';
import { TRAFFIC_ROUTER, type RouteChange, type RouteScope, type RouteState, type TrafficRouter } from '../../traffic/traffic-router';
import { failureMark, markedFailure, type WorkloadState } from '../../workloads/workload-state';
import { WorkloadWatcher } from '../../workloads/workload-watcher.service';
import type { VariantDto } from '../../contract/experiment.dto';
import type { ExperimentEvent } from '../../contract/experiment-event';
import { superpositionScopeOf } from '../plan/superposition-scope';
import { planExperiment, type ExperimentPlan } from '../plan/experiment-plan';
import { canaryService, mainService, variantDeployment, type VariantIdentity } from '../plan/manifests';
import { unservedPort } from '../plan/service-ports';
import {
  pendingPromotionEvents,
  promotionEvents,
  rollbackEvents,
  rolloutEvents,
  scaledDownEvents,
  type CanaryTransition,
} from '../plan/transition-events';
import type { DeploymentSettings } from '../plan/variant-config';
import { VariantConfigResolver } from './variant-config.resolver';

/** One experimental variant's route as this event left it. */
export interface CanaryOutcome {
  variantId: string;
  weight: number;
  state: WorkloadState;
}

/** What converging did: the objects written or deleted, the canaries' weights, and a promotion still to come. */
export interface ExecutionResult {
  actions: ObjectAction[];
  canaries: CanaryOutcome[];
  /** Kubernetes Events describing the transition, for the objects it concerns. */
  events: TransitionEvent[];
  /** Why a conclusion could not switch the main Service yet (the winner is not fully available). */
  pendingPromotion?: string;
  /** The main Service was switched; what the promotion retires is deleted at this time (ISO 8601). */
  scaleDownAt?: string;
}

/** What the plan needs to see of one service (workspace) in one namespace, read before any write. */
export interface Observed {
  /** The main Service `{service}`, Mayday's or not. */
  mainService?: V1Service;
  /** Mayday's Deployments and Services of this workspace in this namespace. */
  deployments: V1Deployment[];
  services: V1Service[];
  /** The provider's live routes. */
  routes: RouteState;
  /** Resolved configs of the experimental variants (rollouts only). */
  settings: ReadonlyMap<string, DeploymentSettings>;
  /** From the record: this conclusion already switched the main Service and scales down at this time. */
  scaleDownAt?: string;
}

/**
 * Drives the experiment lifecycle (docs/contract.md §6): computes the desired state from the
 * experiment's status, reads what is there, checks everything that could refuse the event, and
 * only then writes, in an order that never leaves a route pointing at nothing.
 */
@Injectable()
export class ExperimentService {
  private readonly logger = new Logger(ExperimentService.name);

  constructor(
    private readonly kube: KubeResourcesService,
    private readonly resolver: VariantConfigResolver,
    private readonly config: MaydayConfig,
    private readonly workloads: WorkloadWatcher,
    private readonly metrics: MetricsService,
    @Inject(TRAFFIC_ROUTER) private readonly router: TrafficRouter,
  ) {}

  /** The plan for an event, without touching anything (also used to check scope before handling). */
  plan(event: ExperimentEvent): ExperimentPlan {
    return planExperiment(event.event, event.workspace, event.experiment, {
      routing: this.config.routing,
      maxCanaries: this.router.maxCanaries,
    });
  }

  /**
   * Everything a plan needs to read, in one round of parallel calls: Mayday's objects of the
   * service, the main Service, the live routes, and (for a rollout) the variants' configs from
   * Superposition, except the experimental ones `reusable` settles (applied before, nothing they
   * depend on changed). Writes nothing.
   */
  async prepare(
    plan: ExperimentPlan,
    event: ExperimentEvent,
    reusable: Promise<ReadonlyMap<string, DeploymentSettings>> = Promise.resolve(new Map()),
  ): Promise<Observed> {
    const selector = ownedSelector({ workspace: plan.service });
    const target = { namespace: plan.namespace, service: plan.service, experimentId: plan.experimentId };
    const mainServiceRead = this.kube.read<V1Service>(serviceRef(plan.namespace, mainServiceName(plan.service)));
    const [mainServiceLive, deployments, services, routes, settings] = await Promise.all([
      mainServiceRead,
      this.kube.list<V1Deployment>('apps/v1', 'Deployment', plan.namespace, selector),
      this.kube.list<V1Service>('v1', 'Service', plan.namespace, selector),
      this.router.observe(target),
      plan.kind === 'rollout'
        ? this.rolloutSettings(plan, mainServiceRead, this.superpositionScope(event), reusable)
        : new Map<string, DeploymentSettings>(),
    ]);
    return { mainService: mainServiceLive, deployments, services, routes, settings };
  }

  /**
   * Converges the cluster to a plan that is not `ignore`, from what `prepare` read; says what was
   * done. A rollout runs `alongsideRoutes` (writing the record and the transition's Events) with its
   * route writes, once every check has passed and the workloads exist.
   */
  async execute(
    plan: ExperimentPlan,
    event: ExperimentEvent,
    observed: Observed,
    alongsideRoutes: (events: TransitionEvent[], canaries: CanaryOutcome[]) => Promise<void> = async () => undefined,
  ): Promise<ExecutionResult> {
    const superposition = this.superpositionScope(event);
    switch (plan.kind) {
      case 'rollout':
        return this.rollout(plan, observed, alongsideRoutes);
      case 'promote':
        return this.promote(plan, observed, superposition);
      case 'rollback':
        return this.rollback(plan, observed);
      case 'ignore':
        return { actions: [], canaries: [], events: [] };
    }
  }

  /**
   * The experimental variants' configs, and CONTROL's when the main path is missing (it is made
   * from it), all resolved at the same time: the event's deadline covers them.
   */
  private async rolloutSettings(
    plan: ExperimentPlan,
    mainServiceRead: Promise<V1Service | undefined>,
    superposition: () => SuperpositionScope,
    reusable: Promise<ReadonlyMap<string, DeploymentSettings>>,
  ): Promise<Map<string, DeploymentSettings>> {
    const [experimental, control] = await Promise.all([
      reusable.then((known) => this.settingsFor(plan, plan.experimental, superposition, known)),
      mainServiceRead.then((main) =>
        main ? new Map<string, DeploymentSettings>() : this.settingsFor(plan, [plan.control], superposition),
      ),
    ]);
    return new Map([...experimental, ...control]);
  }

  private async settingsFor(
    plan: ExperimentPlan,
    variants: VariantDto[],
    superposition: () => SuperpositionScope,
    known: ReadonlyMap<string, DeploymentSettings> = new Map(),
  ): Promise<Map<string, DeploymentSettings>> {
    const resolved = await Promise.all(
      variants.map(
        async (variant) =>
          [variant.id, known.get(variant.id) ?? (await this.resolver.settingsFor(superposition(), plan.dimensions, variant))] as const,
      ),
    );
    return new Map(resolved);
  }

  /**
   * INPROGRESS / PAUSED: main path present, every experimental variant deployed. A canary gets the
   * plan's weight only when its Deployment is available (with the readiness gate on); a failing
   * one is marked failed and gets 0 until its variant changes.
   */
  private async rollout(
    plan: ExperimentPlan,
    observed: Observed,
    alongsideRoutes: (events: TransitionEvent[], canaries: CanaryOutcome[]) => Promise<void>,
  ): Promise<ExecutionResult> {
    this.refuseConcurrentExperiment(plan, observed);
    this.requireConsent(plan, observed.mainService);

    // The CONTROL config (resolved by `prepare` only then) is needed to create the main path, when it is missing.
    const needsMainPath = observed.mainService === undefined;
    const settings = observed.settings;

    const desired: KubernetesObject[] = [];
    let newMainService: V1Service | undefined;
    if (needsMainPath) {
      const control = settings.get(plan.control.id)!;
      newMainService = mainService(this.identity(plan, plan.control), control.port);
      desired.push(variantDeployment(this.identity(plan, plan.control), control, 'stable'), newMainService);
    }
    const canaryDeployments = plan.experimental.map((variant) =>
      variantDeployment(this.identity(plan, variant), settings.get(variant.id)!, 'canary'),
    );
    for (const [index, variant] of plan.experimental.entries()) {
      desired.push(canaryDeployments[index], canaryService(this.identity(plan, variant), settings.get(variant.id)!.port));
    }
    const live = await Promise.all(desired.map((object) => this.liveOrRefuse(object, observed)));

    const canaries = plan.experimental.map((variant, index) => {
      const liveDeployment = observed.deployments.find((item) => item.metadata?.name === canaryDeployments[index].metadata!.name);
      // A Deployment this event changes runs a new generation that no controller has seen yet.
      const changes = !isAsApplied(canaryDeployments[index], liveDeployment);
      const state: WorkloadState =
        changes && this.workloads.enabled
          ? { phase: 'waiting', reason: 'the Deployment is being created or updated' }
          : this.workloads.stateOf(liveDeployment);
      const weight = state.phase === 'available' ? plan.canaryWeight : 0;
      return { variantId: variant.id, serviceName: canaryServiceName(plan.service, variant.id), weight, state, liveDeployment };
    });
    const scope = this.routeScope(plan, observed.mainService ?? newMainService, needsMainPath ? plan.control.id : undefined);
    const routes = this.router.planRoutes(scope, canaries, observed.routes);

    // Every check has passed: from here on, write. Workloads and Services before the routes to them.
    const actions = await Promise.all(desired.map((object, index) => this.write(object, live[index])));
    const transitions: CanaryTransition[] = [];
    for (const [index, canary] of canaries.entries()) {
      const newlyFailed =
        canary.state.phase === 'failed' &&
        canary.liveDeployment !== undefined &&
        (await this.markFailed(canary.liveDeployment, canary.state.reason));
      transitions.push({
        variantId: canary.variantId,
        deployment: actions.find((action) => action.kind === 'Deployment' && action.name === canaryDeployments[index].metadata!.name)!,
        previousWeight: routes.previousWeights.get(canary.serviceName) ?? 0,
        weight: canary.weight,
        state: canary.state,
        newlyFailed,
      });
    }
    const events = rolloutEvents(plan, transitions);
    const outcomes = canaries.map(({ variantId, weight, state }) => ({ variantId, weight, state }));
    // The routes, and with them the record and the Events (they need no more than the workloads).
    const [routeActions] = await Promise.all([this.applyRouteChange(routes), alongsideRoutes(events, outcomes)]);
    actions.push(...routeActions);
    const desiredNames = new Set(desired.map((object) => object.metadata?.name));
    const stale = [...observed.services, ...observed.deployments].filter(
      (object) => this.isCanaryOf(object, plan) && !desiredNames.has(object.metadata?.name),
    );
    actions.push(...(await this.removeAll(stale)));
    return { actions, canaries: outcomes, events };
  }

  /**
   * CONCLUDED with an experimental winner, in two steps, like Argo Rollouts' scaleDownDelaySeconds.
   * The switch, once the winner is fully available (with the readiness gate on:
   * PROMOTION_MIN_AVAILABLE_PERCENT of its replicas, of its current generation): the winner is the
   * stable Deployment, the main Service selects its pods, the main route carries everything. Until
   * then the promotion is pending. The scale-down, SCALE_DOWN_DELAY_SECONDS after the switch (so
   * that routers and endpoints catch up while the old pods still serve): canary Services, losing
   * and formerly stable Deployments (Mayday's only) go. Every run converges from wherever the last
   * one stopped; the deadline comes from the record once it was set.
   */
  private async promote(
    plan: ExperimentPlan,
    observed: Observed,
    superposition: () => SuperpositionScope,
    now = Date.now(),
  ): Promise<ExecutionResult> {
    this.requireConsent(plan, observed.mainService);
    const winner = plan.winner!;
    const winnerIdentity = this.identity(plan, winner);
    const winnerName = deploymentName(plan.service, winner.id);
    const winnerLive = observed.deployments.find((deployment) => deployment.metadata?.name === winnerName);
    const switched = observed.scaleDownAt !== undefined;

    // A winner whose Deployment never arrived (its Started event was lost) is deployed from its config.
    let winnerToCreate: V1Deployment | undefined;
    if (!winnerLive) {
      const settings = await this.resolver.settingsFor(superposition(), plan.dimensions, winner);
      winnerToCreate = variantDeployment(winnerIdentity, settings, this.workloads.enabled ? 'canary' : 'stable');
      await this.liveOrRefuse(winnerToCreate, observed);
    }
    const winnerDeployment = (winnerLive ?? winnerToCreate)!;
    const liveMain = observed.mainService;
    if (!switched) {
      const winnerState = this.workloads.promotionStateOf(winnerLive);
      // A Service of the user's keeps its ports: switching it to pods that do not serve them is an outage.
      const unserved = liveMain && !isManagedByMayday(liveMain) ? unservedPort(liveMain, winnerDeployment) : undefined;
      if (winnerState.phase !== 'available' || unserved) {
        const actions = winnerToCreate ? [await this.write(winnerToCreate)] : [];
        const pendingPromotion =
          winnerState.phase !== 'available'
            ? `Deployment ${plan.namespace}/${winnerName} is not ready to take all traffic (${winnerState.reason}); the promotion completes when it is`
            : `${unserved}; the promotion completes once they match`;
        const events = pendingPromotionEvents(
          actions[0] ?? actionFor(winnerLive!, 'unchanged'),
          pendingPromotion,
          unserved ? 'Warning' : 'Normal',
          plan.winner?.id,
        );
        return { actions, canaries: [], pendingPromotion, events };
      }
    }

    const targetPort = containerPortOf(winnerDeployment);
    const winnerSelector = { [APP_LABEL]: winnerName };
    const desiredMain = mainService(winnerIdentity, targetPort);
    const mainForRoutes = observed.mainService ?? desiredMain;
    const routes = this.router.planRoutes(this.routeScope(plan, mainForRoutes, winner.id), [], observed.routes);

    const actions: ObjectAction[] = [];
    if (winnerToCreate) {
      actions.push(await this.write(winnerToCreate));
    } else if (winnerLive!.metadata?.labels?.[ROLE_LABEL] !== 'stable') {
      await this.kube.mergeMetadata(refOf(winnerLive!), { labels: { [ROLE_LABEL]: 'stable' } });
      actions.push(actionFor(winnerLive!, 'updated'));
    }
    if (!liveMain || isManagedByMayday(liveMain)) {
      actions.push(await this.write(desiredMain, liveMain));
    } else if (!sameSelector(liveMain.spec?.selector, winnerSelector)) {
      const patched = await this.kube.replaceServiceSelector(plan.namespace, liveMain.metadata!.name!, winnerSelector);
      if (!sameSelector(patched.spec?.selector, winnerSelector)) {
        throw new UnprocessableEventError(
          `Service ${plan.namespace}/${liveMain.metadata?.name} still selects ${JSON.stringify(patched.spec?.selector)} after the switch to ${winnerName}`,
        );
      }
      actions.push(actionFor(liveMain, 'updated'));
    } else {
      actions.push(actionFor(liveMain, 'unchanged'));
    }
    actions.push(...(await this.applyRouteChange(routes)));
    const winnerAction =
      actions.find((action) => action.kind === 'Deployment' && action.name === winnerName) ?? actionFor(winnerLive!, 'updated');
    const mainAction = actions.find((action) => action.kind === 'Service' && action.name === desiredMain.metadata!.name)!;

    // After the switch, never what the main Service selects (another experiment's winner, if one was promoted meanwhile).
    const serving = switched ? liveMain?.spec?.selector?.[APP_LABEL] : winnerName;
    const retiring = [
      ...observed.services.filter((service) => this.isCanaryOf(service, plan)),
      ...observed.deployments.filter(
        (deployment) =>
          deployment.metadata?.name !== winnerName &&
          deployment.metadata?.name !== serving &&
          (this.isCanaryOf(deployment, plan) || deployment.metadata?.labels?.[ROLE_LABEL] === 'stable'),
      ),
    ];
    const scaleDownAt = observed.scaleDownAt ?? new Date(now + this.config.safety.scaleDownDelaySeconds * 1000).toISOString();
    const due = retiring.length === 0 || Date.parse(scaleDownAt) <= now;
    const scaleDown = due ? undefined : { at: scaleDownAt, objects: retiring.map((object) => `${object.kind} ${object.metadata?.name}`) };
    const events = switched ? [] : promotionEvents(plan, winnerAction, mainAction, scaleDown);
    if (!due) return { actions, canaries: [], events, scaleDownAt };

    const deleted = await this.removeAll(retiring);
    actions.push(...deleted);
    if (switched) events.push(...scaledDownEvents(winnerAction, deleted));
    return { actions, canaries: [], events };
  }

  /** DISCARDED, or CONTROL won: canary routes, Services and Deployments go; the main path stays as it is. */
  private async rollback(plan: ExperimentPlan, observed: Observed): Promise<ExecutionResult> {
    const scope = this.routeScope(plan, observed.mainService, undefined);
    const routes = this.router.planFinalize(scope, observed.routes);
    const actions = await this.applyRouteChange(routes);
    actions.push(...(await this.removeAll(observed.services.filter((service) => this.isCanaryOf(service, plan)))));
    actions.push(...(await this.removeAll(observed.deployments.filter((deployment) => this.isCanaryOf(deployment, plan)))));
    const main = observed.mainService ? actionFor(observed.mainService, 'unchanged') : undefined;
    return { actions, canaries: [], events: rollbackEvents(plan, main, actions) };
  }

  /** Records on the Deployment that it was taken out of traffic, and why (kept until its spec changes). True when new. */
  private async markFailed(deployment: V1Deployment, reason: string): Promise<boolean> {
    if (markedFailure(deployment) === reason) return false;
    await this.kube.mergeMetadata(refOf(deployment), { annotations: failureMark(deployment, reason) });
    this.metrics.canaryFailures.inc({ reason: reason.split(':')[0] });
    this.logger.warn(`canary ${deployment.metadata?.namespace}/${deployment.metadata?.name} taken out of traffic: ${reason}`);
    return true;
  }

  /** A main Service Mayday did not make is used (routed to, switched) only with its owner's consent for this workspace. */
  private requireConsent(plan: ExperimentPlan, main: V1Service | undefined): void {
    if (main && !isManagedByMayday(main) && !hasConsent(main, plan.service)) {
      throw new ConsentRequiredError('Service', plan.namespace, main.metadata!.name!, plan.service);
    }
  }

  /** ingress-nginx and a single main route cannot serve two experiments on one service at once. */
  private refuseConcurrentExperiment(plan: ExperimentPlan, observed: Observed): void {
    const other = observed.deployments.find(
      (deployment) =>
        deployment.metadata?.labels?.[ROLE_LABEL] === 'canary' &&
        deployment.metadata?.labels?.[EXPERIMENT_LABEL] !== labelValue(plan.experimentId),
    );
    if (other) {
      throw new UnprocessableEventError(
        `experiment ${other.metadata?.labels?.[EXPERIMENT_LABEL]} still runs a canary for service "${plan.service}" in namespace ${plan.namespace} ` +
          `(Deployment ${other.metadata?.name}); conclude or discard it first`,
      );
    }
  }

  /** The live object for a desired one: Mayday's own from the lists, else looked up by name (and refused if foreign). */
  private async liveOrRefuse(desired: KubernetesObject, observed: Observed): Promise<KubernetesObject | undefined> {
    const name = desired.metadata!.name!;
    const owned = desired.kind === 'Deployment' ? observed.deployments : observed.services;
    const mine = owned.find((object) => object.metadata?.name === name);
    if (mine) return mine;
    const live =
      desired.kind === 'Service' && name === observed.mainService?.metadata?.name
        ? observed.mainService
        : await this.kube.read(refOf(desired));
    if (live && !isManagedByMayday(live)) throw new ForeignObjectError(desired.kind!, desired.metadata!.namespace!, name);
    return live;
  }

  /** Applies the desired object unless the live one is what Mayday applied for it last (see APPLIED_HASH_ANNOTATION). */
  private async write(desired: KubernetesObject, live?: KubernetesObject): Promise<ObjectAction> {
    if (live && isAsApplied(desired, live)) return actionFor(live, 'unchanged');
    const applied = await this.kube.apply(withAppliedHash(desired));
    return actionFor(applied, live ? 'updated' : 'created');
  }

  private async applyRouteChange(change: RouteChange): Promise<ObjectAction[]> {
    const actions: ObjectAction[] = [];
    for (const { desired, live } of change.writes) actions.push(await this.write(desired, live));
    actions.push(...(await this.removeAll(change.deletes)));
    return actions;
  }

  /** Deletes the listed objects (all Mayday's own, each guarded by its uid); already-gone ones are skipped. */
  private async removeAll(objects: KubernetesObject[]): Promise<ObjectAction[]> {
    const deleted = await Promise.all(
      objects.map(async (object) => ((await this.kube.delete(refOf(object), { uid: object.metadata?.uid })) ? object : undefined)),
    );
    return deleted.filter((object) => object !== undefined).map((object) => actionFor(object, 'deleted'));
  }

  private isCanaryOf(object: KubernetesObject, plan: ExperimentPlan): boolean {
    const labels = object.metadata?.labels ?? {};
    return isManagedByMayday(object) && labels[ROLE_LABEL] === 'canary' && labels[EXPERIMENT_LABEL] === labelValue(plan.experimentId);
  }

  private identity(plan: ExperimentPlan, variant: VariantDto): VariantIdentity {
    return { namespace: plan.namespace, service: plan.service, experimentId: plan.experimentId, variantId: variant.id };
  }

  private routeScope(plan: ExperimentPlan, main: V1Service | undefined, stableVariantId: string | undefined): RouteScope {
    return {
      namespace: plan.namespace,
      service: plan.service,
      experimentId: plan.experimentId,
      host: plan.host,
      mainServiceName: mainServiceName(plan.service),
      mainServicePort: main?.spec?.ports?.[0]?.port ?? SERVICE_PORT,
      stableVariantId: stableVariantId ?? main?.metadata?.labels?.[VARIANT_LABEL] ?? plan.control.id,
      controlVariantId: plan.control.id,
    };
  }

  private superpositionScope(event: ExperimentEvent): () => SuperpositionScope {
    return superpositionScopeOf(this.config, event);
  }
}

function refOf(object: KubernetesObject): ObjectRef {
  return {
    apiVersion: object.apiVersion!,
    kind: object.kind!,
    namespace: object.metadata!.namespace!,
    name: object.metadata!.name!,
  };
}

function serviceRef(namespace: string, name: string): ObjectRef {
  return { apiVersion: 'v1', kind: 'Service', namespace, name };
}

function containerPortOf(deployment: V1Deployment): number {
  return deployment.spec?.template?.spec?.containers?.[0]?.ports?.[0]?.containerPort ?? SERVICE_PORT;
}

function sameSelector(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const keys = Object.keys(a ?? {});
  return keys.length === Object.keys(b).length && keys.every((key) => a![key] === b[key]);
}
