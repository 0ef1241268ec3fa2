import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthIndicatorFunction } from '@nestjs/terminus';
import { DependenciesHealth } from './dependencies.health';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly dependencies: DependenciesHealth,
  ) {}

  /** Liveness: the process answers. Never depends on anything outside it. */
  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  /**
   * Readiness: not shutting down, the Kubernetes API answers, and Superposition when it is configured;
   * 503 names the failing check. A follower (not the leader) is ready: every replica answers webhooks.
   */
  @Get('ready')
  @HealthCheck()
  ready() {
    const checks: HealthIndicatorFunction[] = [() => this.dependencies.accepting(), () => this.dependencies.kubernetes()];
    if (this.dependencies.superpositionConfigured) checks.push(() => this.dependencies.superpositionReachable());
    return this.health.check(checks);
  }
}
