import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/bootstrap';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { resetProcessLogger } from '../support/logger-reset';
import { MAYDAY_NAMESPACE, startMayday, type RunningMayday } from '../support/mayday';
import { experiment, experimentId, webhook, type ExperimentSpec } from '../support/payloads';
import { SuperpositionStandIn } from '../support/superposition-stand-in';
import { controlPlane } from '../support/control-plane';

const cluster = new Cluster();
const TOKEN = 'status-and-webhook-secret-of-32-chars-or-more';

/** The value of one sample line of a Prometheus text exposition, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

describe('metrics, logs, Kubernetes Events and the status API', () => {
  const standIn = new SuperpositionStandIn();
  const logLines: Record<string, unknown>[] = [];
  let mayday: RunningMayday;
  let namespace: string;
  const auth = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    await standIn.start();
    namespace = await cluster.createNamespace('observe');
    await resetProcessLogger();
    const logs = new PassThrough();
    let buffered = '';
    logs.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) logLines.push(JSON.parse(line));
    });
    mayday = await startMayday(
      {
        SUPERPOSITION_URL: standIn.url,
        SUPERPOSITION_TOKEN: 'superposition-secret',
        WEBHOOK_TOKEN: TOKEN,
        LOG_LEVEL: 'info',
        ALLOWED_NAMESPACES: namespace,
      },
      { logDestination: logs },
    );
  });
  afterAll(async () => {
    await mayday?.close();
    await standIn.stop();
  });

  function deliver(event: string, spec: ExperimentSpec, headers: Record<string, string> = auth) {
    const payload = experiment(spec);
    standIn.workspace('obs', {}).putExperiment('obs', payload);
    return mayday.post('/webhooks/superposition', webhook(event, 'obs', payload), { ...headers, 'x-request-id': `req-${event}` });
  }

  it('shows a whole lifecycle in metrics, JSON logs, Events and the status API', async () => {
    const id = experimentId();
    const test1 = `${id}-test1`;
    const canary = `obs-dep-${test1}`;
    const spec: ExperimentSpec = { id, context: { namespace }, traffic: 25, lastModified: '2026-08-20T07:40:00.000001Z' };

    expect((await deliver('ExperimentStarted', spec, {})).status).toBe(401);
    const started = await deliver('ExperimentStarted', spec);
    expect(started.status).toBe(200);
    // The canary's Deployment was just made: it waits (the real controllers make it available within seconds).
    expect(started.body.canaries).toEqual([
      expect.objectContaining({ variantId: test1, weight: 0, state: expect.objectContaining({ phase: 'waiting' }) }),
    ]);

    // Status API: protected, read from the cluster.
    expect((await mayday.get('/experiments')).status).toBe(401);
    let view = (await mayday.get(`/experiments/${id}`, auth)).body;
    expect(view).toMatchObject({
      experimentId: id,
      workspace: 'obs',
      namespace,
      status: 'INPROGRESS',
      phase: 'applied',
      trafficPercentage: 25,
      main: { service: 'obs', exists: true, managedByMayday: true, selects: `obs-dep-${id}-control`, route: 'obs' },
    });
    expect(view.variants).toEqual([
      expect.objectContaining({
        variantId: `${id}-control`,
        type: 'CONTROL',
        deployment: expect.objectContaining({ name: `obs-dep-${id}-control`, role: 'stable' }),
      }),
      expect.objectContaining({
        variantId: test1,
        type: 'EXPERIMENTAL',
        service: `obs-service-${test1}`,
        deployment: expect.objectContaining({ name: canary, desiredReplicas: 1, role: 'canary' }),
      }),
    ]);

    // The controllers and a hollow node make the canary's pod ready.
    await eventually(async () => {
      view = (await mayday.get(`/experiments/${id}`, auth)).body;
      expect(view.variants[1]).toMatchObject({ weight: 25, state: 'available', deployment: { readyReplicas: 1, availableReplicas: 1 } });
    }, 30_000);

    expect((await deliver('ExperimentPaused', { ...spec, status: 'PAUSED', lastModified: '2026-08-20T07:41:00.000001Z' })).status).toBe(
      200,
    );
    let metrics = (await mayday.get('/metrics')).body as string;
    expect(sample(metrics, 'mayday_canary_weight', { namespace, workspace: 'obs', experiment: id, variant: test1 })).toBe(0);
    expect((await deliver('ExperimentInprogress', { ...spec, traffic: 40, lastModified: '2026-08-20T07:42:00.000001Z' })).status).toBe(200);
    metrics = (await mayday.get('/metrics')).body as string;
    expect(sample(metrics, 'mayday_canary_weight', { namespace, workspace: 'obs', experiment: id, variant: test1 })).toBe(40);
    expect(sample(metrics, 'mayday_experiments', { status: 'INPROGRESS' })).toBeGreaterThanOrEqual(1);

    expect(
      (
        await deliver('ExperimentConcluded', {
          ...spec,
          traffic: 40,
          status: 'CONCLUDED',
          chosen: 'test1',
          lastModified: '2026-08-20T07:43:00.000001Z',
        })
      ).status,
    ).toBe(200);

    // Metrics.
    const response = await mayday.get('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers?.get('content-type')).toContain('text/plain');
    metrics = response.body as string;
    expect(sample(metrics, 'mayday_webhook_events_total', { source: 'webhook', event: 'ExperimentStarted', outcome: 'applied' })).toBe(1);
    expect(
      sample(metrics, 'mayday_webhook_events_total', { source: 'watch', event: 'ExperimentStarted', outcome: 'applied' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'mayday_webhook_events_total', { event: 'ExperimentConcluded', outcome: 'applied' })).toBe(1);
    expect(sample(metrics, 'mayday_event_duration_seconds_count', { event: 'ExperimentConcluded', outcome: 'applied' })).toBe(1);
    expect(sample(metrics, 'mayday_kube_api_calls_total', { verb: 'apply', outcome: 'ok' })).toBeGreaterThan(5);
    expect(sample(metrics, 'mayday_kube_api_calls_total', { verb: 'delete', outcome: 'ok' })).toBeGreaterThanOrEqual(3);
    expect(sample(metrics, 'mayday_superposition_requests_total', { endpoint: 'resolve', outcome: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(sample(metrics, 'mayday_canary_weight', { experiment: id })).toBeUndefined();
    expect(sample(metrics, 'mayday_experiments', { status: 'CONCLUDED' })).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^mayday_process_resident_memory_bytes \d+/m);

    // Status API after the conclusion.
    view = (await mayday.get(`/experiments/${id}`, auth)).body;
    expect(view).toMatchObject({ status: 'CONCLUDED', phase: 'applied', chosenVariant: test1, main: { selects: canary } });
    const listed = (await mayday.get(`/experiments?namespace=${namespace}`, auth)).body.experiments;
    expect(listed.map((item: { experimentId: string }) => item.experimentId)).toContain(id);
    expect((await mayday.get('/experiments/7350000000000000000', auth)).status).toBe(404);

    // Kubernetes Events (written in the background), as `kubectl describe` finds them (by the object's uid).
    const winner = await cluster.apps.readNamespacedDeployment({ namespace, name: canary });
    await eventually(async () => {
      const onWinner = (
        await cluster.events.listNamespacedEvent({
          namespace,
          fieldSelector: `regarding.name=${canary},regarding.uid=${winner.metadata!.uid}`,
        })
      ).items;
      expect(onWinner.map((event) => event.reason)).toEqual(
        expect.arrayContaining(['CanaryCreated', 'WeightChanged', 'Paused', 'Promoted']),
      );
      // The Deployment controller writes Events on the same object (ScalingReplicaSet): Mayday's are its own.
      const transitions = onWinner.filter((event) => ['CanaryCreated', 'WeightChanged', 'Paused', 'Promoted'].includes(event.reason ?? ''));
      expect(transitions.every((event) => event.reportingController === 'mayday.superposition.io/mayday')).toBe(true);
      expect(onWinner.find((event) => event.reason === 'Paused')?.note).toBe('weight 25 -> 0');
      const onMain = (await cluster.events.listNamespacedEvent({ namespace, fieldSelector: 'regarding.name=obs' })).items;
      expect(onMain.map((event) => event.reason)).toContain('Promoted');
    });

    // JSON logs: one line per event outcome with the fields, request ids, no secrets anywhere.
    const outcomes = logLines.filter((line) => line.experimentId === id && line.source === 'webhook');
    expect(outcomes.map((line) => [line.event, line.result])).toEqual([
      ['ExperimentStarted', 'applied'],
      ['ExperimentPaused', 'applied'],
      ['ExperimentInprogress', 'applied'],
      ['ExperimentConcluded', 'applied'],
    ]);
    for (const line of outcomes) {
      expect(line).toMatchObject({ namespace, workspace: 'obs', statusCode: 200, reqId: `req-${line.event}` });
      expect(typeof line.durationMs).toBe('number');
      expect(line.level).toBe(30);
    }
    expect(logLines.some((line) => (line.res as { statusCode?: number } | undefined)?.statusCode === 401)).toBe(true);
    const everything = JSON.stringify(logLines);
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain('superposition-secret');
  }, 60_000);

  it('counts and logs refused events with their status code', async () => {
    const answer = await mayday.post(
      '/webhooks/superposition',
      webhook('ExperimentStarted', 'obs', experiment({ id: experimentId(), context: { namespace: 'not-allowed' } })),
      auth,
    );
    expect(answer.status).toBe(403);
    const metrics = (await mayday.get('/metrics')).body as string;
    expect(
      sample(metrics, 'mayday_webhook_events_total', { source: 'webhook', event: 'ExperimentStarted', outcome: 'rejected' }),
    ).toBeGreaterThanOrEqual(1);
    const line = logLines.find((entry) => entry.statusCode === 403);
    expect(line).toMatchObject({ level: 40, result: 'rejected', namespace: 'not-allowed' });
  });
});

describe('LOG_LEVEL', () => {
  it('is honoured', async () => {
    const lines: string[] = [];
    const logs = new PassThrough();
    logs.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
    // nestjs-pino keeps the first logger of a process for lines written outside a request.
    await resetProcessLogger();
    const app = await createApp({
      env: {
        KUBECONFIG: controlPlane().kubeconfig,
        WEBHOOK_AUTH: 'none',
        MAYDAY_NAMESPACE,
        LOG_LEVEL: 'warn',
        RESYNC_INTERVAL_SECONDS: '0',
        CANARY_READINESS_GATE: 'false',
      },
      logDestination: logs,
    });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    await fetch(`http://127.0.0.1:${port}/webhooks/superposition`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event_info: { webhook_event: 'ConfigChanged', workspace_id: 'x' }, payload: {} }),
    });
    await app.close();
    const parsed = lines.map((line) => JSON.parse(line) as { level: number });
    expect(parsed.every((line) => line.level >= 40)).toBe(true);
    expect(parsed.some((line) => line.level === 40)).toBe(true);
  });
});
