import type { V1ConfigMap } from '@kubernetes/client-node';
import { maydayLabels } from '../naming/labels';
import { kubeName } from '../naming/names';
import type { ExperimentStatus } from './dto/experiment.dto';

/**
 * What Mayday last applied for one experiment, kept in the cluster (a ConfigMap in Mayday's own
 * namespace, where tenants cannot write) so that it survives restarts: it orders events, stops late
 * events from undoing a conclusion, binds the experiment to its namespace, and tells the resync and
 * the Deployment watch what to converge to.
 */
export interface ExperimentRecord {
  experimentId: string;
  workspace: string;
  organisationId?: string;
  /** The namespace the experiment acts in (not where the record is kept). */
  namespace: string;
  status: ExperimentStatus;
  /** The applied experiment's `last_modified`, as Superposition wrote it. */
  lastModified?: string;
  event: string;
  /** When Mayday applied it (ISO 8601). */
  appliedAt: string;
  /** `promotion-pending`: CONCLUDED, but the winner was not available yet, so the switch still has to happen. */
  phase: RecordPhase;
  /** Why a promotion is pending (with `promotion-pending` only). */
  pendingReason?: string;
  /** The experiment as applied (JSON), so Mayday can converge to it again without a webhook. */
  experiment: string;
}

export type RecordPhase = 'applied' | 'promotion-pending';

export const TERMINAL_STATUSES: ReadonlySet<ExperimentStatus> = new Set(['CONCLUDED', 'DISCARDED']);

export function recordName(experimentId: string): string {
  return kubeName(`mayday-experiment-${experimentId}`);
}

/** Marks that records of an earlier Mayday (kept in experiment namespaces) were moved: it is done once. */
export const MIGRATION_MARKER = 'mayday-records-migrated';

/** The record as a ConfigMap in `recordNamespace` (Mayday's own namespace). */
export function recordToConfigMap(record: ExperimentRecord, recordNamespace: string): V1ConfigMap {
  const data: Record<string, string> = {
    experimentId: record.experimentId,
    workspace: record.workspace,
    namespace: record.namespace,
    status: record.status,
    event: record.event,
    appliedAt: record.appliedAt,
    phase: record.phase,
    experiment: record.experiment,
  };
  if (record.organisationId !== undefined) data.organisationId = record.organisationId;
  if (record.lastModified !== undefined) data.lastModified = record.lastModified;
  if (record.pendingReason !== undefined) data.pendingReason = record.pendingReason;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: recordName(record.experimentId),
      namespace: recordNamespace,
      labels: maydayLabels({ workspace: record.workspace, experimentId: record.experimentId, role: 'record' }),
    },
    data,
  };
}

/** The record a ConfigMap holds, or undefined when it holds none (a missing field, another name). */
export function recordFromConfigMap(configMap: V1ConfigMap): ExperimentRecord | undefined {
  const data = configMap.data ?? {};
  if (!data.experimentId || !data.workspace || !data.status || !data.namespace) return undefined;
  if (configMap.metadata?.name !== recordName(data.experimentId)) return undefined;
  return {
    experimentId: data.experimentId,
    workspace: data.workspace,
    organisationId: data.organisationId,
    namespace: data.namespace,
    status: data.status as ExperimentStatus,
    lastModified: data.lastModified,
    event: data.event ?? '',
    appliedAt: data.appliedAt ?? '',
    phase: data.phase === 'promotion-pending' ? 'promotion-pending' : 'applied',
    pendingReason: data.pendingReason,
    experiment: data.experiment ?? '',
  };
}

/**
 * What to do with a record an earlier Mayday kept in an experiment namespace: move it to Mayday's
 * namespace only when it is bound to the namespace it was found in (the earlier version always wrote
 * it there). A record that names another namespace was not written by Mayday: it is left alone.
 */
export function legacyRecordVerdict(configMap: V1ConfigMap): { move: ExperimentRecord } | { skip: string } {
  const where = `${configMap.metadata?.namespace}/${configMap.metadata?.name}`;
  const record = recordFromConfigMap(configMap);
  if (!record) return { skip: `ConfigMap ${where} is labelled as a record but does not hold one` };
  if (record.namespace !== configMap.metadata?.namespace) {
    return { skip: `ConfigMap ${where} claims namespace "${record.namespace}", not its own: not a record Mayday wrote` };
  }
  return { move: record };
}

