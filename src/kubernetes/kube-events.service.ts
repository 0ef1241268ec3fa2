import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { EventsV1Api, type EventsV1Event } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { MetricsService } from '../metrics/metrics.service';
import { BackgroundWriter } from './background-writer';
import { KubeClients } from './kube-client';
import { toKubeError } from './kube-errors';

/** A Kubernetes Event to record about one of Mayday's objects (`kubectl describe` shows it). */
export interface TransitionEvent {
  regarding: { apiVersion: string; kind: string; namespace: string; name: string; uid?: string };
  /** CanaryCreated, WeightChanged, Paused, Promoted, PromotionPending, RolledBack, CanaryFailed. */
  reason: string;
  note: string;
  type: 'Normal' | 'Warning';
  /** The variant it concerns, when one (not written to Kubernetes: for the record's history and notifications). */
  variantId?: string;
  /** The variant's share after it (WeightChanged, Paused). */
  weight?: number;
}

const REPORTING_CONTROLLER = 'mayday.superposition.io/mayday';
/** Events waiting to be written; past it new ones are dropped (client-go's recorder keeps 1000 too). */
export const EVENT_QUEUE_LIMIT = 1000;
/** How long a shutdown waits for the queued Events. */
const SHUTDOWN_FLUSH_MS = 5000;

/**
 * Writes events.k8s.io/v1 Events. Best effort, as client-go's recorder: `record` queues them and
 * returns at once, and they are written one at a time, in order, right after (a bounded queue,
 * flushed at shutdown). An Event that cannot be written is logged and counted, never a reason to
 * fail, or to wait in, the transition it describes.
 */
@Injectable()
export class KubeEventRecorder implements OnApplicationShutdown {
  private readonly logger = new Logger(KubeEventRecorder.name);
  private readonly api: EventsV1Api;
  private readonly instance = hostname().slice(0, 128);
  private readonly writer = new BackgroundWriter<TransitionEvent>(
    (event) => this.recordOne(event),
    EVENT_QUEUE_LIMIT,
    (event) => {
      this.metrics.kubeCalls.inc({ verb: 'event', outcome: 'dropped' });
      this.logger.warn(
        `Event queue full (${EVENT_QUEUE_LIMIT}): dropped ${event.reason} on ${event.regarding.kind} ${event.regarding.name}`,
      );
    },
  );

  constructor(
    clients: KubeClients,
    private readonly metrics: MetricsService,
  ) {
    this.api = clients.events;
  }

  /** Queues the Events; they are written in the background, in this order. */
  record(events: TransitionEvent[]): Promise<void> {
    this.writer.enqueue(events);
    return Promise.resolve();
  }

  /** Writes what is still queued (at most SHUTDOWN_FLUSH_MS), after the events in flight have finished. */
  async onApplicationShutdown(): Promise<void> {
    const waiting = this.writer.waiting;
    if (waiting > 0 && !(await this.writer.flush(SHUTDOWN_FLUSH_MS))) {
      this.logger.warn(`${this.writer.waiting} of ${waiting} Event(s) not written by shutdown`);
    }
  }

  private async recordOne(event: TransitionEvent): Promise<void> {
    const body: EventsV1Event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      // As client-go's recorder names them: the object's name and a unique suffix.
      metadata: { name: `${event.regarding.name.slice(0, 200)}.${eventSuffix()}`, namespace: event.regarding.namespace },
      // MicroTime wants exactly six fraction digits; client-node would send a Date with three.
      eventTime: microTime(new Date()) as unknown as Date,
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.instance,
      action: event.reason,
      reason: event.reason,
      note: event.note.slice(0, 1024),
      type: event.type,
      regarding: event.regarding,
    };
    try {
      await this.api.createNamespacedEvent({ namespace: event.regarding.namespace, body });
      this.metrics.kubeCalls.inc({ verb: 'event', outcome: 'ok' });
    } catch (error) {
      this.metrics.kubeCalls.inc({ verb: 'event', outcome: 'error' });
      const reason = toKubeError(error).message;
      this.logger.warn(`could not record ${event.reason} on ${event.regarding.kind} ${event.regarding.name}: ${reason}`);
    }
  }
}

function eventSuffix(): string {
  return `${Date.now().toString(16)}${randomBytes(4).toString('hex')}`;
}

function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
