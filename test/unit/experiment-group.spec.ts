import { describe, expect, it } from 'vitest';
import { effectiveTrafficPercentage, parseExperimentGroup, type ExperimentGroup } from '../../src/experiments/plan/experiment-group';
import { planExperiment, withGroup, type PlanSettings } from '../../src/experiments/plan/experiment-plan';
import { SuperpositionBadResponseError } from '../../src/superposition/superposition-errors';
import { experimentDto, routing, WORKSPACE } from './fixtures';

const NGINX: PlanSettings = { routing: routing(), maxCanaries: 1 };
const userGroup = (trafficPercentage: number): ExperimentGroup => ({ id: '8001', groupType: 'USER_CREATED', trafficPercentage });

describe('effectiveTrafficPercentage', () => {
  it('scales the own share by a user-created group: 20 in a group at 50 is 10', () => {
    expect(effectiveTrafficPercentage(20, userGroup(50))).toBe(10);
  });

  it.each([
    [10, 33, 3],
    [15, 50, 8],
    [25, 10, 3],
    [100, 100, 100],
    [40, 0, 0],
    [0, 80, 0],
  ])('rounds %i x %i / 100 to %i', (own, group, expected) => {
    expect(effectiveTrafficPercentage(own, userGroup(group))).toBe(expected);
  });

  it('leaves the own share with a system-generated group or none', () => {
    expect(effectiveTrafficPercentage(20, { id: '9', groupType: 'SYSTEM_GENERATED', trafficPercentage: 40 })).toBe(20);
    expect(effectiveTrafficPercentage(20, undefined)).toBe(20);
  });
});

describe('parseExperimentGroup', () => {
  it('reads the type and the traffic of a group as Superposition answers it', () => {
    const answer = {
      id: '8001',
      context_hash: 'h',
      name: 'g',
      description: 'd',
      change_reason: 'c',
      context: {},
      traffic_percentage: 50,
      member_experiment_ids: ['1'],
      created_at: '2026-08-20T07:00:00Z',
      created_by: 'a',
      last_modified_at: '2026-08-20T07:00:00.5Z',
      last_modified_by: 'a',
      buckets: [],
      group_type: 'USER_CREATED',
      a_future_field: true,
    };
    expect(parseExperimentGroup('8001', answer)).toEqual(userGroup(50));
  });

  it.each([
    null,
    [],
    { group_type: 'USER_CREATED' },
    { group_type: 'OTHER', traffic_percentage: 5 },
    { group_type: 'USER_CREATED', traffic_percentage: 101 },
  ])('refuses %j as a bad answer', (answer) => {
    expect(() => parseExperimentGroup('8001', answer)).toThrow(SuperpositionBadResponseError);
  });
});

describe('withGroup', () => {
  it('gives an INPROGRESS rollout in a user-created group the scaled weight, and says why', () => {
    const plan = planExperiment('ExperimentInprogress', WORKSPACE, experimentDto({ status: 'INPROGRESS', traffic: 20 }), NGINX);
    const grouped = withGroup(plan, 20, userGroup(50));
    expect(grouped.canaryWeight).toBe(10);
    expect(grouped.group).toEqual(userGroup(50));
    expect(grouped.reason).toContain('group 8001 at 50%');
    expect(plan.canaryWeight).toBe(20);
  });

  it('changes nothing for a system-generated group, no group, a pause or a conclusion', () => {
    const running = planExperiment('ExperimentInprogress', WORKSPACE, experimentDto({ status: 'INPROGRESS', traffic: 20 }), NGINX);
    expect(withGroup(running, 20, { id: '9', groupType: 'SYSTEM_GENERATED', trafficPercentage: 40 })).toBe(running);
    expect(withGroup(running, 20, undefined)).toBe(running);
    const paused = planExperiment('ExperimentPaused', WORKSPACE, experimentDto({ status: 'PAUSED', traffic: 20 }), NGINX);
    expect(withGroup(paused, 20, userGroup(50))).toBe(paused);
    const concluded = planExperiment(
      'ExperimentConcluded',
      WORKSPACE,
      experimentDto({ status: 'CONCLUDED', traffic: 20, chosen: `${experimentDto().id}-test1` }),
      NGINX,
    );
    expect(withGroup(concluded, 20, userGroup(50))).toBe(concluded);
  });
});
