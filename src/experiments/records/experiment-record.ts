import type { V1ConfigMap } from '@kubernetes/client-node';
import { maydayLabels } from '../../naming/labels';
import { kubeName } from '../../naming/names';
import type { ExperimentStatus } from '../../contract/experiment.dto';
import type { AppliedSettings } from '../plan/applied-settings';
import type { ExperimentGroup } from '../plan/experiment-group';
import { historyFromJson, type TransitionEntry } from './transition-history';
import { parseWriteBack, type WriteBackState } from '../closed-loop/write-back';

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
  /**
   * `promotion-pending`: CONCLUDED, but the winner was not fully available yet, so the switch still
   * has to happen. `scale-down-pending`: switched; the previous stable and the rest of the
   * experiment are deleted at `scaleDownAt`.
   */
  phase: RecordPhase;
  /** Why a promotion is pending (with `promotion-pending` only). */
  pendingReason?: string;
  /** When the objects the promotion retires are deleted (ISO 8601; with `scale-down-pending` only). */
  scaleDownAt?: string;
  /** The experiment as applied (JSON), so Mayday can converge to it again without a webhook. */
  experiment: string;
  /** The share each experimental variant was given: the experiment's own, scaled by a user-created group's traffic. */
  effectiveTrafficPercentage?: number;
  /** The user-created group that scaled it. */
  experimentGroup?: ExperimentGroup;
  /** The experimental variants' settings as applied, with what they were resolved from (running experiments only). */
  appliedSettings?: AppliedSettings;
  /** The experiment's last transitions (the last HISTORY_LIMIT), oldest first, for the rollout page. */
  history?: readonly TransitionEntry[];
  /** A pause still to be written back to Superposition, and the failures already reported (write-back.ts). */
  superpositionWriteBack?: WriteBackState;
}

export type RecordPhase = 'applied' | 'promotion-pending' | 'scale-down-pending';
const PHASES: readonly RecordPhase[] = ['applied', 'promotion-pending', 'scale-down-pending'];

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
  if (record.scaleDownAt !== undefined) data.scaleDownAt = record.scaleDownAt;
  if (record.effectiveTrafficPercentage !== undefined) data.effectiveTrafficPercentage = String(record.effectiveTrafficPercentage);
  if (record.experimentGroup !== undefined) data.experimentGroup = JSON.stringify(record.experimentGroup);
  if (record.appliedSettings !== undefined) data.appliedSettings = JSON.stringify(record.appliedSettings);
  if (record.history !== undefined && record.history.length > 0) data.history = JSON.stringify(record.history);
  if (record.superpositionWriteBack !== undefined) data.superpositionWriteBack = JSON.stringify(record.superpositionWriteBack);
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
    phase: PHASES.find((phase) => phase === data.phase) ?? 'applied',
    pendingReason: data.pendingReason,
    scaleDownAt: data.scaleDownAt,
    experiment: data.experiment ?? '',
    effectiveTrafficPercentage: data.effectiveTrafficPercentage === undefined ? undefined : Number(data.effectiveTrafficPercentage),
    experimentGroup: data.experimentGroup === undefined ? undefined : parseJsonOr<ExperimentGroup>(data.experimentGroup),
    // Read back only as a shortcut: a record that does not hold what it should is resolved again.
    appliedSettings: data.appliedSettings === undefined ? undefined : appliedSettingsOrUndefined(parseJsonOr(data.appliedSettings)),
    history: data.history === undefined ? undefined : historyFromJson(data.history),
    superpositionWriteBack: parseWriteBack(data.superpositionWriteBack),
  };
}

function appliedSettingsOrUndefined(value: unknown): AppliedSettings | undefined {
  const variants = (value as AppliedSettings | undefined)?.variants;
  if (variants === null || typeof variants !== 'object' || Array.isArray(variants)) return undefined;
  const wellFormed = Object.values(variants).every(
    (entry) =>
      typeof entry?.basis === 'string' &&
      typeof entry.settings?.image === 'string' &&
      Number.isInteger(entry.settings.replicas) &&
      Number.isInteger(entry.settings.port) &&
      Array.isArray(entry.settings.env),
  );
  return wellFormed ? (value as AppliedSettings) : undefined;
}

function parseJsonOr<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
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
 * promotion could undo a later experiment's), except the same conclusion while its promotion
 * waits for the winner or for the scale-down: the first terminal outcome applied is the one that
 * stays. A running state older than the last applied `last_modified` is stale; an equal one
 * re-applies, so a retry converges. A terminal state always applies over a running one, whatever
 * its `last_modified` says: CONCLUDED and DISCARDED are final in Superposition (no event leaves
 * them), so the clocks of its replicas cannot make one older in meaning.
 */
export function judgeAgainstRecord(
  record: ExperimentRecord | undefined,
  incoming: { status: ExperimentStatus; last_modified?: string; chosen_variant?: string | null },
): RecordVerdict {
  if (!record) return { apply: true };
  if (TERMINAL_STATUSES.has(record.status)) {
    // A conclusion waiting for its winner, or for the scale-down, goes on until the promotion is done.
    const sameOutcome = incoming.status === record.status && sameChosenVariant(record, incoming.chosen_variant);
    return record.phase !== 'applied' && sameOutcome
      ? { apply: true }
      : { apply: false, reason: `experiment already ${record.status}: nothing changes any more` };
  }
  if (TERMINAL_STATUSES.has(incoming.status)) return { apply: true };
  const order = compareTimestamps(incoming.last_modified, record.lastModified);
  if (order !== undefined && order < 0) {
    return {
      apply: false,
      reason: `stale event: last_modified ${incoming.last_modified} is older than the applied ${record.lastModified} (${record.status})`,
    };
  }
  return { apply: true };
}

/** Whether the record's experiment chose this variant (true when the record does not say: an older record). */
function sameChosenVariant(record: ExperimentRecord, chosen: string | null | undefined): boolean {
  let recorded: unknown;
  try {
    recorded = (JSON.parse(record.experiment) as { chosen_variant?: unknown })?.chosen_variant;
  } catch {
    return true;
  }
  return recorded === undefined || (recorded ?? null) === (chosen ?? null);
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

/** Whether `timestamp` is an instant compareTimestamps can order. */
export function isTimestamp(timestamp: string | undefined): boolean {
  return nanoseconds(timestamp) !== undefined;
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
