/** Webhook bodies shaped exactly as CONTRACT.md §1 shows them. */
export type Status = 'CREATED' | 'INPROGRESS' | 'PAUSED' | 'CONCLUDED' | 'DISCARDED';

export interface ExperimentSpec {
  id: string;
  context?: Record<string, unknown>;
  status?: Status;
  traffic?: number;
  /** Images by variant suffix; the first is CONTROL. Default: control nginx:1.25, test1 nginx:1.27. */
  variants?: { suffix: string; type?: 'CONTROL' | 'EXPERIMENTAL'; overrides?: Record<string, unknown> }[];
  chosen?: string | null;
  lastModified?: string;
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
  return {
    id: spec.id,
    name: `experiment-${spec.id}`,
    experiment_type: 'DEFAULT',
    override_keys: ['container.image'],
    status: spec.status ?? 'INPROGRESS',
    traffic_percentage: spec.traffic ?? 10,
    context: spec.context ?? { namespace: 'default' },
    variants,
    chosen_variant: spec.chosen === undefined ? null : spec.chosen === null ? null : `${spec.id}-${spec.chosen}`,
    created_at: '2026-08-20T07:30:00.123456Z',
    created_by: 'a@b.c',
    last_modified: now,
    last_modified_by: 'a@b.c',
    started_at: '2026-08-20T07:37:40.100000Z',
    started_by: 'a@b.c',
    description: 'test experiment',
    change_reason: 'test',
    metrics: { enabled: false, source: null },
    metrics_url: null,
    experiment_group_id: '7350102649999999999',
  };
}

export function webhook(
  event: string,
  workspace: string,
  payload: Record<string, unknown>,
  organisation = 'localorg',
): Record<string, unknown> {
  return {
    event_info: {
      webhook_event: event,
      resource: 'experiment',
      action: event === 'ExperimentCreated' ? 'Create' : 'Update',
      time: '2026-08-20 07:37:40.123456789 UTC',
      workspace_id: workspace,
      organisation_id: organisation,
      config_version: null,
    },
    payload,
  };
}

/** A unique experiment id (a 19-digit string, like Superposition's). */
export function experimentId(): string {
  return `73501${String(Date.now()).slice(-8)}${String(Math.floor(Math.random() * 1e6)).padStart(6, '0')}`;
}
