import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { ClusterRooms, type ClusterRoom } from '../clusters/cluster-rooms.service';
import { ExperimentEventProcessor } from '../experiments/pipeline/experiment-event.processor';
import { KubeResourcesService } from '../kubernetes/kube-resources.service';
import { SuperpositionClient } from '../superposition/superposition.client';
import { TRAFFIC_ROUTER, type TrafficRouter } from '../traffic/traffic-router';

/** Health indicators for what Mayday depends on; each names itself in /health/ready's answer. */
@Injectable()
export class DependenciesHealth {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly kube: KubeResourcesService,
    private readonly superposition: SuperpositionClient,
    @Inject(TRAFFIC_ROUTER) private readonly router: TrafficRouter,
    private readonly processor: ExperimentEventProcessor,
    private readonly clusters: ClusterRooms,
  ) {}

  /** Down from SIGTERM on, while the events in flight finish: the Service stops sending new ones here. */
  accepting(): HealthIndicatorResult<'events'> {
    const indicator = this.indicators.check('events');
    return this.processor.accepting ? indicator.up() : indicator.down({ message: 'shutting down: finishing the events in flight' });
  }

  async kubernetes(): Promise<HealthIndicatorResult<'kubernetes'>> {
    const indicator = this.indicators.check('kubernetes');
    if (this.clusters.several) return this.everyCluster();
    try {
      const version = await this.kube.serverVersion();
      await this.router.checkApi();
      return indicator.up({ version, trafficProvider: this.router.provider });
    } catch (error) {
      return indicator.down({ message: (error as Error).message });
    }
  }

  /**
   * CLUSTERS: every cluster's API server, each under its name; up while the default cluster (the first)
   * answers, the failing ones named, so that one cluster down does not take Mayday out of its Service.
   */
  private async everyCluster(): Promise<HealthIndicatorResult<'kubernetes'>> {
    const indicator = this.indicators.check('kubernetes');
    const rooms = this.clusters.all;
    const checks = await Promise.all(rooms.map((room) => clusterHealth(room)));
    const clusters = Object.fromEntries(rooms.map((room, index) => [room.cluster, checks[index]]));
    const failing = rooms.filter((_, index) => checks[index].status === 'down').map((room) => room.cluster);
    const details = { trafficProvider: this.router.provider, defaultCluster: rooms[0].cluster, clusters, failing };
    return checks[0].status === 'up' ? indicator.up(details) : indicator.down(details);
  }

  async superpositionReachable(): Promise<HealthIndicatorResult<'superposition'>> {
    const indicator = this.indicators.check('superposition');
    try {
      await this.superposition.ping();
      return indicator.up();
    } catch (error) {
      return indicator.down({ message: (error as Error).message });
    }
  }

  get superpositionConfigured(): boolean {
    return this.superposition.configured;
  }
}

async function clusterHealth(room: ClusterRoom): Promise<{ status: 'up'; version: string } | { status: 'down'; message: string }> {
  try {
    const version = await room.kube.serverVersion();
    await room.router.checkApi();
    return { status: 'up', version };
  } catch (error) {
    return { status: 'down', message: (error as Error).message };
  }
}
