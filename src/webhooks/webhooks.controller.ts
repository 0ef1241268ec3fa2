import { All, Body, Controller, Get, HttpCode, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { BearerAuthGuard } from '../common/bearer-auth.guard';
import { parseWebhook, type ParsedWebhook } from '../contract/parse-webhook';
import { hasBody } from './require-json.middleware';
import { WebhookEventPipe } from './webhook-event.pipe';
import { WebhooksService, type WebhookAnswer } from './webhooks.service';

const WEBHOOK_PATHS = ['webhooks/superposition', 'hi'];

/**
 * Where a Superposition webhook points: `/webhooks/superposition`, or `/hi` as the original
 * example had it. Superposition sends with whatever method the webhook was configured with
 * (POST by default; GET, PUT and PATCH carry the same JSON body).
 */
@Controller()
export class WebhooksController {
  constructor(
    private readonly webhooks: WebhooksService,
    private readonly auth: BearerAuthGuard,
  ) {}

  /** A GET with a body is a webhook; without one it answers who is there (the original README's health check). */
  @Get(WEBHOOK_PATHS)
  async receiveGet(@Req() request: Request): Promise<WebhookAnswer | { service: string; status: string }> {
    if (!hasBody(request)) return { service: 'mayday', status: 'ok' };
    this.auth.authorize(request);
    return this.webhooks.deliver(parseWebhook(request.body));
  }

  /** Any other method (POST, PUT, PATCH, ...): the body is the event. Declared after GET, which it would otherwise catch. */
  @All(WEBHOOK_PATHS)
  @UseGuards(BearerAuthGuard)
  @HttpCode(200)
  receive(@Body(WebhookEventPipe) webhook: ParsedWebhook): Promise<WebhookAnswer> {
    return this.webhooks.deliver(webhook);
  }
}
