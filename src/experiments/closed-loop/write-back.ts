import type { ExperimentStatus } from '../../contract/experiment.dto';

/**
 * Pausing an experiment in Superposition when one of its canaries fails (README, "Closing the loop").
 * The decisions are pure functions of the record and what was observed; ClosedLoopService makes the
 * calls. The state lives in the experiment's record, so a write-back survives restarts.
 */

/** A pause Mayday still has to ask Superposition for. */
export interface PendingPause {
  action: 'pause';
  /** The failures it reports, as `failureKey` writes them. */
  failures: string[];
  /** Sent as the pause's `change_reason`: names each failed variant and why. */
  changeReason: string;
  /** When it became due (ISO 8601). */
  since: string;
  /** Requests tried so far without success. */
  attempts: number;
  /** Not tried again before this time (ISO 8601). */
  nextAttemptAt: string;
  /** Why the last attempt failed. */
  lastError?: string;
}

/** The record's `superpositionWriteBack` field. */
export interface WriteBackState {
  pending?: PendingPause;
  /**
   * Failures already handled: the pause for them was accepted, or the experiment stopped running
   * before it was sent. Never paused for again, so a person who resumes the experiment is not
   * overruled for the same failure.
   */
  reported: string[];
}

/** A canary observed failed by this convergence. */
export interface ObservedFailure {
  variantId: string;
  reason: string;
}

/** Superposition refuses a `change_reason` longer than this (bytes). */
export const CHANGE_REASON_LIMIT = 255;
/** Failures remembered as handled, per experiment (the newest are kept). */
const REPORTED_LIMIT = 32;
const MAX_BACKOFF_MS = 30_000;

export function failureKey(failure: ObservedFailure): string {
  return `${failure.variantId}: ${failure.reason}`;
}

/**
 * The write-back state after converging an experiment to `status` with these failed canaries:
 * a pause is due while the experiment is INPROGRESS and a failure is not handled yet; a pending
 * pause is kept as it is (its attempts and backoff) while the same failures are due; once the
 * experiment is no longer INPROGRESS (Superposition's ExperimentPaused arrived, or anything later),
 * nothing is due and the failures count as handled. Undefined when there is nothing to keep.
 */
export function writeBackAfter(
  previous: WriteBackState | undefined,
  observed: { enabled: boolean; status: ExperimentStatus; failures: readonly ObservedFailure[] },
  now: Date,
): WriteBackState | undefined {
  let reported = previous?.reported ?? [];
  let pending = previous?.pending;
  if (pending && observed.status !== 'INPROGRESS') {
    reported = remember(reported, pending.failures);
    pending = undefined;
  }
  if (observed.status === 'INPROGRESS' && observed.enabled) {
    const due = observed.failures.filter((failure) => !reported.includes(failureKey(failure)));
    const keys = due.map(failureKey);
    if (due.length === 0) pending = undefined;
    else if (!pending || !sameKeys(pending.failures, keys)) {
      pending = {
        action: 'pause',
        failures: keys,
        changeReason: changeReasonFor(due),
        since: now.toISOString(),
        attempts: 0,
        nextAttemptAt: now.toISOString(),
      };
    }
  } else if (!observed.enabled) {
    pending = undefined;
  }
  return pending || reported.length > 0 ? { ...(pending ? { pending } : {}), reported } : undefined;
}

/** What became of one pause request. */
export type PauseOutcome = { done: true } | { done: false; error: string };

/**
 * The state after an attempt to send `attempted`: handled when it was done, else tried again
 * after a backoff (1 s doubling to 30 s). If the pending pause changed meanwhile (an event was
 * applied while the request ran), only a success is remembered.
 */
export function afterAttempt(
  state: WriteBackState | undefined,
  attempted: PendingPause,
  outcome: PauseOutcome,
  now: Date,
): WriteBackState | undefined {
  const reported = state?.reported ?? [];
  const current = state?.pending;
  const stillCurrent = current !== undefined && current.since === attempted.since && sameKeys(current.failures, attempted.failures);
  if (outcome.done) {
    const remembered = remember(reported, attempted.failures);
    return stillCurrent || !current ? { reported: remembered } : { pending: current, reported: remembered };
  }
  if (!stillCurrent) return state;
  const attempts = current.attempts + 1;
  return {
    pending: {
      ...current,
      attempts,
      nextAttemptAt: new Date(now.getTime() + backoffMs(attempts)).toISOString(),
      lastError: outcome.error.slice(0, 500),
    },
    reported,
  };
}

/** Whether the pause may be sent now. */
export function isDue(pending: PendingPause | undefined, now: Date): pending is PendingPause {
  return pending !== undefined && Date.parse(pending.nextAttemptAt) <= now.getTime();
}

export function backoffMs(attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.max(0, attempts - 1));
}

/** `Mayday: canary <variant> failed (<reason>); ...`, cut to what Superposition accepts. */
export function changeReasonFor(failures: readonly ObservedFailure[]): string {
  const text = `Mayday paused: ${failures.map((failure) => `canary ${failure.variantId} failed (${failure.reason})`).join('; ')}`;
  // The reason may come from a Deployment annotation a tenant can edit: plain text, on one line.
  const oneLine = [...text].map((char) => (char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f ? ' ' : char)).join('');
  return truncateUtf8(oneLine, CHANGE_REASON_LIMIT);
}

export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let cut = text;
  while (Buffer.byteLength(`${cut}...`) > maxBytes) cut = cut.slice(0, -1);
  return `${cut}...`;
}

/** The record field as stored (JSON), and back; an unreadable one counts as empty. */
export function parseWriteBack(text: string | undefined): WriteBackState | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as WriteBackState;
    if (!Array.isArray(value?.reported) || !value.reported.every((item) => typeof item === 'string')) return undefined;
    const pending = value.pending;
    const wellFormed =
      pending === undefined ||
      (pending.action === 'pause' &&
        Array.isArray(pending.failures) &&
        typeof pending.changeReason === 'string' &&
        typeof pending.since === 'string' &&
        Number.isInteger(pending.attempts) &&
        typeof pending.nextAttemptAt === 'string');
    return wellFormed ? value : { reported: value.reported };
  } catch {
    return undefined;
  }
}

function remember(reported: readonly string[], keys: readonly string[]): string[] {
  const merged = [...reported.filter((key) => !keys.includes(key)), ...keys];
  return merged.slice(-REPORTED_LIMIT);
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((key) => b.includes(key));
}
