import { Inject, Injectable } from '@nestjs/common';
import type { KubernetesObject, V1Deployment, V1Service } from '@kubernetes/client-node';
import { MaydayConfig } from '../../config/mayday-config';
import type { ExperimentEvent } from '../../contract/experiment-event';
import type { VariantDto } from '../../contract/experiment.dto';
import type { TransitionEvent } from '../../kubernetes/kube-events.service';
import { KubeResourcesService, type ObjectRef } from '../../kubernetes/kube-resources.service';
import type { ObjectAction } from '../../kubernetes/object-diff';
import { MetricsService } from '../../metrics/metrics.service';
import { ownedSelector } from '../../naming/labels';
import { deploymentName, mainServiceName } from '../../naming/names';
import type { SuperpositionScope } from '../../superposition/superposition.client';
import { TRAFFIC_ROUTER, type TrafficRouter } from '../../traffic/traffic-router';
import type { WorkloadState } from '../../workloads/workload-state';
import { WorkloadWatcher } from '../../workloads/workload-watcher.service';
import { planExperiment, type ExperimentPlan } from '../plan/experiment-plan';
import { superpositionScopeOf } from '../plan/superposition-scope';
import type { DeploymentSettings } from '../plan/variant-config';
import { namedKey, type CanaryOutcome, type ChangeSet, type Observed, type RecordChange, type Written } from './change-set';
import { ChangeWriter } from './change-writer';
import { objectsToCheck } from './plan-objects';
import { promotion } from './promotion';
import { rollback } from './rollback';
import { rollout } from './rollout';
import { refuseOvertaken, routeWritesFenced } from './route-fence';
import { VariantConfigResolver } from './variant-config.resolver';

/** What converging did: the objects written or deleted, the canaries' weights, the Events, and the record's phase. */
export interface ExecutionResult {
  actions: ObjectAction[];
  canaries: CanaryOutcome[];
  /** Kubernetes Events describing the transition, for the objects it concerns. */
  events: TransitionEvent[];
  /** A promotion still waiting for its winner, or a scale-down still to come (docs/contract.md §6). */
  record: RecordChange;
}

/**
 * The entry for the experiment lifecycle's transitions (docs/contract.md §6, docs/architecture.md):
 * reads what a plan needs (`prepare`), lets the plan's transition (rollout, promotion, rollback:
 * pure functions) decide a ChangeSet, which refuses the event before anything is written, and has
 * the ChangeWriter write it.
 */
@Injectable()
export class ExperimentService {
  private readonly writer: ChangeWriter;

  constructor(
    private readonly kube: KubeResourcesService,
    private readonly resolver: VariantConfigResolver,
    private readonly config: MaydayConfig,
    private readonly workloads: WorkloadWatcher,
    metrics: MetricsService,
    @Inject(TRAFFIC_ROUTER) private readonly router: TrafficRouter,
  ) {
    this.writer = new ChangeWriter(kube, metrics);
  }

  /** The plan for an event, without touching anything (also used to check scope before handling). */
  plan(event: ExperimentEvent): ExperimentPlan {
    return planExperiment(event.event, event.workspace, event.experiment, {
      routing: this.config.routing,
      maxCanaries: this.router.maxCanaries,
    });
  }

