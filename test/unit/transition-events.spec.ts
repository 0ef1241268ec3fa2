import { describe, expect, it } from 'vitest';
import type { ExperimentPlan } from '../../src/experiments/plan/experiment-plan';
import {
  pendingPromotionEvents,
  promotionEvents,
  rollbackEvents,
  rolloutEvents,
  type CanaryTransition,
} from '../../src/experiments/plan/transition-events';
import type { ObjectAction } from '../../src/kubernetes/object-diff';

const plan = (overrides: Partial<ExperimentPlan> = {}) =>
  ({ experimentId: '42', canaryWeight: 10, kind: 'rollout', ...overrides }) as ExperimentPlan;
const deployment = (action: ObjectAction['action']): ObjectAction => ({
  kind: 'Deployment',
  namespace: 'ns',
  name: 'svc-dep-42-test1',
  action,
  uid: 'uid-1',
});
const canary = (overrides: Partial<CanaryTransition>): CanaryTransition => ({
  variantId: '42-test1',
  deployment: deployment('unchanged'),
  previousWeight: 10,
  weight: 10,
  state: { phase: 'available' },
  newlyFailed: false,
  ...overrides,
});
const regarding = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'ns', name: 'svc-dep-42-test1', uid: 'uid-1' };

describe('rolloutEvents', () => {
  it('says nothing when nothing changed', () => {
    expect(rolloutEvents(plan(), [canary({})])).toEqual([]);
  });

  it('announces a new canary and its first weight', () => {
    expect(rolloutEvents(plan(), [canary({ deployment: deployment('created'), previousWeight: 0 })])).toEqual([
      { regarding, reason: 'CanaryCreated', type: 'Normal', note: 'canary of experiment 42 for variant 42-test1', variantId: '42-test1' },
      { regarding, reason: 'WeightChanged', type: 'Normal', note: 'weight 0 -> 10', variantId: '42-test1', weight: 10 },
    ]);
  });

  it('calls a drop to 0 by a PAUSED experiment Paused, and says why a weight stays 0', () => {
    expect(rolloutEvents(plan({ canaryWeight: 0 }), [canary({ previousWeight: 30, weight: 0 })])[0]).toMatchObject({
      reason: 'Paused',
      note: 'weight 30 -> 0',
      variantId: '42-test1',
      weight: 0,
    });
    const waiting = rolloutEvents(plan({ canaryWeight: 30 }), [
      canary({ previousWeight: 30, weight: 0, state: { phase: 'waiting', reason: '0 of 1 replicas available' } }),
    ]);
    expect(waiting).toEqual([
      {
        regarding,
        reason: 'WeightChanged',
        type: 'Normal',
        note: 'weight 30 -> 0 (waiting: 0 of 1 replicas available)',
        variantId: '42-test1',
        weight: 0,
      },
    ]);
  });

  it('warns once when a canary is taken out of traffic', () => {
    const failed = { phase: 'failed' as const, reason: 'CrashLoop: restarted 4 times' };
    expect(
      rolloutEvents(plan(), [canary({ weight: 0, state: failed, newlyFailed: true })]).map((event) => [
        event.reason,
        event.type,
        event.variantId,
      ]),
    ).toEqual([
      ['CanaryFailed', 'Warning', '42-test1'],
      ['WeightChanged', 'Normal', '42-test1'],
    ]);
    expect(rolloutEvents(plan(), [canary({ previousWeight: 0, weight: 0, state: failed, newlyFailed: false })])).toEqual([]);
  });
});

describe('promotion and rollback events', () => {
  const main: ObjectAction = { kind: 'Service', namespace: 'ns', name: 'svc', action: 'updated', uid: 'uid-main' };

  it('marks the winner and the main Service promoted', () => {
    const events = promotionEvents(
      plan({ kind: 'promote', winner: { id: '42-test1', variant_type: 'EXPERIMENTAL' } }),
      deployment('updated'),
      main,
    );
    expect(events.map((event) => [event.regarding.kind, event.regarding.uid, event.reason, event.variantId])).toEqual([
      ['Deployment', 'uid-1', 'Promoted', '42-test1'],
      ['Service', 'uid-main', 'Promoted', '42-test1'],
    ]);
    expect(events[1].note).toBe('experiment 42 concluded: variant 42-test1 is the stable release; the Service selects svc-dep-42-test1');
  });

  it("ends the Promoted and RolledBack notes with the experiment's metrics link, when Superposition sent one", () => {
    const metricsUrl = 'https://grafana.example/d/exp-42';
    const promoted = promotionEvents(
      plan({ kind: 'promote', winner: { id: '42-test1', variant_type: 'EXPERIMENTAL' }, metricsUrl }),
      deployment('updated'),
      main,
    );
    for (const event of promoted) expect(event.note).toMatch(/; metrics: https:\/\/grafana\.example\/d\/exp-42$/);
    const deleted: ObjectAction[] = [{ kind: 'Ingress', namespace: 'ns', name: 'x', action: 'deleted' }];
    expect(rollbackEvents(plan({ kind: 'rollback', metricsUrl }), main, deleted)[0].note).toBe(
      `experiment 42 rolled back (it was discarded): its canaries were removed; metrics: ${metricsUrl}`,
    );
  });

  it('tells a pending promotion on the winner', () => {
    expect(pendingPromotionEvents(deployment('unchanged'), 'not available')).toEqual([
      { regarding, reason: 'PromotionPending', type: 'Normal', note: 'not available' },
    ]);
    expect(pendingPromotionEvents(deployment('unchanged'), 'port 8080 unserved', 'Warning', '42-test1')[0]).toMatchObject({
      type: 'Warning',
      variantId: '42-test1',
    });
  });

  it('records a rollback on the main Service only when something was removed', () => {
    const deleted: ObjectAction[] = [{ kind: 'Ingress', namespace: 'ns', name: 'x', action: 'deleted' }];
    expect(rollbackEvents(plan({ kind: 'rollback' }), main, deleted)).toEqual([
      {
        regarding: { apiVersion: 'v1', kind: 'Service', namespace: 'ns', name: 'svc', uid: 'uid-main' },
        reason: 'RolledBack',
        type: 'Normal',
        note: 'experiment 42 rolled back (it was discarded): its canaries were removed',
      },
    ]);
    expect(rollbackEvents(plan({ kind: 'rollback' }), main, [])).toEqual([]);
    expect(rollbackEvents(plan({ kind: 'rollback' }), undefined, deleted)).toEqual([]);
    const controlWon = rollbackEvents(plan({ kind: 'rollback', winner: { id: '42-control', variant_type: 'CONTROL' } }), main, deleted)[0];
    expect(controlWon.note).toContain('CONTROL 42-control won');
    expect(controlWon.variantId).toBe('42-control');
  });
});
