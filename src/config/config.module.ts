import { Global, Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { loadMaydayConfig, MaydayConfig } from './mayday-config';
import { Scope } from './scope';

export type Environment = Record<string, string | undefined>;

/**
 * Validates the environment once at start-up (through @nestjs/config, which also reads a `.env`
 * file) and provides the typed MaydayConfig (and the Scope it sets) to every module. Tests pass an explicit environment,
 * which then replaces both process.env and `.env`.
 */
@Global()
@Module({})
export class MaydayConfigModule {
  static forRoot(environment?: Environment): DynamicModule {
    const explicit = environment !== undefined;
    return {
      module: MaydayConfigModule,
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: explicit,
          ignoreEnvVars: explicit,
          validate: (raw) => ({ mayday: loadMaydayConfig(explicit ? environment : (raw as Environment)) }),
        }),
      ],
      providers: [
        {
          provide: MaydayConfig,
          inject: [ConfigService],
          useFactory: (configService: ConfigService) => configService.getOrThrow<MaydayConfig>('mayday'),
        },
        { provide: Scope, inject: [MaydayConfig], useFactory: (config: MaydayConfig) => Scope.of(config) },
      ],
      exports: [MaydayConfig, Scope],
    };
  }
}
