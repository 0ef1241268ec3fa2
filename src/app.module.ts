import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { HttpErrorFilter } from './common/http-error.filter';
import { MaydayConfigModule, type Environment } from './config/config.module';
import { ExperimentsModule } from './experiments/experiments.module';
import { HealthModule } from './health/health.module';
import { KubernetesModule } from './kubernetes/kubernetes.module';
import { SuperpositionModule } from './superposition/superposition.module';
import { WebhooksModule } from './webhooks/webhooks.module';

export interface AppOptions {
  /** The environment to configure from; process.env (and `.env`) when not given. */
  env?: Environment;
}

@Module({})
export class AppModule {
  static forRoot(options: AppOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        MaydayConfigModule.forRoot(options.env),
        KubernetesModule,
        SuperpositionModule,
        ExperimentsModule,
        WebhooksModule,
        HealthModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: HttpErrorFilter }],
    };
  }
}
