import { describe, expect, it } from 'vitest';
import { recordFromConfigMap, recordToConfigMap, type ExperimentRecord } from '../../src/experiments/records/experiment-record';
import { appendTransitions, HISTORY_LIMIT, historyFromJson } from '../../src/experiments/records/transition-history';
import type { TransitionEvent } from '../../src/kubernetes/kube-events.service';

const regarding = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'ns', name: 'svc-dep-42-test1' };
const event = (reason: string, extra: Partial<TransitionEvent> = {}): TransitionEvent => ({
  regarding,
  reason,
  type: 'Normal',
  note: `${reason} note`,
  ...extra,
});

describe('appendTransitions', () => {
  it('adds one entry per Event, with its variant and weight, after what was there', () => {
    const first = appendTransitions(undefined, [event('CanaryCreated', { variantId: '42-test1' })], '2026-11-29T10:00:00.000Z');
    const second = appendTransitions(
      first,
      [event('WeightChanged', { variantId: '42-test1', weight: 10, note: 'weight 0 -> 10' })],
      '2026-11-29T10:01:00.000Z',
    );
    expect(second).toEqual([
      { at: '2026-11-29T10:00:00.000Z', reason: 'CanaryCreated', variantId: '42-test1', note: 'CanaryCreated note' },
      { at: '2026-11-29T10:01:00.000Z', reason: 'WeightChanged', variantId: '42-test1', weight: 10, note: 'weight 0 -> 10' },
    ]);
    expect(first).toHaveLength(1);
  });

  it('keeps one step for an Event told on two objects (Promoted on the winner and the main Service)', () => {
    const promoted = [
      event('Promoted', { variantId: '42-test1' }),
      event('Promoted', { variantId: '42-test1', regarding: { ...regarding, kind: 'Service', name: 'svc' } }),
    ];
    expect(appendTransitions([], promoted, 'now').map((entry) => entry.reason)).toEqual(['Promoted']);
    const twoVariants = [event('WeightChanged', { variantId: 'a', weight: 5 }), event('WeightChanged', { variantId: 'b', weight: 5 })];
    expect(appendTransitions([], twoVariants, 'now')).toHaveLength(2);
  });

  it(`keeps only the last ${HISTORY_LIMIT}`, () => {
    let history = appendTransitions(undefined, [], 'now');
    for (let step = 1; step <= HISTORY_LIMIT + 7; step++) {
      history = appendTransitions(history, [event('WeightChanged', { variantId: 'v', weight: step })], `t${step}`);
    }
    expect(history).toHaveLength(HISTORY_LIMIT);
    expect(history[0].weight).toBe(8);
    expect(history.at(-1)!.weight).toBe(HISTORY_LIMIT + 7);
  });

  it('shortens long notes', () => {
    expect(appendTransitions([], [event('CanaryFailed', { note: 'x'.repeat(2000) })], 'now')[0].note).toHaveLength(300);
  });
});

describe('the history in the record', () => {
  const record: ExperimentRecord = {
    experimentId: '42',
    workspace: 'svc',
    namespace: 'ns',
    status: 'INPROGRESS',
    event: 'ExperimentInprogress',
    appliedAt: '2026-11-29T10:01:00.000Z',
    phase: 'applied',
    experiment: '{}',
    history: [{ at: '2026-11-29T10:01:00.000Z', reason: 'WeightChanged', variantId: '42-test1', weight: 10, note: 'weight 0 -> 10' }],
  };

  it('is kept in the ConfigMap as JSON and read back', () => {
    const configMap = recordToConfigMap(record, 'mayday-system');
    expect(JSON.parse(configMap.data!.history)).toEqual(record.history);
    expect(recordFromConfigMap(configMap)).toEqual(record);
  });

  it('is absent from a record without one, and empty when what is there is not a history', () => {
    expect(recordToConfigMap({ ...record, history: [] }, 'mayday-system').data).not.toHaveProperty('history');
    expect(historyFromJson(undefined)).toEqual([]);
    expect(historyFromJson('not json')).toEqual([]);
    expect(historyFromJson('{"at": 1}')).toEqual([]);
    expect(
      historyFromJson('[{"at": "t", "reason": "Paused", "note": "n"}, {"at": 5}, {"at": "t", "reason": "X", "note": "n", "weight": "9"}]'),
    ).toEqual([{ at: 't', reason: 'Paused', note: 'n' }]);
  });
});