/** Kubernetes refuses a ConfigMap whose data (keys and values, in bytes) exceeds 1 MiB. */
export const CONFIGMAP_DATA_LIMIT_BYTES = 1024 * 1024;

/** The bytes the API server counts against CONFIGMAP_DATA_LIMIT_BYTES for this record. */
export function recordDataBytes(configMap: V1ConfigMap): number {
  return Object.entries(configMap.data ?? {}).reduce((sum, [key, value]) => sum + Buffer.byteLength(key) + Buffer.byteLength(value), 0);
}

export type RecordVerdict = { apply: true } | { apply: false; reason: string };

/** How long finished experiments' records are kept (RECORD_RETENTION_HOURS), as of `now` (ms). */
export interface RecordRetention {
  now: number;
  retentionMs: number;
}

export const HOUR_MS = 3_600_000;

export function retentionOf(recordRetentionHours: number, now = Date.now()): RecordRetention {
  return { now, retentionMs: recordRetentionHours * HOUR_MS };
}

/** A finished experiment's record that has been kept long enough (an unfinished one is kept for ever). */
export function isExpired(record: ExperimentRecord, { now, retentionMs }: RecordRetention): boolean {
  if (retentionMs <= 0 || !TERMINAL_STATUSES.has(record.status) || record.phase !== 'applied') return false;
  const appliedAt = Date.parse(record.appliedAt);
  return !Number.isNaN(appliedAt) && appliedAt + retentionMs < now;
}

/**
 * Whether an incoming experiment state may be applied over what the record says was applied.
 * Never backwards: nothing after a conclusion or discard (the record is written only once the
 * transition completed, so a retry of a failed one still applies; re-running a completed
 * promotion could undo a later experiment's), except the conclusion itself while its promotion
 * waits for the winner; and nothing older than the last applied `last_modified`. An equal
 * `last_modified` re-applies, so a retry converges.
 */
export function judgeAgainstRecord(
  record: ExperimentRecord | undefined,
  incoming: { status: ExperimentStatus; last_modified?: string },
): RecordVerdict {
  if (!record) return { apply: true };
  if (TERMINAL_STATUSES.has(record.status)) {
    // A conclusion waiting for its winner goes on until the promotion is done.
    const samePendingConclusion =
      record.phase === 'promotion-pending' &&
      incoming.status === record.status &&
      compareTimestamps(incoming.last_modified, record.lastModified) !== -1;
    return samePendingConclusion
      ? { apply: true }
      : { apply: false, reason: `experiment already ${record.status}: nothing changes any more` };
  }
  const order = compareTimestamps(incoming.last_modified, record.lastModified);
  if (order !== undefined && order < 0) {
    return {
      apply: false,
      reason: `stale event: last_modified ${incoming.last_modified} is older than the applied ${record.lastModified} (${record.status})`,
    };
  }
  return { apply: true };
}

/**
 * Orders two RFC 3339 timestamps with sub-millisecond precision (Superposition writes microseconds,
 * which Date.parse would drop). Undefined when either is missing or unreadable.
 */
export function compareTimestamps(a: string | undefined, b: string | undefined): number | undefined {
  const left = nanoseconds(a);
  const right = nanoseconds(b);
  if (left === undefined || right === undefined) return undefined;
  return left < right ? -1 : left > right ? 1 : 0;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:\.(\d+))?\s*(Z|UTC|[+-]\d{2}:?\d{2})?$/i;

function nanoseconds(timestamp: string | undefined): bigint | undefined {
  if (!timestamp) return undefined;
  const match = RFC3339.exec(timestamp.trim());
  if (!match) return undefined;
  const [, whole, fraction = '', zone = 'Z'] = match;
  const offset = /^(z|utc)$/i.test(zone) ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone;
  const millis = Date.parse(`${whole.replace(' ', 'T')}${offset}`);
  if (Number.isNaN(millis)) return undefined;
  return BigInt(millis) * 1_000_000n + BigInt(fraction.padEnd(9, '0').slice(0, 9));
}
