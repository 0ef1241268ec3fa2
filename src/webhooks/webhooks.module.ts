import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { ClustersModule } from '../clusters/clusters.module';
import { RequireJsonMiddleware } from './require-json.middleware';
import { BearerAuthGuard } from '../common/bearer-auth.guard';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

@Module({
  imports: [ClustersModule],
  controllers: [WebhooksController],
  providers: [WebhooksService, BearerAuthGuard],
})
export class WebhooksModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RequireJsonMiddleware).forRoutes(WebhooksController);
  }
}
