import { Body, Controller, Get, HttpCode, Post, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { BearerAuthGuard } from '../common/bearer-auth.guard';
import { parseWebhook, WebhookEventPipe, type ParsedWebhook } from './webhook-event.pipe';
import { WebhooksService, type WebhookAnswer } from './webhooks.service';

@Controller()
export class WebhooksController {
  constructor(
    private readonly webhooks: WebhooksService,
    private readonly auth: BearerAuthGuard,
  ) {}

  /** Where a Superposition webhook points (method POST). */
  @Post('webhooks/superposition')
  @UseGuards(BearerAuthGuard)
  @HttpCode(200)
  receive(@Body(WebhookEventPipe) webhook: ParsedWebhook): Promise<WebhookAnswer> {
    return this.webhooks.deliver(webhook);
  }

  /** The original example's endpoint, kept as an alias (it took events on GET and POST). */
  @Post('hi')
  @UseGuards(BearerAuthGuard)
  @HttpCode(200)
  receiveLegacy(@Body(WebhookEventPipe) webhook: ParsedWebhook): Promise<WebhookAnswer> {
    return this.webhooks.deliver(webhook);
  }

  /** GET /hi without a body was the original README's health check; with a body it is a webhook. */
  @Get('hi')
  async legacyGet(@Req() request: Request): Promise<WebhookAnswer | { service: string; status: string }> {
    if (!hasBody(request)) return { service: 'mayday', status: 'ok' };
    this.auth.authorize(request);
    return this.webhooks.deliver(parseWebhook(request.body));
  }
}

function hasBody(request: Request): boolean {
  const length = Number(request.headers['content-length'] ?? 0);
  return length > 0 || request.headers['transfer-encoding'] !== undefined;
}
