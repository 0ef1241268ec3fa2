import type { NotifyFormat } from '../config/mayday-config';
import type { TransitionEvent } from '../kubernetes/kube-events.service';

/** The transitions a person is told about (the others are on the rollout page and in the Events). */
export const NOTIFIED_REASONS: ReadonlySet<string> = new Set(['CanaryFailed', 'Promoted', 'PromotionPending', 'RolledBack']);

/** The experiment a transition belongs to. */
export interface NotificationSubject {
  experimentId: string;
  workspace: string;
  namespace: string;
  metricsUrl?: string;
}

export interface Notification extends NotificationSubject {
  /** CanaryFailed, Promoted, PromotionPending or RolledBack. */
  type: string;
  variantId?: string;
  /** Why, in the words of the Kubernetes Event's note. */
  reason: string;
  /** The rollout page, opened on this experiment. */
  link: string;
  at: string;
}

/** Mayday's rollout page opened on one experiment. */
export function pageLink(publicUrl: string, experimentId: string): string {
  return `${publicUrl}/ui/#experiment=${encodeURIComponent(experimentId)}`;
}

/**
 * One notification per notified transition among `events`: an Event told on two objects (Promoted,
 * on the winner and on the main Service) is one notification.
 */
export function notificationsFor(
  subject: NotificationSubject,
  events: readonly TransitionEvent[],
  publicUrl: string,
  at: string,
): Notification[] {
  const notifications: Notification[] = [];
  for (const event of events) {
    if (!NOTIFIED_REASONS.has(event.reason)) continue;
    if (notifications.some((sent) => sent.type === event.reason && sent.variantId === event.variantId)) continue;
    notifications.push({
      ...subject,
      type: event.reason,
      ...(event.variantId !== undefined ? { variantId: event.variantId } : {}),
      reason: event.note,
      link: pageLink(publicUrl, subject.experimentId),
      at,
    });
  }
  return notifications;
}

const HEADLINES: Record<string, string> = {
  CanaryFailed: 'canary failed and was taken out of traffic',
  Promoted: 'promoted',
  PromotionPending: 'promotion pending',
  RolledBack: 'rolled back',
};

/** The body of the POST for one notification, in NOTIFY_FORMAT. */
export function notificationBody(notification: Notification, format: NotifyFormat): Record<string, unknown> {
  const { type, experimentId, workspace, namespace, variantId, reason, link, metricsUrl, at } = notification;
  if (format === 'json') {
    return {
      type,
      experiment: experimentId,
      workspace,
      namespace,
      variant: variantId ?? null,
      reason,
      link,
      metricsUrl: metricsUrl ?? null,
      at,
    };
  }
  const variant = variantId ? `, variant ${slackText(variantId)}` : '';
  const metrics = metricsUrl ? ` · <${slackUrl(metricsUrl)}|metrics>` : '';
  const text =
    `${type === 'CanaryFailed' ? ':warning: ' : ''}*${HEADLINES[type] ?? type}*: experiment ${slackText(experimentId)}${variant} ` +
    `(workspace ${slackText(workspace)}, namespace ${slackText(namespace)})\n${slackText(reason)}\n<${slackUrl(link)}|rollout page>${metrics}`;
  return { text };
}

/** Slack reads &, < and > as markup in message text. */
function slackText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A link inside <...|...> must not close it early. */
function slackUrl(url: string): string {
  return url.replace(/[<>|]/g, encodeURIComponent);
}
