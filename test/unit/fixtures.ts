import type { RouteScope } from '../../src/traffic/traffic-router';
/**
 * Builders shared by the unit tests: experiment payloads and webhook bodies shaped like docs/contract.md §1,
 * and the routing settings the planner reads. Plain objects; cast to the DTO types where a test needs them.
 */
import type { MaydayConfig } from '../../src/config/mayday-config';
import type { ExperimentDto, ExperimentStatus, VariantType } from '../../src/contract/experiment.dto';
import { experiment, webhook } from '../support/payloads';

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

/**
 * An experiment exactly as Superposition sends it (docs/contract.md §1), with every extra field it
 * carries: test/support/payloads.ts's, with this file's fixed id, namespace and timestamps.
 */
export function experimentPayload(spec: ExperimentSpec = {}): Record<string, unknown> {
  const id = spec.id ?? EXPERIMENT_ID;
  return experiment({
    id,
    status: spec.status,
    traffic: spec.traffic,
    context: spec.context ?? { namespace: 'mumbai' },
    variants: spec.variants ?? DEFAULT_VARIANTS,
    chosenVariantId: spec.chosen ?? null,
    lastModified: '2026-08-20T07:37:40.100000Z',
    group: '7350102649999999999',
  });
}

/** The same experiment as the validated DTO the planner takes (a plain object cast to the type). */
export function experimentDto(spec: ExperimentSpec = {}): ExperimentDto {
  return experimentPayload(spec) as unknown as ExperimentDto;
}

/** A webhook body: the envelope of docs/contract.md §1 around a payload. */
export function webhookBody(event: string, payload: unknown = experimentPayload(), workspace: string = WORKSPACE): Record<string, unknown> {
  return webhook(event, workspace, payload, 'localorg', '7350102650000000001');
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
