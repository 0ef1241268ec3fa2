import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';

/** A webhook with a body that is not JSON gets 415, before anything reads it. */
@Injectable()
export class RequireJsonMiddleware implements NestMiddleware {
  use(request: Request, response: Response, next: NextFunction): void {
    const hasBody = Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
    if (hasBody && !request.is('application/json')) {
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
