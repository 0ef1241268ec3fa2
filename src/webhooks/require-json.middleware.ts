import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';

/** A webhook with a body that is not JSON gets 415, before anything reads it. */
@Injectable()
export class RequireJsonMiddleware implements NestMiddleware {
  use(request: Request, response: Response, next: NextFunction): void {
    if (hasBody(request) && !request.is('application/json')) {
      response.status(415).json({
        statusCode: 415,
        error: 'Unsupported Media Type',
        message: `Content-Type must be application/json (got ${request.headers['content-type'] ?? 'none'})`,
      });
      return;
    }
    next();
  }
}

/** Whether a request carries a body (a GET webhook may, a GET probe does not). */
export function hasBody(request: Request): boolean {
  return Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
}
