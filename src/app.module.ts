import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { HttpErrorFilter } from './common/http-error.filter';
import { MaydayConfigModule, type Environment } from './config/config.module';
import { ExperimentsModule } from './experiments/experiments.module';
import { HealthModule } from './health/health.module';
import { KubernetesModule } from './kubernetes/kubernetes.module';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { SuperpositionModule } from './superposition/superposition.module';
import { UiModule } from './ui/ui.module';
import { WebhooksModule } from './webhooks/webhooks.module';

export interface AppOptions {
  /** The environment to configure from; process.env (and `.env`) when not given. */
  env?: Environment;
  /** Where the JSON log lines go; standard output when not given. */
  logDestination?: NodeJS.WritableStream;
}

@Module({})
export class AppModule {
  static forRoot(options: AppOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        MaydayConfigModule.forRoot(options.env),
        LoggingModule.forRoot(options.logDestination),
        MetricsModule,
        KubernetesModule,
        SuperpositionModule,
        ExperimentsModule,
        WebhooksModule,
        HealthModule,
        UiModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: HttpErrorFilter }],
    };
  }
}
