import { describe, expect, it } from 'vitest';
import { MetricsService } from '../../src/metrics/metrics.service';
import { EXPERIMENT_ID, TEST1_ID, TEST2_ID, WORKSPACE } from './fixtures';

const OTHER_EXPERIMENT = '7350102648234549999';

/** The samples of the canary weight gauge, as `labels -> value` lines of the exposition text. */
async function weightSamples(service: MetricsService): Promise<string[]> {
  const text = await service.registry.getSingleMetricAsString('mayday_canary_weight');
  return text.split('\n').filter((line) => line.startsWith('mayday_canary_weight{'));
}

const sample = (namespace: string, experiment: string, variant: string, value: number) =>
  `mayday_canary_weight{namespace="${namespace}",workspace="${WORKSPACE}",experiment="${experiment}",variant="${variant}"} ${value}`;

describe('MetricsService canary weights', () => {
  it('has the gauge with its help and type and no samples at first', async () => {
    const service = new MetricsService();
    const text = await service.registry.getSingleMetricAsString('mayday_canary_weight');
    expect(text).toContain('# HELP mayday_canary_weight Share of traffic (percent) each experimental variant gets now');
    expect(text).toContain('# TYPE mayday_canary_weight gauge');
    expect(await weightSamples(service)).toEqual([]);
  });

  it('sets one sample per variant', async () => {
    const service = new MetricsService();
    service.setCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID, [
      { variant: TEST1_ID, weight: 10 },
      { variant: TEST2_ID, weight: 15 },
    ]);
    expect(await weightSamples(service)).toEqual([
      sample('mumbai', EXPERIMENT_ID, TEST1_ID, 10),
      sample('mumbai', EXPERIMENT_ID, TEST2_ID, 15),
    ]);
  });

  it('replaces the previous weights of the experiment, dropping variants no longer given', async () => {
    const service = new MetricsService();
    service.setCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID, [
      { variant: TEST1_ID, weight: 10 },
      { variant: TEST2_ID, weight: 10 },
    ]);
    service.setCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID, [{ variant: TEST1_ID, weight: 20 }]);
    expect(await weightSamples(service)).toEqual([sample('mumbai', EXPERIMENT_ID, TEST1_ID, 20)]);
  });

  it('keeps a paused variant at 0 as a sample', async () => {
    const service = new MetricsService();
    service.setCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID, [{ variant: TEST1_ID, weight: 0 }]);
    expect(await weightSamples(service)).toEqual([sample('mumbai', EXPERIMENT_ID, TEST1_ID, 0)]);
  });

  it('clears one experiment without touching the others', async () => {
    const service = new MetricsService();
    service.setCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID, [{ variant: TEST1_ID, weight: 10 }]);
    service.setCanaryWeights('mumbai', WORKSPACE, OTHER_EXPERIMENT, [{ variant: `${OTHER_EXPERIMENT}-a`, weight: 30 }]);
    service.setCanaryWeights('pune', WORKSPACE, EXPERIMENT_ID, [{ variant: TEST1_ID, weight: 5 }]);

    service.clearCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID);
    expect(await weightSamples(service)).toEqual([
      sample('mumbai', OTHER_EXPERIMENT, `${OTHER_EXPERIMENT}-a`, 30),
      sample('pune', EXPERIMENT_ID, TEST1_ID, 5),
    ]);
  });

  it('clears every sample of the experiment, and clearing twice or an unknown experiment is harmless', async () => {
    const service = new MetricsService();
    service.setCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID, [
      { variant: TEST1_ID, weight: 10 },
      { variant: TEST2_ID, weight: 10 },
    ]);
    service.clearCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID);
    service.clearCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID);
    service.clearCanaryWeights('nowhere', 'nothing', '1');
    expect(await weightSamples(service)).toEqual([]);
  });

  it('sets weights again after a clear', async () => {
    const service = new MetricsService();
    service.setCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID, [{ variant: TEST1_ID, weight: 10 }]);
    service.clearCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID);
    service.setCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID, [{ variant: TEST2_ID, weight: 40 }]);
    expect(await weightSamples(service)).toEqual([sample('mumbai', EXPERIMENT_ID, TEST2_ID, 40)]);
  });

  it('with an empty list, clears the experiment', async () => {
    const service = new MetricsService();
    service.setCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID, [{ variant: TEST1_ID, weight: 10 }]);
    service.setCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID, []);
    expect(await weightSamples(service)).toEqual([]);
  });
});

describe('MetricsService registries', () => {
  it('two instances do not share counters or gauges', async () => {
    const first = new MetricsService();
    const second = new MetricsService();
    first.events.inc({ source: 'webhook', event: 'ExperimentStarted', outcome: 'applied' });
    first.events.inc({ source: 'webhook', event: 'ExperimentStarted', outcome: 'applied' });
    first.setCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID, [{ variant: TEST1_ID, weight: 10 }]);

    const firstEvents = await first.registry.getSingleMetricAsString('mayday_webhook_events_total');
    expect(firstEvents).toContain('mayday_webhook_events_total{source="webhook",event="ExperimentStarted",outcome="applied"} 2');
    const secondEvents = await second.registry.getSingleMetricAsString('mayday_webhook_events_total');
    expect(secondEvents.split('\n').filter((line) => line.startsWith('mayday_webhook_events_total{'))).toEqual([]);
    expect(await weightSamples(second)).toEqual([]);

    second.events.inc({ source: 'resync', event: 'ExperimentPaused', outcome: 'applied' });
    expect((await first.events.get()).values).toEqual([
      { value: 2, labels: { source: 'webhook', event: 'ExperimentStarted', outcome: 'applied' } },
    ]);
    expect((await second.events.get()).values).toEqual([
      { value: 1, labels: { source: 'resync', event: 'ExperimentPaused', outcome: 'applied' } },
    ]);
  });

  it('keeps the metric of one instance after the other clears its weights', async () => {
    const first = new MetricsService();
    const second = new MetricsService();
    first.setCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID, [{ variant: TEST1_ID, weight: 10 }]);
    second.setCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID, [{ variant: TEST1_ID, weight: 30 }]);
    second.clearCanaryWeights('mumbai', WORKSPACE, EXPERIMENT_ID);
    expect(await weightSamples(first)).toEqual([sample('mumbai', EXPERIMENT_ID, TEST1_ID, 10)]);
    expect(await weightSamples(second)).toEqual([]);
  });

  it('registers the default process metrics with the mayday_ prefix in its own registry', async () => {
    const service = new MetricsService();
    const names = service.registry.getMetricsAsArray().map((metric) => metric.name);
    expect(names).toContain('mayday_process_cpu_user_seconds_total');
    expect(names).toContain('mayday_canary_weight');
    expect(names).toContain('mayday_webhook_events_total');
  });
});
