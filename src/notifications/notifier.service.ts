import { Inject, Injectable, Logger, Optional, type OnApplicationShutdown } from '@nestjs/common';
import { MaydayConfig } from '../config/mayday-config';
import { MetricsService } from '../metrics/metrics.service';
import { notificationBody, type Notification } from './notification';

export interface NotifierOptions {
  /** Notifications waiting to be sent; past it the oldest waiting one is dropped. */
  queueLimit: number;
  /** Tries per notification, the first included. */
  attempts: number;
  /** Wait before the second try; doubled before each next one (with jitter), at most `maxDelayMs`. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** Timeout of one POST. */
  timeoutMs: number;
}

export const NOTIFIER_OPTIONS = Symbol('NOTIFIER_OPTIONS');
export const DEFAULT_NOTIFIER_OPTIONS: NotifierOptions = {
  queueLimit: 100,
  attempts: 6,
  firstDelayMs: 1000,
  maxDelayMs: 30_000,
  timeoutMs: 5000,
};

/**
 * POSTs notifications to NOTIFY_URL, one at a time and in order, from a bounded queue, retrying a
 * failed POST (no answer, 429, 5xx) with backoff. `notify` only enqueues: a slow or failing receiver
 * never delays or fails the transition it tells about.
 */
@Injectable()
export class Notifier implements OnApplicationShutdown {
  private readonly logger = new Logger(Notifier.name);
  private readonly options: NotifierOptions;
  private readonly queue: Notification[] = [];
  private sending: Promise<void> | undefined;
  private stopped = false;
  private readonly stopping = new AbortController();

  constructor(
    private readonly config: MaydayConfig,
    private readonly metrics: MetricsService,
    @Optional() @Inject(NOTIFIER_OPTIONS) options?: Partial<NotifierOptions>,
  ) {
    this.options = { ...DEFAULT_NOTIFIER_OPTIONS, ...options };
  }

  get enabled(): boolean {
    return this.config.notify.url !== undefined;
  }

  notify(notifications: readonly Notification[]): void {
    if (!this.enabled || this.stopped) return;
    for (const notification of notifications) {
      if (this.queue.length >= this.options.queueLimit) {
        const dropped = this.queue.shift()!;
        this.metrics.notifications.inc({ type: dropped.type, outcome: 'dropped' });
        this.logger.warn(
          `notification queue full (${this.options.queueLimit}): dropped ${dropped.type} of experiment ${dropped.experimentId}`,
        );
      }
      this.queue.push(notification);
    }
    this.sending ??= this.drain().finally(() => (this.sending = undefined));
  }

  /** Resolves once the queue is empty (tests; shutdown does not wait for a receiver). */
  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    this.stopping.abort();
    if (this.queue.length > 0) this.logger.warn(`${this.queue.length} notification(s) not sent: Mayday is stopping`);
    this.queue.length = 0;
  }

  private async drain(): Promise<void> {
    while (!this.stopped && this.queue.length > 0) {
      const notification = this.queue.shift()!;
      const outcome = await this.deliver(notification);
      this.metrics.notifications.inc({ type: notification.type, outcome });
    }
  }

  private async deliver(notification: Notification): Promise<'sent' | 'failed'> {
    const body = JSON.stringify(notificationBody(notification, this.config.notify.format));
    let delay = this.options.firstDelayMs;
    for (let attempt = 1; ; attempt++) {
      const failure = await this.post(body);
      if (failure === undefined) return 'sent';
      const last = attempt >= this.options.attempts || !failure.retry || this.stopped;
      const what = `${notification.type} of experiment ${notification.experimentId} to NOTIFY_URL (try ${attempt} of ${this.options.attempts})`;
      if (last) {
        this.logger.warn(`could not send ${what}: ${failure.reason}; given up`);
        return 'failed';
      }
      this.logger.debug(`could not send ${what}: ${failure.reason}; trying again`);
      await this.sleep(delay * (0.5 + Math.random() / 2));
      delay = Math.min(delay * 2, this.options.maxDelayMs);
    }
  }

  /** Undefined when the receiver took it; otherwise why not, and whether another try may help. */
  private async post(body: string): Promise<{ reason: string; retry: boolean } | undefined> {
    try {
      const answer = await fetch(this.config.notify.url!, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.any([AbortSignal.timeout(this.options.timeoutMs), this.stopping.signal]),
      });
      await answer.arrayBuffer().catch(() => undefined);
      if (answer.ok) return undefined;
      return { reason: `HTTP ${answer.status}`, retry: answer.status === 429 || answer.status >= 500 || answer.status === 408 };
    } catch (error) {
      return {
        reason: error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error),
        retry: true,
      };
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      this.stopping.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
}
