import {
  HttpException,
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type INestApplicationContext,
  type OnModuleInit,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { configForCluster, MaydayConfig } from '../config/mayday-config';
import type { ExperimentEvent } from '../contract/experiment-event';
import type { EventOutcome, EventSource } from '../experiments/pipeline/event-outcome';
import { ExperimentEventProcessor } from '../experiments/pipeline/experiment-event.processor';
import { ExperimentReconciler } from '../experiments/pipeline/experiment-reconciler.service';
import { targetClusters } from '../experiments/plan/cluster-targets';
import { ExperimentStatusService } from '../experiments/status/experiment-status.service';
import { KubeResourcesService } from '../kubernetes/kube-resources.service';
import { MetricsService } from '../metrics/metrics.service';
import { TRAFFIC_ROUTER, type TrafficRouter } from '../traffic/traffic-router';
import { clusterAnswer, type SpanningOutcome } from './cluster-answer';
import { ClusterRoomModule } from './cluster-room.module';

/** What the application reaches of one cluster's rooms. */
export interface ClusterRoom {
  /** The kubeconfig context (CLUSTERS); '' with one cluster. */
  readonly cluster: string;
  readonly processor: ExperimentEventProcessor;
  readonly status: ExperimentStatusService;
  readonly kube: KubeResourcesService;
  readonly router: TrafficRouter;
  readonly reconciler: ExperimentReconciler;
}

/**
 * The rooms of every cluster (README, "Several clusters"). The default cluster's are the application's
 * own providers, so that one cluster is exactly Mayday without CLUSTERS; every other cluster gets
 * ClusterRoomModule in an application context of its own, built at start and closed at shutdown. An
 * event goes to the rooms of the clusters it is for (targetClusters, a pure function of the
 * experiment), each cluster at its own pace: a cluster that is down only fails its own part.
 */
@Injectable()
export class ClusterRooms implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(ClusterRooms.name);
  private readonly rooms = new Map<string, ClusterRoom>();
  private readonly contexts: INestApplicationContext[] = [];

  constructor(
    private readonly config: MaydayConfig,
    private readonly metrics: MetricsService,
    processor: ExperimentEventProcessor,
    status: ExperimentStatusService,
    kube: KubeResourcesService,
    @Inject(TRAFFIC_ROUTER) router: TrafficRouter,
    reconciler: ExperimentReconciler,
  ) {
    const cluster = config.clusters?.current ?? '';
    this.rooms.set(cluster, { cluster, processor, status, kube, router, reconciler });
  }

  async onModuleInit(): Promise<void> {
    const clusters = this.config.clusters;
    if (!clusters) return;
    this.metrics.registry.setDefaultLabels({ cluster: clusters.current });
    const own = this.rooms.get(clusters.current)!;
    this.rooms.clear();
    for (const cluster of clusters.names) {
      if (cluster === clusters.current) {
        this.rooms.set(cluster, own);
        continue;
      }
      const context = await NestFactory.createApplicationContext(ClusterRoomModule.forCluster(configForCluster(this.config, cluster)), {
        abortOnError: false,
      });
      this.contexts.push(context);
      const metrics = context.get(MetricsService);
      metrics.registry.setDefaultLabels({ cluster });
      this.metrics.include(metrics.registry);
      own.status.showAlso(context.get(ExperimentStatusService));
      own.reconciler.showAlso(context.get(ExperimentReconciler));
      this.rooms.set(cluster, {
        cluster,
        processor: context.get(ExperimentEventProcessor),
        status: context.get(ExperimentStatusService),
        kube: context.get(KubeResourcesService),
        router: context.get<TrafficRouter>(TRAFFIC_ROUTER),
        reconciler: context.get(ExperimentReconciler),
      });
    }
  }

  /** Every cluster's rooms finish their events in flight and stop (Nest calls this on SIGTERM). */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.contexts.map((context) => context.close()));
  }

  /** Every cluster's rooms, the default cluster's first. */
  get all(): ClusterRoom[] {
    const rooms = [...this.rooms.values()];
    const current = this.config.clusters?.current ?? '';
    return [rooms.find((room) => room.cluster === current)!, ...rooms.filter((room) => room.cluster !== current)];
  }

  /** Whether CLUSTERS is set (answers, health, the status API and the metrics then say which cluster). */
  get several(): boolean {
    return this.config.clusters !== undefined;
  }

  /**
   * Hands an experiment event to the rooms of every cluster it is for (targetClusters: a 422 before any
   * is touched), at the same time, and answers from what each made of it (clusterAnswer).
   */
  async process(event: ExperimentEvent, source: EventSource): Promise<EventOutcome | SpanningOutcome> {
    const clusters = this.config.clusters;
    if (!clusters) return this.rooms.get('')!.processor.process(event, source);
    let targets: string[];
    try {
      targets = targetClusters(event, clusters);
    } catch (error) {
      this.logger.warn({ msg: `${event.event} rejected`, experimentId: event.experiment.id, reason: (error as Error).message });
      throw error;
    }
    const settled = await Promise.allSettled(targets.map((cluster) => this.rooms.get(cluster)!.processor.process(event, source)));
    const answer = clusterAnswer(event, targets, settled);
    if (answer.statusCode !== 200) throw new HttpException(answer.body, answer.statusCode);
    return answer.body as EventOutcome | SpanningOutcome;
  }
}
