import { isDnsLabel, isDnsSubdomain } from '../../naming/names';
import { UnprocessableEventError } from '../../common/errors';
import type { MaydayConfig } from '../../config/mayday-config';
import type { WebhookEventName } from '../../contract/webhook-envelope';
import { contextDimensions, namespaceOf, type Dimensions } from '../../contract/context';
import type { ExperimentDto, VariantDto } from '../../contract/experiment.dto';
import { effectiveTrafficPercentage, type ExperimentGroup } from './experiment-group';

/**
 * What one experiment state asks of the cluster (docs/contract.md §6):
 * - `ignore`: nothing changes (CREATED, or an event that only edits the experiment);
 * - `rollout`: main path present, each experimental variant deployed with its canary weight
 *   (INPROGRESS: traffic_percentage; PAUSED: 0);
 * - `promote`: the experimental winner becomes the stable, everything else of the experiment goes;
 * - `rollback`: every canary object goes and the main path is left as it is.
 */
export type PlanKind = 'ignore' | 'rollout' | 'promote' | 'rollback';

export interface ExperimentPlan {
  kind: PlanKind;
  /** Why this plan, in words for the response and the log. */
  reason: string;
  experimentId: string;
  /** The Superposition workspace id: the service. */
  service: string;
  namespace: string;
  host: string;
  dimensions: Dimensions;
  control: VariantDto;
  experimental: VariantDto[];
  /** The weight every experimental variant gets (rollout only). */
  canaryWeight: number;
  winner?: VariantDto;
  /** The user-created group the experiment runs in, whose traffic scales `canaryWeight` (set by `withGroup`). */
  group?: ExperimentGroup;
  /** Superposition's link to the experiment's metrics dashboard, when it sent one. */
  metricsUrl?: string;
  /** The experiment's `last_modified`: which state this is (a rollout stamps it on the routes it writes). */
  lastModified?: string;
}

export interface PlanSettings {
  routing: MaydayConfig['routing'];
  /** How many experimental variants the traffic provider can split (ingress-nginx: 1). */
  maxCanaries: number;
}

/** The most variants (CONTROL included) an experiment may have: a Gateway API rule holds 16 backends. */
export const MAX_VARIANTS = 16;

const IGNORED_EVENTS: ReadonlySet<WebhookEventName> = new Set(['ExperimentCreated', 'ExperimentUpdated']);

/** The desired state for one experiment event, as a pure function of the event and the settings. */
export function planExperiment(
  event: WebhookEventName,
  service: string,
  experiment: ExperimentDto,
  settings: PlanSettings,
): ExperimentPlan {
  const dimensions = contextDimensions(experiment.context);
  const namespace = namespaceOf(dimensions, settings.routing.namespaceDimension, settings.routing.defaultNamespace);
  if (!isDnsLabel(namespace)) {
    throw new UnprocessableEventError(
      `namespace "${namespace}" (context dimension "${settings.routing.namespaceDimension}") is not a valid Kubernetes namespace name`,
    );
  }
  if (experiment.variants.length > MAX_VARIANTS) {
    throw new UnprocessableEventError(
      `payload.variants holds ${experiment.variants.length} variants; Mayday handles at most ${MAX_VARIANTS}`,
    );
  }
  const control = experiment.variants.find((variant) => variant.variant_type === 'CONTROL')!;
  const experimental = experiment.variants.filter((variant) => variant.variant_type === 'EXPERIMENTAL');
  const base = {
    experimentId: experiment.id,
    service,
    namespace,
    host: hostFor(settings.routing.hostTemplate, service, namespace),
    dimensions,
    control,
    experimental,
    canaryWeight: 0,
    ...(typeof experiment.metrics_url === 'string' && experiment.metrics_url.trim() ? { metricsUrl: experiment.metrics_url.trim() } : {}),
    ...(experiment.last_modified ? { lastModified: experiment.last_modified } : {}),
  };

  if (IGNORED_EVENTS.has(event)) {
    return { ...base, kind: 'ignore', reason: `${event} changes nothing in the cluster` };
  }
  switch (experiment.status) {
    case 'CREATED':
      return { ...base, kind: 'ignore', reason: 'the experiment is CREATED: nothing runs yet' };
    case 'INPROGRESS':
    case 'PAUSED': {
      checkSplit(experimental.length, experiment.traffic_percentage, settings.maxCanaries);
      const canaryWeight = experiment.status === 'PAUSED' ? 0 : experiment.traffic_percentage;
      const reason =
        experiment.status === 'PAUSED'
          ? 'the experiment is PAUSED: canaries stay deployed at weight 0'
          : `the experiment is INPROGRESS: each experimental variant gets ${canaryWeight}% of traffic`;
      return { ...base, kind: 'rollout', canaryWeight, reason };
    }
    case 'CONCLUDED': {
      const winner = experiment.variants.find((variant) => variant.id === experiment.chosen_variant);
      if (!winner) {
        throw new UnprocessableEventError(
          experiment.chosen_variant
            ? `payload.chosen_variant "${experiment.chosen_variant}" is not one of the experiment's variants`
            : 'payload.chosen_variant is required when the experiment is CONCLUDED',
        );
      }
      if (winner.variant_type === 'CONTROL') {
        return { ...base, kind: 'rollback', winner, reason: `CONTROL "${winner.id}" won: canaries are removed` };
      }
      return { ...base, kind: 'promote', winner, reason: `"${winner.id}" won: it is promoted to stable` };
    }
    case 'DISCARDED':
      return { ...base, kind: 'rollback', reason: 'the experiment is DISCARDED: canaries are removed' };
  }
}

/**
 * An INPROGRESS rollout in a USER_CREATED group gets `round(traffic x group traffic / 100)` per
 * variant; any other plan, or group, stays as it is.
 */
export function withGroup(plan: ExperimentPlan, trafficPercentage: number, group: ExperimentGroup | undefined): ExperimentPlan {
  if (plan.kind !== 'rollout' || plan.canaryWeight === 0 || group?.groupType !== 'USER_CREATED') return plan;
  const canaryWeight = effectiveTrafficPercentage(trafficPercentage, group);
  return {
    ...plan,
    group,
    canaryWeight,
    reason: `the experiment is INPROGRESS at ${trafficPercentage}% in experiment group ${group.id} at ${group.trafficPercentage}%: each experimental variant gets ${canaryWeight}% of traffic`,
  };
}

/** `INGRESS_HOST_TEMPLATE` filled in, each part made host-safe (lower case, invalid characters to `-`). */
export function hostFor(template: string, service: string, namespace: string): string {
  const hostPart = (value: string) => value.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
  const host = template.replaceAll('{service}', hostPart(service)).replaceAll('{namespace}', hostPart(namespace));
  if (!isDnsSubdomain(host)) {
    throw new UnprocessableEventError(`host "${host}" made from INGRESS_HOST_TEMPLATE is not a valid DNS name`);
  }
  return host;
}

function checkSplit(canaries: number, trafficPercentage: number, maxCanaries: number): void {
  if (canaries > maxCanaries) {
    throw new UnprocessableEventError(
      maxCanaries === 1
        ? `ingress-nginx honours one canary Ingress per host and path, so it cannot split traffic over ${canaries} experimental variants; use TRAFFIC_PROVIDER=gateway-api for A/B/n experiments`
        : `the traffic provider splits traffic over at most ${maxCanaries} experimental variants; this experiment has ${canaries}`,
    );
  }
  if (canaries * trafficPercentage > 100) {
    throw new UnprocessableEventError(`${canaries} experimental variants at ${trafficPercentage}% each exceed 100% of traffic`);
  }
}
