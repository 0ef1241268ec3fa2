import { ArgumentsHost, Catch, HttpException, HttpStatus, Logger, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { DomainError } from './errors';
import { PayloadValidationError } from './validation';

export interface HttpErrorBody {
  statusCode: number;
  error: string;
  message: string;
  problems?: string[];
}

/**
 * The one place errors become HTTP answers; each DomainError says its own (common/errors.ts). 4xx:
 * the event itself is at fault and a retry will not help. 502/503: Kubernetes or Superposition
 * failed, so Superposition should retry.
 */
export function httpErrorFor(error: unknown): HttpErrorBody {
  if (error instanceof HttpException) {
    const response = error.getResponse();
    const message =
      typeof response === 'string'
        ? response
        : Array.isArray((response as { message?: unknown }).message)
          ? (response as { message: string[] }).message.join('; ')
          : String((response as { message?: unknown }).message ?? error.message);
    return body(error.getStatus(), message);
  }
  if (error instanceof PayloadValidationError) return { ...body(400, error.message), problems: error.problems };
  if (error instanceof DomainError) {
    const { statusCode, message } = error.answer();
    return body(statusCode, message);
  }
  return body(500, 'internal error');
}

function body(statusCode: number, message: string): HttpErrorBody {
  const error = (HttpStatus[statusCode] ?? 'ERROR')
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join(' ');
  return { statusCode, error, message };
}

/** What a 503 says about when to deliver again: Superposition's own first retry, 1 s (docs/contract.md §1). */
export const RETRY_AFTER_SECONDS = 1;

@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const statusCode = exception instanceof HttpException ? exception.getStatus() : httpErrorFor(exception).statusCode;
    // A transient failure (Kubernetes or a cluster down, the deadline, a shutdown): worth delivering again.
    if (statusCode === 503) response.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
    if (exception instanceof HttpException) {
      // Nest's own and terminus' answers (e.g. /health/ready's 503 naming the failing check) as they are.
      const body = exception.getResponse();
      response.status(exception.getStatus()).json(typeof body === 'string' ? httpErrorFor(exception) : body);
      return;
    }
    const answer = httpErrorFor(exception);
    if (answer.statusCode >= 500) {
      this.logger.error(answer.statusCode === 500 ? exception : answer.message);
    }
    response.status(answer.statusCode).json(answer);
  }
}
