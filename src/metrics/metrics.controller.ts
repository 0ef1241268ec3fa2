import { Controller, Get, Header, Req } from '@nestjs/common';
import type { Request } from 'express';
import { BearerAuthGuard } from '../common/bearer-auth.guard';
import { MaydayConfig } from '../config/mayday-config';
import { MetricsService } from './metrics.service';

@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    private readonly auth: BearerAuthGuard,
    private readonly config: MaydayConfig,
  ) {}

  /** Prometheus text exposition format; behind the webhook's bearer token with METRICS_AUTH=token. */
  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(@Req() request: Request): Promise<string> {
    if (this.config.metrics.auth === 'token') this.auth.authorize(request);
    return this.metrics.exposition();
  }
}
