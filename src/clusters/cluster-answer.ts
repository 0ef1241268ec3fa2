import { HttpException, HttpStatus } from '@nestjs/common';
import { httpErrorFor, type HttpErrorBody } from '../common/http-error.filter';
import type { ExperimentEvent } from '../contract/experiment-event';
import type { EventOutcome } from '../experiments/pipeline/event-outcome';

/** What became of an event in one of the clusters it is for: its outcome, or its error answer. */
export type ClusterReport = { cluster: string; statusCode: number } & (EventOutcome | HttpErrorBody);

/** The answer to an event for several clusters once every one of them applied it. */
export interface SpanningOutcome {
  result: EventOutcome['result'];
  reason: string;
  event: EventOutcome['event'];
  experimentId: string;
  status: EventOutcome['status'];
  clusters: ClusterReport[];
}

export type ClusterAnswer =
  | { statusCode: 200; body: (EventOutcome & { cluster: string }) | SpanningOutcome }
  | { statusCode: number; body: HttpErrorBody & { clusters: ClusterReport[] } };

/**
 * The webhook's answer from what each target cluster's rooms made of the event (pure). One cluster: its
 * outcome with `cluster`. Several: 200 with one report per cluster once all applied it (`pending` if any
 * is, `applied` if any changed state). Any failure: 503 when one of them is transient (Superposition
 * delivers again, and the clusters that applied it converge to the same state), else the first refusal's
 * status; the message names each failing cluster, and the body carries every cluster's report.
 */
export function clusterAnswer(
  event: ExperimentEvent,
  targets: readonly string[],
  settled: readonly PromiseSettledResult<EventOutcome>[],
): ClusterAnswer {
  const reports: ClusterReport[] = settled.map((result, index) =>
    result.status === 'fulfilled'
      ? { cluster: targets[index], statusCode: 200, ...result.value }
      : { cluster: targets[index], ...httpErrorFor(result.reason) },
  );
  const failed = reports.filter((report): report is ClusterReport & HttpErrorBody => report.statusCode >= 400);
  if (failed.length > 0) {
    const statusCode = failed.some((report) => report.statusCode >= 500) ? HttpStatus.SERVICE_UNAVAILABLE : failed[0].statusCode;
    const message = failed.map((report) => `cluster "${report.cluster}": ${report.message}`).join('; ');
    return { statusCode, body: { statusCode, error: errorName(statusCode), message, clusters: reports } };
  }
  const outcomes = settled.map((result) => (result as PromiseFulfilledResult<EventOutcome>).value);
  if (targets.length === 1) return { statusCode: 200, body: { ...outcomes[0], cluster: targets[0] } };
  const result = outcomes.some((outcome) => outcome.result === 'pending')
    ? 'pending'
    : outcomes.some((outcome) => outcome.result === 'applied')
      ? 'applied'
      : 'ignored';
  return {
    statusCode: 200,
    body: {
      result,
      reason: `${result} in clusters ${targets.join(', ')}`,
      event: event.event,
      experimentId: event.experiment.id,
      status: event.experiment.status,
      clusters: reports,
    },
  };
}

/** The reason phrase of a status, as the exception filter writes it (`Service Unavailable`). */
function errorName(statusCode: number): string {
  return httpErrorFor(new HttpException('', statusCode)).error;
}
