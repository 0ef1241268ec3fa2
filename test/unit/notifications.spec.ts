import { afterEach, describe, expect, it } from 'vitest';
import { loadMaydayConfig } from '../../src/config/mayday-config';
import type { TransitionEvent } from '../../src/kubernetes/kube-events.service';
import { MetricsService } from '../../src/metrics/metrics.service';
import { notificationBody, notificationsFor, pageLink, type Notification } from '../../src/notifications/notification';
import { Notifier, type NotifierOptions } from '../../src/notifications/notifier.service';
import { eventually } from '../support/eventually';
import { NotifyReceiver } from '../support/notify-receiver';

const TOKEN = 'x'.repeat(32);
const subject = { experimentId: '7350102648234549248', workspace: 'nginxservice', namespace: 'mumbai' };
const regarding = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'mumbai', name: 'nginxservice-dep-7350102648234549248-test1' };
const event = (reason: string, extra: Partial<TransitionEvent> = {}): TransitionEvent => ({
  regarding,
  reason,
  type: 'Normal',
  note: `${reason}: why`,
  ...extra,
});

describe('notificationsFor', () => {
  it('tells CanaryFailed, Promoted, PromotionPending and RolledBack, once each, with a link to the page', () => {
    const events = [
      event('CanaryCreated', { variantId: 'v1' }),
      event('WeightChanged', { variantId: 'v1', weight: 0 }),
      event('CanaryFailed', { variantId: 'v1', type: 'Warning', note: 'taken out of traffic: CrashLoop: restarted 4 times' }),
      event('Promoted', { variantId: 'v1' }),
      event('Promoted', { variantId: 'v1', regarding: { ...regarding, kind: 'Service', name: 'nginxservice' } }),
      event('PromotionPending', { variantId: 'v1' }),
      event('RolledBack'),
      event('ScaledDown'),
      event('Paused', { variantId: 'v1', weight: 0 }),
    ];
    const notifications = notificationsFor(
      { ...subject, metricsUrl: 'https://grafana.example/d/1' },
      events,
      'https://mayday.example',
      'T',
    );
    expect(notifications.map((notification) => [notification.type, notification.variantId])).toEqual([
      ['CanaryFailed', 'v1'],
      ['Promoted', 'v1'],
      ['PromotionPending', 'v1'],
      ['RolledBack', undefined],
    ]);
    expect(notifications[0]).toEqual({
      ...subject,
      metricsUrl: 'https://grafana.example/d/1',
      type: 'CanaryFailed',
      variantId: 'v1',
      reason: 'taken out of traffic: CrashLoop: restarted 4 times',
      link: 'https://mayday.example/ui/#experiment=7350102648234549248',
      at: 'T',
    });
    expect(notificationsFor(subject, [event('WeightChanged'), event('CanaryCreated')], 'http://x', 'T')).toEqual([]);
  });

  it('links to the page with the id encoded', () => {
    expect(pageLink('http://localhost:8090', 'a b#c')).toBe('http://localhost:8090/ui/#experiment=a%20b%23c');
  });
});

