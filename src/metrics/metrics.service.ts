import { Injectable } from '@nestjs/common';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** collectDefaultMetrics' metrics: the process's, the same whichever cluster's registry measures them. */
const PROCESS_METRIC = /^mayday_(process|nodejs)_/;

/**
 * Mayday's Prometheus metrics, in a registry of its own (not prom-client's global one, so that
 * several instances in one process, as in the tests, do not share counters).
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly events = new Counter({
    name: 'mayday_webhook_events_total',
    help: 'Experiment events handled, by where they came from (webhook, watch, resync), event and outcome',
    labelNames: ['source', 'event', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly eventDuration = new Histogram({
    name: 'mayday_event_duration_seconds',
    help: 'Time from receiving an experiment event to its outcome',
    labelNames: ['event', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly kubeCalls = new Counter({
    name: 'mayday_kube_api_calls_total',
    help: 'Kubernetes API calls, by verb and outcome (ok, not_found, conflict, invalid, forbidden, unavailable, error)',
    labelNames: ['verb', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly kubeCallDuration = new Histogram({
    name: 'mayday_kube_api_call_duration_seconds',
    help: 'Duration of one Kubernetes API call (each attempt), by verb',
    labelNames: ['verb'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 4],
    registers: [this.registry],
  });

  readonly superpositionCalls = new Counter({
    name: 'mayday_superposition_requests_total',
    help: 'Requests to Superposition, by endpoint and outcome',
    labelNames: ['endpoint', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly canaryWeight = new Gauge({
    name: 'mayday_canary_weight',
    help: 'Share of traffic (percent) each experimental variant gets now, as Mayday last applied it',
    labelNames: ['namespace', 'workspace', 'experiment', 'variant'] as const,
    registers: [this.registry],
  });

  readonly canaryFailures = new Counter({
    name: 'mayday_canary_failures_total',
    help: 'Canaries taken out of traffic because they failed, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly resyncListFailures = new Counter({
    name: 'mayday_resync_list_failures_total',
    help: "Resync rounds in which a workspace's experiment list could not be read, by organisation, workspace and HTTP status (0: no answer)",
    labelNames: ['organisation', 'workspace', 'status'] as const,
    registers: [this.registry],
  });

  readonly notifications = new Counter({
    name: 'mayday_notifications_total',
    help: 'Notifications to NOTIFY_URL, by type (CanaryFailed, Promoted, PromotionPending, RolledBack) and outcome (sent, failed: given up after the retries, dropped: the queue was full)',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly superpositionWriteBacks = new Counter({
    name: 'mayday_superposition_write_backs_total',
    help: 'Changes Mayday asked Superposition for (action pause or ramp), by outcome: requested (accepted), moot (no longer needed), failed (tried again later)',
    labelNames: ['action', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly superpositionWriteBacksPending = new Gauge({
    name: 'mayday_superposition_write_backs_pending',
    help: 'Pauses recorded as due that Superposition has not accepted yet',
    registers: [this.registry],
  });

  readonly analysisEvaluations = new Counter({
    name: 'mayday_analysis_evaluations_total',
    help: 'Canary analyses (ANALYSIS_QUERY) evaluated, by outcome: passing, no-data, failing, unavailable (Prometheus gave no value)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly recordConflicts = new Counter({
    name: 'mayday_record_conflicts_total',
    help: 'Events judged again because another replica wrote their experiment record (or route claim) first',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'mayday_' });
  }

  /** The other clusters' registries (CLUSTERS), each labelled with its cluster, exported with this one. */
  private readonly included: Registry[] = [];

  include(registry: Registry): void {
    this.included.push(registry);
  }

  /** The Prometheus text of this registry and the included ones; the process's own metrics once. */
  async exposition(): Promise<string> {
    if (this.included.length === 0) return this.registry.metrics();
    const others = await Promise.all(this.included.map((registry) => registry.getMetricsAsJSON()));
    const perCluster = others.map((metrics) => metrics.filter((metric) => !PROCESS_METRIC.test(metric.name)));
    return AggregatorRegistry.aggregate([await this.registry.getMetricsAsJSON(), ...perCluster]).metrics();
  }

  /** A gauge whose values are read when Prometheus scrapes (e.g. experiments by status, from the cluster). */
  scrapedGauge(name: string, help: string, labelNames: string[], read: () => Promise<Map<string, number>>): void {
    const registry = this.registry;
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        this.reset();
        for (const [label, value] of await read()) this.set({ [labelNames[0]]: label }, value);
      },
    });
  }

  /** Variants with a weight gauge, per experiment (`namespace/workspace/experiment`), to clear them later. */
  private readonly weightedVariants = new Map<string, string[]>();

  setCanaryWeights(namespace: string, workspace: string, experiment: string, weights: { variant: string; weight: number }[]): void {
    this.clearCanaryWeights(namespace, workspace, experiment);
    for (const { variant, weight } of weights) this.canaryWeight.set({ namespace, workspace, experiment, variant }, weight);
    this.weightedVariants.set(
      `${namespace}/${workspace}/${experiment}`,
      weights.map(({ variant }) => variant),
    );
  }

  /** Forgets the weights of one experiment's variants (it ended). */
  clearCanaryWeights(namespace: string, workspace: string, experiment: string): void {
    const key = `${namespace}/${workspace}/${experiment}`;
    for (const variant of this.weightedVariants.get(key) ?? []) this.canaryWeight.remove({ namespace, workspace, experiment, variant });
    this.weightedVariants.delete(key);
  }
}
