import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { useMaydayWithSuperposition } from '../support/harness';
import { MAYDAY_NAMESPACE } from '../support/mayday';
import { experimentId, type ExperimentSpec } from '../support/payloads';
import { TestPrometheus } from '../support/prometheus';

/**
 * Canary analysis with a REAL Prometheus (Debian's package, scripts/test-tools.sh) scraping a
 * small exporter of per-variant error rates, on the real controllers and hollow nodes.
 */
const cluster = new Cluster();
const WEIGHT = 'nginx.ingress.kubernetes.io/canary-weight';
const TOKEN = 'analysis-token-0123456789abcdef0123456789ab';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const QUERY = 'max(mayday_test_error_rate{namespace="{namespace}",variant="{variant}"})';

async function canaryWeight(namespace: string, service: string, variantId: string): Promise<string | undefined> {
  const ingress = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === `${service}-ingress-${variantId}`);
  return ingress?.metadata?.annotations?.[WEIGHT];
}

describe('a canary whose Prometheus analysis breaches ANALYSIS_MAX fails, and its experiment is paused in Superposition', () => {
  const prometheus = new TestPrometheus();
  let namespace = '';
  beforeAll(async () => {
    namespace = await cluster.createNamespace('analysis');
    await prometheus.start();
  }, 120_000);
  afterAll(() => prometheus.stop());
  const harness = useMaydayWithSuperposition(() => ({
    WEBHOOK_TOKEN: TOKEN,
    ALLOWED_NAMESPACES: namespace,
    ANALYSIS_PROMETHEUS_URL: prometheus.url,
    ANALYSIS_QUERY: QUERY,
    ANALYSIS_MAX: '0.1',
    ANALYSIS_INTERVAL_SECONDS: '1',
    ANALYSIS_NO_DATA_FAILS_AFTER_SECONDS: '600',
  }));
  beforeAll(() => harness.standIn.sendWebhooksTo({ url: `${harness.mayday.url}/webhooks/superposition`, headers: AUTH }));

  const analysisOf = async (id: string) => (await harness.mayday.get(`/experiments/${id}`, AUTH)).body.variants[1]?.analysis;

  it('treats no data as not yet healthy (no failure), passes below the maximum, and fails above it', async () => {
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 20, lastModified: new Date().toISOString() };
    const variant = `${spec.id}-test1`;
    expect((await harness.deliver('ExperimentStarted', 'analysed', spec, AUTH)).status).toBe(200);
    await eventually(async () => expect(await canaryWeight(namespace, 'analysed', variant)).toBe('20'), 30_000);

    // Nothing exported for this variant yet: no data, which is not a failure.
    await eventually(async () => expect(await analysisOf(spec.id)).toMatchObject({ phase: 'no-data' }), 30_000);
    expect(await canaryWeight(namespace, 'analysed', variant)).toBe('20');

    prometheus.setErrorRate(namespace, variant, 0.02);
    await eventually(async () => expect(await analysisOf(spec.id)).toMatchObject({ phase: 'passing', value: 0.02 }), 30_000);
    expect(harness.standIn.changeRequests(spec.id)).toHaveLength(0);

    prometheus.setErrorRate(namespace, variant, 0.5);
    const breachedAt = Date.now();
    const deployment = await eventually(async () => {
      const read = await cluster.apps.readNamespacedDeployment({ namespace, name: `analysed-dep-${variant}` });
      expect(read.metadata?.annotations?.['mayday.superposition.io/failed']).toBe(
        'AnalysisFailed: ANALYSIS_QUERY gave 0.5, above ANALYSIS_MAX=0.1',
      );
      return read;
    }, 30_000);
    expect(deployment.metadata?.name).toBe(`analysed-dep-${variant}`);
    await eventually(async () => expect(await canaryWeight(namespace, 'analysed', variant)).toBe('0'), 30_000);

    const [pause] = await eventually(async () => {
      const pauses = harness.standIn.changeRequests(spec.id, 'pause');
      expect(pauses).toHaveLength(1);
      return pauses;
    }, 30_000);
    console.log(`analysis timing: error rate above ANALYSIS_MAX exported -> pause received by Superposition: ${pause.at - breachedAt} ms`);
    expect((pause.body as { change_reason: string }).change_reason).toBe(
      `Mayday paused: canary ${variant} failed (AnalysisFailed: ANALYSIS_QUERY gave 0.5, above ANALYSIS_MAX=0.1)`,
    );
    await eventually(async () => {
      const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });
      expect(record.data).toMatchObject({ status: 'PAUSED', event: 'ExperimentPaused' });
    }, 30_000);
    // Events are written in the background, right after.
    await eventually(async () => {
      const events = await cluster.events.listNamespacedEvent({
        namespace,
        fieldSelector: `regarding.name=analysed-dep-${variant},reason=AnalysisFailed`,
      });
      expect(events.items).toHaveLength(1);
    });
    const metrics = (await harness.mayday.get('/metrics')).body as string;
    expect(metrics).toMatch(/mayday_analysis_evaluations_total\{outcome="failing"\} [1-9]/);
    expect(metrics).toMatch(/mayday_canary_failures_total\{reason="AnalysisFailed"\} 1/);
  });
});
