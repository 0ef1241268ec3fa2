import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
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
  ) {}

  /** Down from SIGTERM on, while the events in flight finish: the Service stops sending new ones here. */
  accepting(): HealthIndicatorResult<'events'> {
    const indicator = this.indicators.check('events');
    return this.processor.accepting ? indicator.up() : indicator.down({ message: 'shutting down: finishing the events in flight' });
  }

  async kubernetes(): Promise<HealthIndicatorResult<'kubernetes'>> {
    const indicator = this.indicators.check('kubernetes');
    try {
      const version = await this.kube.serverVersion();
      await this.router.checkApi();
      return indicator.up({ version, trafficProvider: this.router.provider });
    } catch (error) {
      return indicator.down({ message: (error as Error).message });
    }
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
