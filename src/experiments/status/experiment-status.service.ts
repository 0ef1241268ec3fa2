import { Inject, Injectable, Logger } from '@nestjs/common';
import { MaydayConfig } from '../../config/mayday-config';
import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import { KubeResourcesService } from '../../kubernetes/kube-resources.service';
import { APP_LABEL, isManagedByMayday, ownedSelector, ROLE_LABEL } from '../../naming/labels';
import { canaryServiceName, deploymentName, mainRouteName, mainServiceName } from '../../naming/names';
import { TRAFFIC_ROUTER, type TrafficRouter } from '../../traffic/traffic-router';
import { WorkloadWatcher } from '../../workloads/workload-watcher.service';
import { parseExperiment } from '../../contract/parse-experiment';
import { recordName, type ExperimentRecord } from '../records/experiment-record';
import { ExperimentRecords } from '../records/experiment-records.service';
import { Scope } from '../../config/scope';
import type { TransitionEntry } from '../records/transition-history';
import type { AnalysisVerdict } from '../../analysis/canary-analysis';
import { ClosedLoopService } from '../closed-loop/closed-loop.service';
import type { WriteBackState } from '../closed-loop/write-back';

export interface VariantStatus {
  variantId: string;
  type: 'CONTROL' | 'EXPERIMENTAL';
  /** Share of traffic its route has now (experimental variants while they run). */
  weight?: number;
  /** available, waiting or failed, and why (with the readiness gate on). */
  state?: string;
  reason?: string;
  deployment?: { name: string; readyReplicas: number; availableReplicas: number; desiredReplicas: number; role?: string };
  service?: string;
  /** The last Prometheus analysis of this canary (with ANALYSIS_PROMETHEUS_URL; kept in memory, evaluated again after a restart). */
  analysis?: AnalysisVerdict;
}

export interface ExperimentStatusView {
  /** The cluster (CLUSTERS) this view is of; absent with one cluster. */
  cluster?: string;
  experimentId: string;
  workspace: string;
  namespace: string;
  status: string;
  /** `promotion-pending` while a conclusion waits for its winner, `scale-down-pending` after the switch until `scaleDownAt`. */
  phase: string;
  /** Why the promotion waits, while `phase` is `promotion-pending`. */
  pendingReason?: string;
  /** When the previous stable and the rest of the experiment are deleted, while `phase` is `scale-down-pending`. */
  scaleDownAt?: string;
  lastModified?: string;
  lastEvent: string;
  appliedAt: string;
  /** The experiment's own share per variant, as Superposition shows it. */
  trafficPercentage?: number;
  /** The share each experimental variant really gets: the own share scaled by a user-created group's traffic. */
  effectiveTrafficPercentage?: number;
  /** The user-created experiment group that scales the share. */
  experimentGroup?: { id: string; type: string; trafficPercentage: number };
  /** Superposition's link to the experiment's metrics dashboard, when it has one. */
  metricsUrl?: string;
  chosenVariant?: string | null;
  main: { service: string; exists: boolean; managedByMayday: boolean; selects?: string; selector?: Record<string, string>; route: string };
  variants: VariantStatus[];
  /** The experiment's last transitions, oldest first (the record keeps the last HISTORY_LIMIT). */
  history: readonly TransitionEntry[];
  /** A pause still to be written back to Superposition (attempts, last error, next attempt) and the failures already reported. */
  superpositionWriteBack?: WriteBackState;
  record: string;
  /** CLUSTERS: the experiment in each cluster that has a record of it (GET /experiments/{id}). */
  clusters?: ExperimentStatusView[];
}

/** What Mayday manages, read from the cluster (records, labels, live objects), never from memory. */
@Injectable()
export class ExperimentStatusService {
  private readonly logger = new Logger(ExperimentStatusService.name);
  constructor(
    private readonly records: ExperimentRecords,
    private readonly kube: KubeResourcesService,
    private readonly workloads: WorkloadWatcher,
    @Inject(TRAFFIC_ROUTER) private readonly router: TrafficRouter,
    private readonly config: MaydayConfig,
    private readonly scope: Scope,
    private readonly closedLoop: ClosedLoopService,
  ) {}

  /** The other clusters' status services (CLUSTERS): the application's, the default cluster's, shows theirs too. */
  private readonly otherClusters: ExperimentStatusService[] = [];

  showAlso(other: ExperimentStatusService): void {
    this.otherClusters.push(other);
  }

  /**
   * Only experiments this Mayday may act on are shown (ALLOWED_NAMESPACES, ALLOWED_WORKSPACES, protected
   * namespaces), one entry per cluster it runs in; a cluster that does not answer is left out (and logged).
   */
  async list(filter: { namespace?: string; workspace?: string; status?: string } = {}): Promise<ExperimentStatusView[]> {
    if (this.otherClusters.length === 0) return this.listHere(filter);
    const lists = await this.everyCluster((status) => status.listHere(filter));
    return lists.flat().sort((a, b) => (a.appliedAt < b.appliedAt ? 1 : -1));
  }

  /** The experiment as the first cluster holding it shows it, with every cluster's view in `clusters` (CLUSTERS). */
  async get(experimentId: string): Promise<ExperimentStatusView | undefined> {
    if (this.otherClusters.length === 0) return this.getHere(experimentId);
    const views = (await this.everyCluster((status) => status.getHere(experimentId))).filter((view) => view !== undefined);
    return views.length > 0 ? { ...views[0], clusters: views } : undefined;
  }

