import { Global, Module } from '@nestjs/common';
import { BearerAuthGuard } from '../common/bearer-auth.guard';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

@Global()
@Module({
  controllers: [MetricsController],
  providers: [MetricsService, BearerAuthGuard],
  exports: [MetricsService],
})
export class MetricsModule {}
