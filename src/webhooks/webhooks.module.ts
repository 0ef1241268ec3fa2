import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { ExperimentsModule } from '../experiments/experiments.module';
import { RequireJsonMiddleware } from './require-json.middleware';
import { BearerAuthGuard } from '../common/bearer-auth.guard';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

@Module({
  imports: [ExperimentsModule],
  controllers: [WebhooksController],
  providers: [WebhooksService, BearerAuthGuard],
})
export class WebhooksModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RequireJsonMiddleware).forRoutes(WebhooksController);
  }
}
