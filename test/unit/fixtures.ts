import type { RouteScope } from '../../src/traffic/traffic-router';
/**
 * Builders shared by the unit tests: experiment payloads and webhook bodies shaped like docs/contract.md §1,
 * and the routing settings the planner reads. Plain objects; cast to the DTO types where a test needs them.
 */
import type { MaydayConfig } from '../../src/config/mayday-config';
import type { ExperimentDto, ExperimentStatus, VariantType } from '../../src/contract/experiment.dto';

export const EXPERIMENT_ID = '7350102648234549248';
export const WORKSPACE = 'nginxservice';
export const CONTROL_ID = `${EXPERIMENT_ID}-control`;
export const TEST1_ID = `${EXPERIMENT_ID}-test1`;
export const TEST2_ID = `${EXPERIMENT_ID}-test2`;

export interface VariantSpec {
  /** The part the user typed; the variant id is `<experiment id>-<suffix>`. */
  suffix: string;
  type: VariantType;
  overrides?: Record<string, unknown>;
}

export interface ExperimentSpec {
  id?: string;
  status?: ExperimentStatus;
  traffic?: number;
  context?: Record<string, unknown>;
  variants?: VariantSpec[];
  /** Full variant id, or null. */
  chosen?: string | null;
}

export const DEFAULT_VARIANTS: VariantSpec[] = [
  { suffix: 'control', type: 'CONTROL', overrides: { 'container.image': 'nginx:1.25' } },
  { suffix: 'test1', type: 'EXPERIMENTAL', overrides: { 'container.image': 'nginx:1.27' } },
];

/** An experiment exactly as Superposition sends it (docs/contract.md §1), with every extra field it carries. */
export function experimentPayload(spec: ExperimentSpec = {}): Record<string, unknown> {
  const id = spec.id ?? EXPERIMENT_ID;
  return {
    id,
    name: 'nginx-1-27',
    experiment_type: 'DEFAULT',
    override_keys: ['container.image'],
    status: spec.status ?? 'INPROGRESS',
    traffic_percentage: spec.traffic ?? 10,
    context: spec.context ?? { namespace: 'mumbai' },
    variants: (spec.variants ?? DEFAULT_VARIANTS).map((variant) => ({
      id: `${id}-${variant.suffix}`,
      variant_type: variant.type,
      context_id: `ctx-${variant.suffix}`,
      override_id: `ovr-${variant.suffix}`,
      overrides: variant.overrides ?? {},
    })),
    chosen_variant: spec.chosen ?? null,
    created_at: '2026-08-20T07:30:00.123456Z',
    created_by: 'a@b.c',
    last_modified: '2026-08-20T07:37:40.100000Z',
    last_modified_by: 'a@b.c',
    started_at: '2026-08-20T07:37:40.100000Z',
    started_by: 'a@b.c',
    description: '...',
    change_reason: '...',
    metrics: { enabled: false, source: null },
    metrics_url: null,
    experiment_group_id: '7350102649999999999',
  };
}

/** The same experiment as the validated DTO the planner takes (a plain object cast to the type). */
export function experimentDto(spec: ExperimentSpec = {}): ExperimentDto {
  return experimentPayload(spec) as unknown as ExperimentDto;
}

/** A webhook body: the envelope of docs/contract.md §1 around a payload. */
export function webhookBody(event: string, payload: unknown = experimentPayload(), workspace: string = WORKSPACE): Record<string, unknown> {
  return {
    event_info: {
      webhook_event: event,
      resource: 'experiment',
      action: event === 'ExperimentCreated' ? 'Create' : 'Update',
      time: '2026-08-20 07:37:40.123456789 UTC',
      workspace_id: workspace,
      organisation_id: 'localorg',
      config_version: '7350102650000000001',
    },
    payload,
  };
}

export function routing(overrides: Partial<MaydayConfig['routing']> = {}): MaydayConfig['routing'] {
  return {
    defaultNamespace: 'default',
    namespaceDimension: 'namespace',
    ingressClass: 'nginx',
    hostTemplate: '{service}.{namespace}',
    provider: 'nginx',
    mode: 'weight',
    variantHeader: 'x-superposition-variant',
    ...overrides,
  };
}

/** Deep copy for tests that mutate a builder's output. */
export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Where the routes of the fixture experiment go (namespace mumbai, service nginxservice). */
export const ROUTE_SCOPE: RouteScope = {
  namespace: 'mumbai',
  service: WORKSPACE,
  experimentId: EXPERIMENT_ID,
  host: 'nginxservice.mumbai',
  mainServiceName: 'nginxservice',
  mainServicePort: 80,
  stableVariantId: CONTROL_ID,
  controlVariantId: CONTROL_ID,
};
