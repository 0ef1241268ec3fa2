import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { AppModule, type AppOptions } from './app.module';
import { Logger as PinoLogger } from 'nestjs-pino';
import { MaydayConfig } from './config/mayday-config';

/** The configured application, not yet listening; main.ts and the e2e tests both start it this way. */
export async function createApp(options: AppOptions = {}): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(options), {
    bodyParser: false,
    // Start-up errors (a bad configuration) go to the caller, which prints them once, instead of
    // being logged with a stack trace and aborting the process. LOG_LEVEL applies once it is read.
    logger: false,
    abortOnError: false,
    // From the first moment of a shutdown, new requests get 503 with `Connection: close` while the events in
    // flight finish: a kept-alive connection (a rollout page polling every 2 s) can no longer hold the exit.
    return503OnClosing: true,
  });
  return configureApp(app);
}

/** What every Mayday application gets: JSON logs, the JSON body parser with its limit, shutdown hooks. */
export function configureApp(app: NestExpressApplication): NestExpressApplication {
  const config = app.get(MaydayConfig);
  app.useLogger(app.get(PinoLogger));
  app.useBodyParser('json', { limit: config.webhook.maxBodyBytes });
  app.use(bodyParserErrors);
  app.enableShutdownHooks();
  return app;
}

/** Turns body-parser's failures (bad JSON, too large) into the same JSON error shape as the rest. */
function bodyParserErrors(error: unknown, _request: Request, response: Response, next: NextFunction): void {
  const failure = error as { status?: number; type?: string; message?: string };
  if (!failure || typeof failure.status !== 'number') return next(error);
  const message =
    failure.type === 'entity.too.large'
      ? 'request body is larger than WEBHOOK_MAX_BODY_BYTES'
      : failure.type === 'entity.parse.failed'
        ? `body is not valid JSON: ${failure.message}`
        : (failure.message ?? 'bad request');
  response.status(failure.status).json({ statusCode: failure.status, error: 'Bad Request', message });
}

export async function startApp(options: AppOptions = {}): Promise<NestExpressApplication> {
  const app = await createApp(options);
  const config = app.get(MaydayConfig);
  await app.listen(config.port, config.host);
  new Logger('Mayday').log(`listening on http://${config.host}:${config.port} (webhook: POST /webhooks/superposition)`);
  return app;
}
