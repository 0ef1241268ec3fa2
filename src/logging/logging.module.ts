import { Module, type DynamicModule } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { LoggerModule } from 'nestjs-pino';
import { MaydayConfig } from '../config/mayday-config';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The caller's x-request-id when it is a sane one, else a new id; echoed in the answer. */
function requestId(request: IncomingMessage, response: ServerResponse): string {
  const given = request.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  response.setHeader('x-request-id', id);
  return id;
}

/**
 * JSON logs through pino (nestjs-pino): LOG_LEVEL honoured, a request id on every line written
 * while handling a request, one line per finished request (probes and scrapes excepted), and
 * credentials redacted wherever they could appear.
 */
@Module({})
export class LoggingModule {
  static forRoot(destination?: NodeJS.WritableStream): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRootAsync({
          inject: [MaydayConfig],
          useFactory: (config: MaydayConfig) => ({
            pinoHttp: {
              level: config.logLevel,
              genReqId: requestId,
              quietReqLogger: true,
              autoLogging: { ignore: (request) => /^\/(health|metrics)/.test(request.url ?? '') },
              serializers: {
                req: (request: { id: string; method: string; url: string }) => ({
                  id: request.id,
                  method: request.method,
                  url: request.url,
                }),
                res: (response: { statusCode: number }) => ({ statusCode: response.statusCode }),
              },
              redact: {
                paths: ['req.headers.authorization', 'req.headers.cookie', '*.token', '*.authorization', 'headers.authorization'],
                censor: '[redacted]',
              },
              ...(destination ? { stream: destination } : {}),
            },
          }),
        }),
      ],
    };
  }
}
