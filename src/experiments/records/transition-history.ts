import type { TransitionEvent } from '../../kubernetes/kube-events.service';

/** One step of an experiment's rollout, as the rollout page's timeline and weight chart show it. */
export interface TransitionEntry {
  /** When Mayday applied it (ISO 8601). */
  at: string;
  /** The Event's reason: CanaryCreated, WeightChanged, Paused, CanaryFailed, PromotionPending, Promoted, ScaledDown, RolledBack. */
  reason: string;
  variantId?: string;
  /** The variant's share after this step (WeightChanged, Paused). */
  weight?: number;
  note: string;
}

/** How many steps a record keeps: the newest. */
export const HISTORY_LIMIT = 50;
const NOTE_LIMIT = 300;

/** A history as large as a record can hold (for the record's size check before anything is written). */
export const LARGEST_HISTORY: readonly TransitionEntry[] = Array.from({ length: HISTORY_LIMIT }, () => ({
  at: '2026-01-01T00:00:00.000Z',
  reason: 'PromotionPending',
  variantId: 'v'.repeat(128),
  weight: 100,
  note: 'n'.repeat(NOTE_LIMIT),
}));

/**
 * The history after a transition that emitted `events` at `at`: one entry per Event, except that an
 * Event told on two objects (Promoted, on the winner and on the main Service) is one step. Bounded to
 * the last HISTORY_LIMIT entries.
 */
export function appendTransitions(
  history: readonly TransitionEntry[] | undefined,
  events: readonly TransitionEvent[],
  at: string,
): TransitionEntry[] {
  const entries: TransitionEntry[] = [];
  for (const event of events) {
    if (entries.some((entry) => entry.reason === event.reason && entry.variantId === event.variantId)) continue;
    entries.push({
      at,
      reason: event.reason,
      ...(event.variantId !== undefined ? { variantId: event.variantId } : {}),
      ...(event.weight !== undefined ? { weight: event.weight } : {}),
      note: event.note.slice(0, NOTE_LIMIT),
    });
  }
  return [...(history ?? []), ...entries].slice(-HISTORY_LIMIT);
}

/** The history a record holds, or an empty one when it holds none or something else (an older record). */
export function historyFromJson(text: string | undefined): TransitionEntry[] {
  if (text === undefined) return [];
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (entry): entry is TransitionEntry =>
        typeof entry?.at === 'string' &&
        typeof entry.reason === 'string' &&
        typeof entry.note === 'string' &&
        (entry.variantId === undefined || typeof entry.variantId === 'string') &&
        (entry.weight === undefined || typeof entry.weight === 'number'),
    );
  } catch {
    return [];
  }
}