  private async everyCluster<T>(read: (status: ExperimentStatusService) => Promise<T>): Promise<T[]> {
    const services = [this, ...this.otherClusters];
    const answers = await Promise.allSettled(services.map(read));
    return answers.flatMap((answer, index) => {
      if (answer.status === 'fulfilled') return [answer.value];
      const cluster = services[index].config.clusters?.current;
      this.logger.warn(`status of cluster "${cluster}" left out: ${(answer.reason as Error).message}`);
      return [];
    });
  }

  private async listHere(filter: { namespace?: string; workspace?: string; status?: string }): Promise<ExperimentStatusView[]> {
    const records = (await this.records.list()).filter(
      (record) =>
        this.scope.allows(record.namespace, record.workspace) &&
        (!filter.namespace || record.namespace === filter.namespace) &&
        (!filter.workspace || record.workspace === filter.workspace) &&
        (!filter.status || record.status === filter.status.toUpperCase()),
    );
    const views = await Promise.all(records.map((record) => this.view(record)));
    return views.sort((a, b) => (a.appliedAt < b.appliedAt ? 1 : -1));
  }

  private async getHere(experimentId: string): Promise<ExperimentStatusView | undefined> {
    const [record] = await this.records.list(experimentId);
    return record && this.scope.allows(record.namespace, record.workspace) ? this.view(record) : undefined;
  }

  private async view(record: ExperimentRecord): Promise<ExperimentStatusView> {
    const experiment = record.experiment ? parseExperiment(JSON.parse(record.experiment), 'record.experiment') : undefined;
    const [deployments, services, mainService] = await Promise.all([
      this.kube.list<V1Deployment>('apps/v1', 'Deployment', record.namespace, ownedSelector({ workspace: record.workspace })),
      this.kube.list<V1Service>(
        'v1',
        'Service',
        record.namespace,
        ownedSelector({ workspace: record.workspace, experimentId: record.experimentId }),
      ),
      this.kube.read<V1Service>({
        apiVersion: 'v1',
        kind: 'Service',
        namespace: record.namespace,
        name: mainServiceName(record.workspace),
      }),
    ]);
    const weights = await this.router
      .getRoutes({
        namespace: record.namespace,
        service: record.workspace,
        experimentId: record.experimentId,
        mainServiceName: mainServiceName(record.workspace),
      })
      .catch(() => new Map<string, number>());

    const variants: VariantStatus[] = (experiment?.variants ?? []).map((variant) => {
      const name = deploymentName(record.workspace, variant.id);
      const deployment = deployments.find((item) => item.metadata?.name === name);
      const serviceName = canaryServiceName(record.workspace, variant.id);
      const view: VariantStatus = { variantId: variant.id, type: variant.variant_type };
      if (deployment) {
        view.deployment = {
          name,
          readyReplicas: deployment.status?.readyReplicas ?? 0,
          availableReplicas: deployment.status?.availableReplicas ?? 0,
          desiredReplicas: deployment.spec?.replicas ?? 1,
          role: deployment.metadata?.labels?.[ROLE_LABEL],
        };
        if (variant.variant_type === 'EXPERIMENTAL' && this.workloads.enabled) {
          const state = this.workloads.stateOf(deployment);
          view.state = state.phase;
          if (state.phase !== 'available') view.reason = state.reason;
          const analysis = this.closedLoop.analysisOf(record.namespace, name);
          if (analysis) view.analysis = analysis;
        }
      }
      if (services.some((item) => item.metadata?.name === serviceName)) view.service = serviceName;
      if (weights.has(serviceName)) view.weight = weights.get(serviceName);
      return view;
    });
    const selects = mainService?.spec?.selector?.[APP_LABEL];
    return {
      ...(this.config.clusters ? { cluster: this.config.clusters.current } : {}),
      experimentId: record.experimentId,
      workspace: record.workspace,
      namespace: record.namespace,
      status: record.status,
      phase: record.phase,
      ...(record.pendingReason ? { pendingReason: record.pendingReason } : {}),
      ...(record.phase === 'scale-down-pending' && record.scaleDownAt ? { scaleDownAt: record.scaleDownAt } : {}),
      lastModified: record.lastModified,
      lastEvent: record.event,
      appliedAt: record.appliedAt,
      trafficPercentage: experiment?.traffic_percentage,
      effectiveTrafficPercentage: record.effectiveTrafficPercentage ?? experiment?.traffic_percentage,
      ...(record.experimentGroup
        ? {
            experimentGroup: {
              id: record.experimentGroup.id,
              type: record.experimentGroup.groupType,
              trafficPercentage: record.experimentGroup.trafficPercentage,
            },
          }
        : {}),
      ...(typeof experiment?.metrics_url === 'string' && experiment.metrics_url ? { metricsUrl: experiment.metrics_url } : {}),
      chosenVariant: experiment?.chosen_variant ?? null,
      main: {
        service: mainServiceName(record.workspace),
        exists: mainService !== undefined,
        managedByMayday: isManagedByMayday(mainService),
        ...(selects ? { selects } : {}),
        ...(mainService?.spec?.selector ? { selector: mainService.spec.selector } : {}),
        route: mainRouteName(record.workspace),
      },
      variants,
      history: record.history ?? [],
      ...(record.superpositionWriteBack ? { superpositionWriteBack: record.superpositionWriteBack } : {}),
      record: `${this.config.maydayNamespace}/${recordName(record.experimentId)}`,
    };
  }
}
