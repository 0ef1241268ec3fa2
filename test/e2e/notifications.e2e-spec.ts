import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { useMaydayWithSuperposition } from '../support/harness';
import { MAYDAY_NAMESPACE } from '../support/mayday';
import { NotifyReceiver, type ReceivedNotification } from '../support/notify-receiver';
import { experimentId, type ExperimentSpec } from '../support/payloads';
import { holdNewPods, releaseHeldPods } from '../support/workloads';

const cluster = new Cluster();
const PAGE = 'https://mayday.example.test';

/**
 * NOTIFY_URL against a local HTTP receiver, with Mayday on the real API server, controllers and
 * hollow nodes: the transitions happen for real (a canary whose rollout gets stuck, a promotion
 * waiting for its winner), and each notified one is POSTed once, while a receiver that does not
 * answer delays no webhook.
 */
describe('notifications (NOTIFY_URL)', () => {
  const namespaces: Record<string, string> = {};
  // What the receiver answers; a test switches it to 'hang' to play a receiver that does not answer.
  let answer: number | 'hang' = 200;
  const receiver = new NotifyReceiver(() => answer);
  let notifyUrl = '';
  beforeAll(async () => {
    notifyUrl = await receiver.start();
    for (const name of ['failed', 'promoted']) namespaces[name] = await cluster.createNamespace(`notify-${name}`);
  });
  afterAll(() => receiver.stop());
  const harness = useMaydayWithSuperposition(() => ({ NOTIFY_URL: notifyUrl, NOTIFY_FORMAT: 'json', MAYDAY_PUBLIC_URL: PAGE }));

  const of = (id: string, type: string): ReceivedNotification[] =>
    receiver.received.filter(({ body }) => body.experiment === id && body.type === type);

  async function startedAndAvailable(key: string, service: string): Promise<ExperimentSpec> {
    const spec: ExperimentSpec = {
      id: experimentId(),
      context: { namespace: namespaces[key] },
      traffic: 20,
      lastModified: '2026-08-20T07:40:00.000001Z',
    };
    expect((await harness.deliver('ExperimentStarted', service, spec)).status).toBe(200);
    await eventually(async () => {
      const view = (await harness.mayday.get(`/experiments/${spec.id}`)).body;
      expect(view.variants[1]).toMatchObject({ weight: 20, state: 'available' });
    }, 30_000);
    return spec;
  }

  it('tells a failed canary and the rollback, once each, with what, where, why and a link; a hanging receiver delays nothing', async () => {
    const namespace = namespaces.failed;
    const spec = await startedAndAvailable('failed', 'shop');
    const variant = `${spec.id}-test1`;
    expect(receiver.received.filter(({ body }) => body.experiment === spec.id)).toEqual([]);

    // The canary's new pods cannot be scheduled: its rollout passes its progress deadline, for real.
    await holdNewPods(cluster, namespace, `shop-dep-${variant}`, 2);
    const [failed] = await eventually(async () => {
      const found = of(spec.id, 'CanaryFailed');
      expect(found).toHaveLength(1);
      return found;
    }, 30_000);
    expect(failed.contentType).toBe('application/json');
    expect(failed.body).toMatchObject({
      type: 'CanaryFailed',
      experiment: spec.id,
      workspace: 'shop',
      namespace,
      variant,
      reason: expect.stringMatching(/^taken out of traffic: ProgressDeadlineExceeded/),
      link: `${PAGE}/ui/#experiment=${spec.id}`,
    });

    // The receiver stops answering: the discard is answered as always, and its notification arrives
    // once the receiver is back (the hanging POST times out and is tried again).
    answer = 'hang';
    const hungBefore = receiver.requests;
    const discarded = await harness.deliver('ExperimentDiscarded', 'shop', {
      ...spec,
      status: 'DISCARDED',
      lastModified: '2026-08-20T07:45:00.000001Z',
    });
    expect(discarded.status).toBe(200);
    expect(discarded.body.result).toBe('applied');
    await eventually(async () => expect(receiver.requests).toBeGreaterThan(hungBefore), 10_000);
    expect(of(spec.id, 'RolledBack')).toEqual([]);
    answer = 200;
    const [rolledBack] = await eventually(async () => {
      const found = of(spec.id, 'RolledBack');
      expect(found).toHaveLength(1);
      return found;
    }, 30_000);
    expect(rolledBack.body).toMatchObject({
      workspace: 'shop',
      namespace,
      variant: null,
      reason: expect.stringContaining('rolled back (it was discarded)'),
    });
    expect(of(spec.id, 'CanaryFailed')).toHaveLength(1);
  });

  it('tells a pending promotion and then the promotion, once each', async () => {
    const namespace = namespaces.promoted;
    const spec = await startedAndAvailable('promoted', 'cart');
    const winner = `cart-dep-${spec.id}-test1`;
    await holdNewPods(cluster, namespace, winner);
    const concluded = await harness.deliver('ExperimentConcluded', 'cart', {
      ...spec,
      status: 'CONCLUDED',
      chosen: 'test1',
      metricsUrl: 'https://grafana.example.test/d/cart',
      lastModified: '2026-08-20T07:42:00.000001Z',
    });
    expect(concluded.body.result).toBe('pending');
    const [pending] = await eventually(async () => {
      const found = of(spec.id, 'PromotionPending');
      expect(found).toHaveLength(1);
      return found;
    }, 30_000);
    expect(pending.body).toMatchObject({
      workspace: 'cart',
      namespace,
      variant: `${spec.id}-test1`,
      reason: expect.stringContaining(winner),
    });

    await releaseHeldPods(cluster, namespace);
    const [promoted] = await eventually(async () => {
      const found = of(spec.id, 'Promoted');
      expect(found).toHaveLength(1);
      return found;
    }, 30_000);
    expect(promoted.body).toMatchObject({
      workspace: 'cart',
      namespace,
      variant: `${spec.id}-test1`,
      reason: expect.stringContaining(`variant ${spec.id}-test1 is the stable release`),
      metricsUrl: 'https://grafana.example.test/d/cart',
      link: `${PAGE}/ui/#experiment=${spec.id}`,
    });
    // The record's history holds the same story, for the rollout page.
    await eventually(async () => {
      const record = await cluster.core.readNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE, name: `mayday-experiment-${spec.id}` });
      const reasons = (JSON.parse(record.data?.history ?? '[]') as { reason: string }[]).map((entry) => entry.reason);
      expect(reasons).toEqual(expect.arrayContaining(['CanaryCreated', 'WeightChanged', 'PromotionPending', 'Promoted']));
      expect(reasons.filter((reason) => reason === 'Promoted')).toHaveLength(1);
    });
    expect(of(spec.id, 'PromotionPending')).toHaveLength(1);
  });
});
