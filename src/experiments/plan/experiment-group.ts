import { SuperpositionBadResponseError } from '../../superposition/superposition-errors';

export const GROUP_TYPES = ['USER_CREATED', 'SYSTEM_GENERATED'] as const;
export type GroupType = (typeof GROUP_TYPES)[number];

/** What Mayday reads of an experiment group (`GET /experiment-groups/{id}`). */
export interface ExperimentGroup {
  id: string;
  groupType: GroupType;
  /** Share of users that take part in the group's experiments at all (0..100). */
  trafficPercentage: number;
}

/**
 * The share of traffic one variant really gets (docs/contract.md §2): in a USER_CREATED group only the
 * users hashed below the group's traffic take part, so `own x group / 100`, rounded. A
 * SYSTEM_GENERATED group is the experiment alone (its traffic is variants x own), so it, like no
 * group, leaves the experiment's own share.
 */
export function effectiveTrafficPercentage(own: number, group: ExperimentGroup | undefined): number {
  if (group?.groupType !== 'USER_CREATED') return own;
  return Math.round((own * group.trafficPercentage) / 100);
}

/** Superposition's group object, checked for the two fields that matter. */
export function parseExperimentGroup(groupId: string, plain: unknown): ExperimentGroup {
  const group = (plain ?? {}) as { group_type?: unknown; traffic_percentage?: unknown };
  const traffic = group.traffic_percentage;
  if (
    !(GROUP_TYPES as readonly unknown[]).includes(group.group_type) ||
    typeof traffic !== 'number' ||
    !Number.isInteger(traffic) ||
    traffic < 0 ||
    traffic > 100
  ) {
    throw new SuperpositionBadResponseError(
      `Superposition GET /experiment-groups/${groupId} answered no group_type USER_CREATED/SYSTEM_GENERATED with an integer traffic_percentage 0..100`,
      200,
    );
  }
  return { id: groupId, groupType: group.group_type as GroupType, trafficPercentage: traffic };
}