describe('notificationBody', () => {
  const notification: Notification = {
    ...subject,
    type: 'CanaryFailed',
    variantId: '7350102648234549248-test1',
    reason: 'taken out of traffic: <ProgressDeadlineExceeded> & more',
    link: 'https://mayday.example/ui/#experiment=7350102648234549248',
    at: '2026-11-29T10:00:00.000Z',
  };

  it('json: every field by name', () => {
    expect(notificationBody(notification, 'json')).toEqual({
      type: 'CanaryFailed',
      experiment: '7350102648234549248',
      workspace: 'nginxservice',
      namespace: 'mumbai',
      variant: '7350102648234549248-test1',
      reason: 'taken out of traffic: <ProgressDeadlineExceeded> & more',
      link: 'https://mayday.example/ui/#experiment=7350102648234549248',
      metricsUrl: null,
      at: '2026-11-29T10:00:00.000Z',
    });
  });

  it("slack: one text with everything, Slack's markup characters escaped, the page as a link", () => {
    const { text } = notificationBody({ ...notification, metricsUrl: 'https://grafana.example/d/1?a=1|2' }, 'slack') as { text: string };
    expect(text).toBe(
      ':warning: *canary failed and was taken out of traffic*: experiment 7350102648234549248, variant 7350102648234549248-test1 ' +
        '(workspace nginxservice, namespace mumbai)\n' +
        'taken out of traffic: &lt;ProgressDeadlineExceeded&gt; &amp; more\n' +
        '<https://mayday.example/ui/#experiment=7350102648234549248|rollout page> · <https://grafana.example/d/1?a=1%7C2|metrics>',
    );
    expect((notificationBody({ ...notification, type: 'RolledBack', variantId: undefined }, 'slack') as { text: string }).text).toMatch(
      /^\*rolled back\*: experiment 7350102648234549248 \(workspace/,
    );
  });
});

describe('Notifier, against a local HTTP receiver', () => {
  const fast: Partial<NotifierOptions> = { firstDelayMs: 20, maxDelayMs: 50, attempts: 4, timeoutMs: 500 };
  let receiver: NotifyReceiver | undefined;
  let notifier: Notifier | undefined;
  afterEach(async () => {
    notifier?.onApplicationShutdown();
    await receiver?.stop();
  });

  async function start(answer: (request: number) => number | 'hang', options: Partial<NotifierOptions> = fast, format = 'json') {
    receiver = new NotifyReceiver(answer);
    const url = await receiver.start();
    const metrics = new MetricsService();
    notifier = new Notifier(loadMaydayConfig({ WEBHOOK_TOKEN: TOKEN, NOTIFY_URL: url, NOTIFY_FORMAT: format }), metrics, options);
    return { receiver, notifier, metrics };
  }
  const notificationOf = (type: string, experimentId = subject.experimentId): Notification => ({
    ...subject,
    experimentId,
    type,
    reason: `${type} because`,
    link: pageLink('http://localhost:8090', experimentId),
    at: 'T',
  });
  const count = async (metrics: MetricsService, type: string, outcome: string) =>
    (await metrics.notifications.get()).values.find((value) => value.labels.type === type && value.labels.outcome === outcome)?.value ?? 0;

  it('POSTs one JSON body per notification, in order', async () => {
    const { receiver, notifier, metrics } = await start(() => 200);
    notifier.notify([notificationOf('CanaryFailed'), notificationOf('RolledBack')]);
    await notifier.idle();
    expect(receiver.received.map(({ body, contentType }) => [body.type, body.experiment, contentType])).toEqual([
      ['CanaryFailed', subject.experimentId, 'application/json'],
      ['RolledBack', subject.experimentId, 'application/json'],
    ]);
    expect(await count(metrics, 'CanaryFailed', 'sent')).toBe(1);
  });

  it('tries again after no answer, 429 or 5xx, with growing waits, until the receiver takes it', async () => {
    const answers: (number | 'hang')[] = [503, 'hang', 429, 200];
    const { receiver, notifier, metrics } = await start((request) => answers[request - 1] ?? 200);
    notifier.notify([notificationOf('Promoted')]);
    await notifier.idle();
    expect(receiver.requests).toBe(4);
    expect(receiver.received.map(({ body }) => body.type)).toEqual(['Promoted']);
    expect(await count(metrics, 'Promoted', 'sent')).toBe(1);
  });

  it('gives up after its tries, and at once on another 4xx, and goes on with the next', async () => {
    const { receiver, notifier, metrics } = await start((request) => (request <= 4 ? 500 : request === 5 ? 404 : 200));
    notifier.notify([notificationOf('CanaryFailed'), notificationOf('PromotionPending'), notificationOf('RolledBack')]);
    await notifier.idle();
    expect(receiver.requests).toBe(6);
    expect(receiver.received.map(({ body }) => body.type)).toEqual(['RolledBack']);
    expect([await count(metrics, 'CanaryFailed', 'failed'), await count(metrics, 'PromotionPending', 'failed')]).toEqual([1, 1]);
  });

  it('never blocks the caller, even on a receiver that does not answer, and drops the oldest past its queue limit', async () => {
    const { receiver, notifier, metrics } = await start(() => 'hang', { ...fast, queueLimit: 3, attempts: 1, timeoutMs: 60_000 });
    // Synchronous: nothing for the caller to wait for, whatever the receiver does.
    expect(notifier.notify(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => notificationOf('CanaryFailed', id)))).toBeUndefined();
    await eventually(async () => expect(receiver.requests).toBe(1));
    // All six were queued before the first POST: the queue kept the last 3.
    expect(await count(metrics, 'CanaryFailed', 'dropped')).toBe(3);
  });

  it('sends nothing without NOTIFY_URL', async () => {
    const quiet = new Notifier(loadMaydayConfig({ WEBHOOK_TOKEN: TOKEN }), new MetricsService(), fast);
    expect(quiet.enabled).toBe(false);
    quiet.notify([notificationOf('CanaryFailed')]);
    await quiet.idle();
  });

  it('slack format: the body is {text}', async () => {
    const { receiver, notifier } = await start(() => 200, fast, 'slack');
    notifier.notify([notificationOf('RolledBack')]);
    await notifier.idle();
    expect(Object.keys(receiver.received[0].body)).toEqual(['text']);
  });
});
