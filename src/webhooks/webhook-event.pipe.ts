import { Injectable, type PipeTransform } from '@nestjs/common';
import { parseWebhook, type ParsedWebhook } from '../contract/parse-webhook';

/** The webhook body, parsed by the contract's rules (contract/parse-webhook.ts): nothing else happens on a bad body. */
@Injectable()
export class WebhookEventPipe implements PipeTransform<unknown, ParsedWebhook> {
  transform(body: unknown): ParsedWebhook {
    return parseWebhook(body);
  }
}
