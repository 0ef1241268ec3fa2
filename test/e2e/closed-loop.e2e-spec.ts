import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { useMaydayWithSuperposition, type Harness } from '../support/harness';
import { MAYDAY_NAMESPACE } from '../support/mayday';
import { experimentId, type ExperimentSpec } from '../support/payloads';
import { cordonNodes, createCrashingPod, podsOf } from '../support/workloads';

/**
 * Closing the loop (README, "Closing the loop"): Mayday writes to Superposition (the stand-in, which
 * then sends the webhook Superposition would send back to Mayday's URL with the configured token),
 * on the real controllers and hollow nodes.
 */
const cluster = new Cluster();
const WEIGHT = 'nginx.ingress.kubernetes.io/canary-weight';
const TOKEN = 'closed-loop-token-0123456789abcdef0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };

async function canaryWeight(namespace: string, service: string, variantId: string): Promise<string | undefined> {
  const ingress = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === `${service}-ingress-${variantId}`);
  return ingress?.metadata?.annotations?.[WEIGHT];
}

async function recordData(id: string): Promise<Record<string, string>> {
  return (await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${id}` })).data ?? {};
}

/** Superposition's webhook points at this Mayday (its port changes at each restart), with the token as a custom header. */
function pointWebhookAt(harness: Harness): void {
  harness.standIn.sendWebhooksTo({ url: `${harness.mayday.url}/webhooks/superposition`, headers: AUTH });
}

/** A person changing the experiment in Superposition (the stand-in), as its UI would. */
async function personChanges(harness: Harness, workspace: string, id: string, action: 'pause' | 'resume', reason: string): Promise<void> {
  const answer = await fetch(`${harness.standIn.url}/experiments/${id}/${action}`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json', 'x-org-id': 'localorg', 'x-workspace': workspace },
    body: JSON.stringify({ change_reason: reason }),
  });
  expect(answer.status).toBe(200);
}

/** Timings for the notes (not asserted: the machine is shared). */
const timings: string[] = [];
afterAll(() => {
  if (timings.length > 0) console.log(`closed-loop timings:\n  ${timings.join('\n  ')}`);
});

describe('pausing the experiment of a failed canary in Superposition', () => {
  const namespaces: Record<string, string> = {};
  beforeAll(async () => {
    for (const name of ['crash', 'outage']) namespaces[name] = await cluster.createNamespace(`loop-${name}`);
  });
  const harness = useMaydayWithSuperposition(() => ({
    WEBHOOK_TOKEN: TOKEN,
    CANARY_MAX_RESTARTS: '3',
    ALLOWED_NAMESPACES: Object.values(namespaces).join(','),
  }));
  beforeAll(() => pointWebhookAt(harness));

  async function startedAndAvailable(key: string, service: string): Promise<ExperimentSpec> {
    const namespace = namespaces[key];
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 20, lastModified: new Date().toISOString() };
    expect((await harness.deliver('ExperimentStarted', service, spec, AUTH)).status).toBe(200);
    await eventually(async () => expect(await canaryWeight(namespace, service, `${spec.id}-test1`)).toBe('20'), 30_000);
    return spec;
  }

  it('asks Superposition once to pause, naming the variant and the reason; the ExperimentPaused that follows is applied', async () => {
    const namespace = namespaces.crash;
    const spec = await startedAndAvailable('crash', 'crashy');
    const variant = `${spec.id}-test1`;
    const failedAt = Date.now();
    await createCrashingPod(cluster, namespace, `crashy-dep-${variant}`, 4);

    const [pause] = await eventually(async () => {
      const pauses = harness.standIn.changeRequests(spec.id, 'pause');
      expect(pauses).toHaveLength(1);
      return pauses;
    }, 30_000);
    timings.push(`crash reported -> pause received by Superposition: ${pause.at - failedAt} ms`);
    expect(pause.headers).toMatchObject({ 'x-org-id': 'localorg', 'x-workspace': 'crashy', 'content-type': 'application/json' });
    const reason = (pause.body as { change_reason: string }).change_reason;
    expect(reason).toMatch(new RegExp(`^Mayday paused: canary ${variant} failed \\(CrashLoop: container .* restarted 4 times`));
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(255);
    expect(harness.standIn.storedExperiment('crashy', spec.id)).toMatchObject({ status: 'PAUSED', change_reason: reason });

    // Superposition's ExperimentPaused comes back through the webhook (with the token) and is applied.
    await eventually(async () => expect(await recordData(spec.id)).toMatchObject({ status: 'PAUSED', event: 'ExperimentPaused' }), 30_000);
    // (Mayday writes the record before it answers: the delivery is complete once its answer is back.)
    await harness.standIn.deliveriesSettled();
    expect(harness.standIn.webhookDeliveries.filter((delivery) => delivery.experimentId === spec.id)).toEqual([
      expect.objectContaining({ event: 'ExperimentPaused', status: 200 }),
    ]);
    expect(await canaryWeight(namespace, 'crashy', variant)).toBe('0');
    const status = await harness.mayday.get(`/experiments/${spec.id}`, AUTH);
    expect(status.body.superpositionWriteBack).toEqual({ reported: [expect.stringMatching(new RegExp(`^${variant}: CrashLoop`))] });

    // The pod keeps crashing and Mayday keeps converging: still exactly one pause.
    await createCrashingPod(cluster, namespace, `crashy-dep-${variant}`, 6);
    const events = await eventually(async () => {
      const list = await cluster.events.listNamespacedEvent({
        namespace,
        fieldSelector: `regarding.name=crashy-dep-${variant},reason=PauseRequested`,
      });
      expect(list.items).toHaveLength(1);
      return list.items;
    });
    expect(events[0].note).toContain(reason);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(harness.standIn.changeRequests(spec.id)).toHaveLength(1);

    // A person resumes in Superposition: the canary is still out of traffic, and Mayday does not pause again for the same failure.
    await personChanges(harness, 'crashy', spec.id, 'resume', 'looked at it, resuming');
    await eventually(
      async () => expect(await recordData(spec.id)).toMatchObject({ status: 'INPROGRESS', event: 'ExperimentInprogress' }),
      30_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(harness.standIn.changeRequests(spec.id, 'pause')).toHaveLength(1);
    expect(await canaryWeight(namespace, 'crashy', variant)).toBe('0');
  });

  it('keeps the pause in the record while Superposition is down, retries it with backoff across a restart, and sends it once it answers', async () => {
    const namespace = namespaces.outage;
    const spec = await startedAndAvailable('outage', 'outage');
    const variant = `${spec.id}-test1`;
    harness.standIn.setDown(true);
    try {
      await createCrashingPod(cluster, namespace, `outage-dep-${variant}`, 4);
      // The webhook answers go on meanwhile; the write-back waits in the record, visible in the status API.
      const pending = await eventually(async () => {
        const view = (await harness.mayday.get(`/experiments/${spec.id}`, AUTH)).body;
        expect(view.superpositionWriteBack?.pending?.attempts).toBeGreaterThanOrEqual(2);
        return view.superpositionWriteBack.pending;
      }, 30_000);
      expect(pending).toMatchObject({ action: 'pause', failures: [expect.stringMatching(new RegExp(`^${variant}: CrashLoop`))] });
      expect(pending.lastError).toMatch(/unreachable/);
      const metrics = (await harness.mayday.get('/metrics')).body as string;
      expect(metrics).toMatch(/mayday_superposition_write_backs_total\{action="pause",outcome="failed"\} [1-9]/);
      expect(metrics).toMatch(/mayday_superposition_write_backs_pending 1/);
      // Events are written in the background, right after.
      await eventually(async () => {
        const failed = await cluster.events.listNamespacedEvent({
          namespace,
          fieldSelector: `regarding.name=outage-dep-${variant},reason=PauseFailed`,
        });
        expect(failed.items).toHaveLength(1);
      });
      // A webhook meanwhile is answered as usual: the failing write-back neither blocks nor fails it.
      const redelivered = await harness.deliver('ExperimentInprogress', 'outage', spec, AUTH);
      expect(redelivered.status).toBe(200);
      expect(redelivered.body.canaries).toEqual([
        { variantId: variant, weight: 0, state: { phase: 'failed', reason: expect.stringMatching(/^CrashLoop/) } },
      ]);
      const attemptsBefore = JSON.parse((await recordData(spec.id)).superpositionWriteBack).pending.attempts as number;

      // A new Mayday takes the pending pause from the record and keeps trying.
      await harness.restart();
      pointWebhookAt(harness);
      await eventually(async () => {
        const state = JSON.parse((await recordData(spec.id)).superpositionWriteBack);
        expect(state.pending.attempts).toBeGreaterThan(attemptsBefore);
      }, 60_000);
      expect(harness.standIn.changeRequests(spec.id)).toHaveLength(0);
    } finally {
      harness.standIn.setDown(false);
    }
    const upAt = Date.now();
    const [pause] = await eventually(async () => {
      const pauses = harness.standIn.changeRequests(spec.id, 'pause');
      expect(pauses).toHaveLength(1);
      return pauses;
    }, 60_000);
    timings.push(`Superposition up again -> pause received (backoff at most 30 s): ${pause.at - upAt} ms`);
    expect((pause.body as { change_reason: string }).change_reason).toContain(`canary ${variant} failed (CrashLoop`);
    await eventually(async () => expect(await recordData(spec.id)).toMatchObject({ status: 'PAUSED' }), 30_000);
    await eventually(async () => expect(JSON.parse((await recordData(spec.id)).superpositionWriteBack).pending).toBeUndefined());
    expect(await canaryWeight(namespace, 'outage', variant)).toBe('0');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(harness.standIn.changeRequests(spec.id)).toHaveLength(1);
  });
});

describe('ramping by itself while every canary stays available (AUTO_RAMP)', () => {
  const INTERVAL_SECONDS = 3;
  let namespace = '';
  beforeAll(async () => {
    namespace = await cluster.createNamespace('loop-ramp');
  });
  const harness = useMaydayWithSuperposition(() => ({
    WEBHOOK_TOKEN: TOKEN,
    ALLOWED_NAMESPACES: namespace,
    AUTO_RAMP: 'rampy=5,10,25,50',
    AUTO_RAMP_INTERVAL_SECONDS: String(INTERVAL_SECONDS),
  }));
  beforeAll(() => pointWebhookAt(harness));

  const ramps = (id: string) =>
    harness.standIn.changeRequests(id, 'ramp').map((request) => (request.body as { traffic_percentage: number }).traffic_percentage);

  it('ramps 5 -> 10 -> 25, not while paused, never while a canary is unready, and never past the last step', async () => {
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 5, lastModified: new Date().toISOString() };
    const variant = `${spec.id}-test1`;
    expect((await harness.deliver('ExperimentStarted', 'rampy', spec, AUTH)).status).toBe(200);
    for (const step of ['5', '10']) {
      await eventually(async () => expect(await canaryWeight(namespace, 'rampy', variant)).toBe(step), 60_000);
    }
    expect(ramps(spec.id)).toEqual([10]);

    // A person pauses in Superposition: the schedule stops.
    await personChanges(harness, 'rampy', spec.id, 'pause', 'looking at the dashboards');
    await eventually(async () => expect(await canaryWeight(namespace, 'rampy', variant)).toBe('0'), 30_000);
    await new Promise((resolve) => setTimeout(resolve, 3 * INTERVAL_SECONDS * 1000));
    expect(ramps(spec.id)).toEqual([10]);
    // Resumed: the interval starts again from the resume, then the next step.
    const resumedAt = Date.now();
    await personChanges(harness, 'rampy', spec.id, 'resume', 'all fine');
    await eventually(async () => expect(await canaryWeight(namespace, 'rampy', variant)).toBe('25'), 60_000);
    expect(ramps(spec.id)).toEqual([10, 25]);
    expect(harness.standIn.changeRequests(spec.id, 'ramp')[1].at - resumedAt).toBeGreaterThanOrEqual(INTERVAL_SECONDS * 1000);
    const rampRequests = harness.standIn.changeRequests(spec.id, 'ramp');
    expect(rampRequests[0].body).toEqual({
      traffic_percentage: 10,
      change_reason: `Mayday auto-ramp: every canary available for ${INTERVAL_SECONDS} s at 5%, next step 10% (AUTO_RAMP)`,
    });
    expect(rampRequests[0].headers).toMatchObject({ 'x-org-id': 'localorg', 'x-workspace': 'rampy' });
    // Each step is Superposition's own webhook coming back: ramp, pause, resume, ramp.
    await harness.standIn.deliveriesSettled();
    const applied = harness.standIn.webhookDeliveries.filter((delivery) => delivery.experimentId === spec.id);
    expect(applied.map(({ event, status }) => `${event} ${status}`)).toEqual([
      'ExperimentInprogress 200',
      'ExperimentPaused 200',
      'ExperimentInprogress 200',
      'ExperimentInprogress 200',
    ]);
    // From the step applied (its webhook answered) plus the interval, to the next ramp request.
    timings.push(
      `resume applied + ${INTERVAL_SECONDS} s -> ramp to 25 requested: ${rampRequests[1].at - (applied[2].at + INTERVAL_SECONDS * 1000)} ms`,
    );

    // The canary becomes unready (its pod is gone and no node takes a new one): no step while it is.
    await cordonNodes(cluster, true);
    try {
      for (const pod of await podsOf(cluster, namespace, `rampy-dep-${variant}`)) {
        await cluster.core.deleteNamespacedPod({ namespace, name: pod.metadata!.name!, gracePeriodSeconds: 0 });
      }
      await eventually(async () => expect(await canaryWeight(namespace, 'rampy', variant)).toBe('0'), 30_000);
      await new Promise((resolve) => setTimeout(resolve, 3 * INTERVAL_SECONDS * 1000));
      expect(ramps(spec.id)).toEqual([10, 25]);
    } finally {
      await cordonNodes(cluster, false);
    }

    // Available again: after a whole interval, the last step; then nothing more (Mayday never concludes).
    await eventually(async () => expect(await canaryWeight(namespace, 'rampy', variant)).toBe('50'), 60_000);
    await new Promise((resolve) => setTimeout(resolve, 2 * INTERVAL_SECONDS * 1000));
    expect(ramps(spec.id)).toEqual([10, 25, 50]);
    expect(harness.standIn.changeRequests(spec.id).map((request) => request.path.split('/').pop())).toEqual([
      'ramp',
      'pause',
      'resume',
      'ramp',
      'ramp',
    ]);
    expect(harness.standIn.storedExperiment('rampy', spec.id)).toMatchObject({ status: 'INPROGRESS', traffic_percentage: 50 });
  });
});