  /**
   * Everything a plan's transition needs to read: Mayday's objects of the service, the main
   * Service, the live routes, and the variants' configs from Superposition (a rollout's, except the
   * experimental ones `reusable` settles: applied before, nothing they depend on changed; a
   * promotion's winner when its Deployment is missing), in one round of parallel calls; then the
   * objects it would create that are not Mayday's (to refuse a foreign one) and the workloads'
   * states. Writes nothing.
   */
  async prepare(
    plan: ExperimentPlan,
    event: ExperimentEvent,
    reusable: Promise<ReadonlyMap<string, DeploymentSettings>> = Promise.resolve(new Map()),
  ): Promise<Observed> {
    const selector = ownedSelector({ workspace: plan.service });
    const target = { namespace: plan.namespace, service: plan.service, experimentId: plan.experimentId };
    const superposition = superpositionScopeOf(this.config, event);
    const mainName = mainServiceName(plan.service);
    const mainServiceRead = this.kube.read<V1Service>(ref('v1', 'Service', plan.namespace, mainName));
    const ownRead = Promise.all([
      this.kube.list<V1Deployment>('apps/v1', 'Deployment', plan.namespace, selector),
      this.kube.list<V1Service>('v1', 'Service', plan.namespace, selector),
    ]);
    // The names checked for someone else's objects are read alongside the main Service, as if it were missing
    // (then the CONTROL Deployment would be created too): one read more at worst, one round trip less.
    const namedRead = ownRead.then(([deployments, services]) =>
      Promise.all(
        objectsToCheck(plan, { mainService: undefined, deployments, services }).map(async ({ kind, name }) => {
          const apiVersion = kind === 'Deployment' ? 'apps/v1' : 'v1';
          return [namedKey(kind, name), await this.kube.read<KubernetesObject>(ref(apiVersion, kind, plan.namespace, name))] as const;
        }),
      ),
    );
    namedRead.catch(() => undefined);
    const [mainService, [deployments, services], routes, settings] = await Promise.all([
      mainServiceRead,
      ownRead,
      this.router.observe(target),
      plan.kind === 'rollout'
        ? this.rolloutSettings(plan, mainServiceRead, superposition, reusable)
        : new Map<string, DeploymentSettings>(),
    ]);

    const winnerName = plan.kind === 'promote' ? deploymentName(plan.service, plan.winner!.id) : undefined;
    const winnerLive = deployments.find((deployment) => deployment.metadata?.name === winnerName);
    const [named, winnerSettings] = await Promise.all([
      namedRead,
      plan.kind === 'promote' && !winnerLive
        ? this.settingsFor(plan, [plan.winner!], superposition)
        : new Map<string, DeploymentSettings>(),
    ]);

    const workloadStates = new Map<string, WorkloadState>();
    if (plan.kind === 'rollout') {
      for (const variant of plan.experimental) {
        const name = deploymentName(plan.service, variant.id);
        workloadStates.set(name, this.workloads.stateOf(deployments.find((deployment) => deployment.metadata?.name === name)));
      }
    } else if (winnerName) {
      workloadStates.set(winnerName, this.workloads.promotionStateOf(winnerLive));
    }
    return {
      mainService,
      deployments,
      services,
      named: new Map([[namedKey('Service', mainName), mainService], ...named]),
      routes,
      settings: new Map([...settings, ...winnerSettings]),
      workloadStates,
    };
  }

  /**
   * Converges the cluster to a plan that is not `ignore`, from what `prepare` read, then has
   * `recordIt` record the result; says what was done. When all there is to write is a rollout's
   * fenced route updates (transitions/route-fence.ts), the record is written at the same time;
   * `writes` tells `recordIt` when the writes it records are done.
   */
  async execute(
    plan: ExperimentPlan,
    observed: Observed,
    recordIt: (result: ExecutionResult, writes: Promise<unknown>) => Promise<void> = async () => undefined,
  ): Promise<ExecutionResult> {
    const changes = this.transition(plan, observed);
    if (!changes) return { actions: [], canaries: [], events: [], record: { phase: 'applied' } };
    refuseOvertaken(plan, changes);
    const expected = routeWritesFenced(plan, changes) ? this.writer.expected(changes) : undefined;
    if (expected) {
      const result = this.resultOf(changes, expected);
      const writes = this.writer.write(changes);
      // Both settle before the event goes on (judged again after a conflict: with nothing of its own still in flight).
      const [wrote, recorded] = await Promise.allSettled([writes, recordIt(result, writes)]);
      for (const outcome of [wrote, recorded]) if (outcome.status === 'rejected') throw outcome.reason;
      return result;
    }
    const result = this.resultOf(changes, await this.writer.write(changes));
    await recordIt(result, Promise.resolve());
    return result;
  }

  private resultOf(changes: ChangeSet, written: Written): ExecutionResult {
    return { actions: written.actions, canaries: changes.canaries, events: changes.events(written), record: changes.record };
  }

  /** The plan's transition, decided (and refused, if it must be) before anything is written. */
  private transition(plan: ExperimentPlan, observed: Observed): ChangeSet | undefined {
    const rules = {
      router: this.router,
      readinessGate: this.workloads.enabled,
      scaleDownDelaySeconds: this.config.safety.scaleDownDelaySeconds,
      now: Date.now(),
    };
    switch (plan.kind) {
      case 'rollout':
        return rollout(plan, observed, rules);
      case 'promote':
        return promotion(plan, observed, rules);
      case 'rollback':
        return rollback(plan, observed, rules);
      case 'ignore':
        return undefined;
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
}

function ref(apiVersion: string, kind: string, namespace: string, name: string): ObjectRef {
  return { apiVersion, kind, namespace, name };
}
