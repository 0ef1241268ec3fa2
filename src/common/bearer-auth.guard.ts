import { Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { MaydayConfig } from '../config/mayday-config';

/**
 * A webhook (or status API, or with METRICS_AUTH=token /metrics) request needs `Authorization: Bearer <WEBHOOK_TOKEN>`.
 * Superposition signs nothing, so this shared secret (sent through its custom_headers) is the only proof of
 * origin. Open only with WEBHOOK_AUTH=none, which the configuration accepts only as an explicit choice.
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  private readonly expected?: Buffer;

  constructor(config: MaydayConfig) {
    if (config.webhook.token) this.expected = digest(config.webhook.token);
  }

  canActivate(context: ExecutionContext): boolean {
    this.authorize(context.switchToHttp().getRequest<Request>());
    return true;
  }

  /** Throws 401 unless the request carries the token (or WEBHOOK_AUTH=none). */
  authorize(request: Request): void {
    if (!this.expected) return;
    const header = request.headers.authorization ?? '';
    const presented = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    // Comparing fixed-length digests keeps the comparison constant-time whatever was sent.
    if (!presented || !timingSafeEqual(digest(presented), this.expected)) {
      throw new UnauthorizedException('a valid "Authorization: Bearer <WEBHOOK_TOKEN>" header is required');
    }
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
