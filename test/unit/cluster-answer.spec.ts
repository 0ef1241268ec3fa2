import { describe, expect, it } from 'vitest';
import { Counter } from 'prom-client';
import { clusterAnswer } from '../../src/clusters/cluster-answer';
import { UnprocessableEventError } from '../../src/common/errors';
import type { ExperimentEvent } from '../../src/contract/experiment-event';
import type { EventOutcome } from '../../src/experiments/pipeline/event-outcome';
import { KubeUnavailableError } from '../../src/kubernetes/kube-errors';
import { MetricsService } from '../../src/metrics/metrics.service';
import { experimentDto } from './fixtures';

const event: ExperimentEvent = { event: 'ExperimentInprogress', workspace: 'svc', experiment: experimentDto() };

function outcome(result: EventOutcome['result']): PromiseSettledResult<EventOutcome> {
  const value: EventOutcome = {
    result,
    reason: result,
    event: 'ExperimentInprogress',
    experimentId: event.experiment.id,
    status: 'INPROGRESS',
    actions: [],
  };
  return { status: 'fulfilled', value };
}
const failure = (error: Error): PromiseSettledResult<EventOutcome> => ({ status: 'rejected', reason: error });

describe('clusterAnswer: the webhook answer from every target cluster', () => {
  it('answers one cluster with its outcome and its name', () => {
    expect(clusterAnswer(event, ['a'], [outcome('applied')])).toEqual({
      statusCode: 200,
      body: expect.objectContaining({ result: 'applied', cluster: 'a', actions: [] }),
    });
  });

  it('answers several with 200 and a report per cluster once all applied it (pending wins, then applied)', () => {
    const answer = clusterAnswer(event, ['a', 'b'], [outcome('ignored'), outcome('applied')]);
    expect(answer.statusCode).toBe(200);
    expect(answer.body).toMatchObject({ result: 'applied', reason: 'applied in clusters a, b', experimentId: event.experiment.id });
    expect((answer.body as any).clusters.map((report: any) => [report.cluster, report.statusCode, report.result])).toEqual([
      ['a', 200, 'ignored'],
      ['b', 200, 'applied'],
    ]);
    expect(clusterAnswer(event, ['a', 'b'], [outcome('pending'), outcome('applied')]).body).toMatchObject({ result: 'pending' });
    expect(clusterAnswer(event, ['a', 'b'], [outcome('ignored'), outcome('ignored')]).body).toMatchObject({ result: 'ignored' });
  });

  it('answers 503 when any cluster failed transiently, naming it, with every report', () => {
    const answer = clusterAnswer(
      event,
      ['a', 'b', 'c'],
      [
        outcome('applied'),
        failure(new KubeUnavailableError('connect ECONNREFUSED', 503)),
        failure(new UnprocessableEventError('a foreign object')),
      ],
    );
    expect(answer.statusCode).toBe(503);
    expect(answer.body).toMatchObject({
      statusCode: 503,
      error: 'Service Unavailable',
      message: expect.stringMatching(/^cluster "b": .*ECONNREFUSED.*; cluster "c": a foreign object$/),
    });
    expect((answer.body as any).clusters.map((report: any) => [report.cluster, report.statusCode])).toEqual([
      ['a', 200],
      ['b', 503],
      ['c', 422],
    ]);
  });

  it('answers a refusal with its own status when nothing failed transiently, one cluster included', () => {
    const answer = clusterAnswer(event, ['a'], [failure(new UnprocessableEventError('a foreign object'))]);
    expect(answer).toEqual({
      statusCode: 422,
      body: {
        statusCode: 422,
        error: 'Unprocessable Entity',
        message: 'cluster "a": a foreign object',
        clusters: [{ cluster: 'a', statusCode: 422, error: 'Unprocessable Entity', message: 'a foreign object' }],
      },
    });
  });
});

describe('MetricsService.include: every cluster in one /metrics', () => {
  it("exports each cluster's metrics with its cluster label, and the process's own metrics once", async () => {
    const own = new MetricsService();
    const other = new MetricsService();
    own.registry.setDefaultLabels({ cluster: 'a' });
    other.registry.setDefaultLabels({ cluster: 'b' });
    own.include(other.registry);
    own.events.inc({ source: 'webhook', event: 'ExperimentStarted', outcome: 'applied' });
    other.events.inc({ source: 'webhook', event: 'ExperimentStarted', outcome: 'applied' }, 2);
    const text = await own.exposition();
    expect(text).toContain('mayday_webhook_events_total{source="webhook",event="ExperimentStarted",outcome="applied",cluster="a"} 1');
    expect(text).toContain('mayday_webhook_events_total{source="webhook",event="ExperimentStarted",outcome="applied",cluster="b"} 2');
    expect(text.match(/^# TYPE mayday_process_cpu_user_seconds_total/gm)).toHaveLength(1);
    expect(text.match(/^# TYPE mayday_webhook_events_total counter/gm)).toHaveLength(1);
  });

  it('is the registry as it is without other clusters', async () => {
    const alone = new MetricsService();
    new Counter({ name: 'mayday_x_total', help: 'x', registers: [alone.registry] }).inc();
    const text = await alone.exposition();
    expect(text).toMatch(/^mayday_x_total 1$/m);
    expect(text).not.toContain('cluster=');
  });
});
