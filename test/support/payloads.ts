/**
 * Webhook bodies shaped exactly as docs/contract.md §1 shows them: the one builder of experiments and
 * envelopes, for the e2e tests and (through test/unit/fixtures.ts) the unit tests.
 */
export type Status = 'CREATED' | 'INPROGRESS' | 'PAUSED' | 'CONCLUDED' | 'DISCARDED';

export interface ExperimentSpec {
  id: string;
  context?: Record<string, unknown>;
  status?: Status;
  traffic?: number;
  /** Images by variant suffix; the first is CONTROL. Default: control nginx:1.25, test1 nginx:1.27. */
  variants?: { suffix: string; type?: 'CONTROL' | 'EXPERIMENTAL'; overrides?: Record<string, unknown> }[];
  chosen?: string | null;
  /** chosen_variant exactly as sent (a full variant id, or one that is not a variant's), instead of `chosen`. */
  chosenVariantId?: string | null;
  lastModified?: string;
  /** The experiment group while it runs; default: a system-generated group of its own. */
  group?: string;
  metricsUrl?: string | null;
}

/** The id of the SYSTEM_GENERATED group Superposition makes for an experiment started outside a group (here: derived from its id). */
export function systemGroupId(experimentId: string): string {
  return `9${experimentId.slice(1)}`;
}

export function experiment(spec: ExperimentSpec): Record<string, unknown> {
  const variants = (
    spec.variants ?? [
      { suffix: 'control', type: 'CONTROL' as const, overrides: { 'container.image': 'nginx:1.25' } },
      { suffix: 'test1', type: 'EXPERIMENTAL' as const, overrides: { 'container.image': 'nginx:1.27' } },
    ]
  ).map((variant, index) => ({
    id: `${spec.id}-${variant.suffix}`,
    variant_type: variant.type ?? (index === 0 ? 'CONTROL' : 'EXPERIMENTAL'),
    context_id: `ctx-${spec.id}-${variant.suffix}`,
    override_id: `ovr-${spec.id}-${variant.suffix}`,
    overrides: variant.overrides ?? {},
  }));
  const now = spec.lastModified ?? new Date().toISOString();
  const status = spec.status ?? 'INPROGRESS';
  return {
    id: spec.id,
    name: `experiment-${spec.id}`,
    experiment_type: 'DEFAULT',
    override_keys: ['container.image'],
    status,
    traffic_percentage: spec.traffic ?? 10,
    context: spec.context ?? { namespace: 'default' },
    variants,
    chosen_variant:
      spec.chosenVariantId !== undefined
        ? spec.chosenVariantId
        : spec.chosen === undefined || spec.chosen === null
          ? null
          : `${spec.id}-${spec.chosen}`,
    created_at: '2026-08-20T07:30:00.123456Z',
    created_by: 'a@b.c',
    last_modified: now,
    last_modified_by: 'a@b.c',
    started_at: '2026-08-20T07:37:40.100000Z',
    started_by: 'a@b.c',
    description: 'test experiment',
    change_reason: 'test',
    metrics: spec.metricsUrl
      ? { enabled: true, source: { GRAFANA: { base_url: 'https://grafana.example' } } }
      : { enabled: false, source: null },
    metrics_url: spec.metricsUrl ?? null,
    // null while CREATED and again once CONCLUDED or DISCARDED (docs/contract.md §1).
    experiment_group_id: status === 'INPROGRESS' || status === 'PAUSED' ? (spec.group ?? systemGroupId(spec.id)) : null,
  };
}

export function webhook(
  event: string,
  workspace: string,
  payload: unknown,
  organisation = 'localorg',
  configVersion: string | null = null,
): Record<string, unknown> {
  return {
    event_info: {
      webhook_event: event,
      resource: 'experiment',
      action: event === 'ExperimentCreated' ? 'Create' : 'Update',
      time: '2026-08-20 07:37:40.123456789 UTC',
      workspace_id: workspace,
      organisation_id: organisation,
      config_version: configVersion,
    },
    payload,
  };
}

/** A unique experiment id (a 19-digit string, like Superposition's). */
export function experimentId(): string {
  return `73501${String(Date.now()).slice(-8)}${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
}
