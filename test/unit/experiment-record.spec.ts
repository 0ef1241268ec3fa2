import type { V1ConfigMap } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  compareTimestamps,
  CONFIGMAP_DATA_LIMIT_BYTES,
  isExpired,
  judgeAgainstRecord,
  legacyRecordVerdict,
  recordDataBytes,
  recordFromConfigMap,
  recordName,
  recordToConfigMap,
  retentionOf,
  TERMINAL_STATUSES,
  type ExperimentRecord,
} from '../../src/experiments/records/experiment-record';
import { Scope } from '../../src/config/scope';
import { EXPERIMENT_ID, experimentPayload, WORKSPACE } from './fixtures';

const MAYDAY_NS = 'mayday-system';

const LAST_MODIFIED = '2026-08-20T07:37:40.100000Z';

function record(overrides: Partial<ExperimentRecord> = {}): ExperimentRecord {
  return {
    experimentId: EXPERIMENT_ID,
    workspace: WORKSPACE,
    organisationId: 'localorg',
    namespace: 'mumbai',
    status: 'INPROGRESS',
    lastModified: LAST_MODIFIED,
    event: 'ExperimentStarted',
    appliedAt: '2026-08-20T07:37:41.000Z',
    phase: 'applied',
    experiment: JSON.stringify(experimentPayload()),
    ...overrides,
  };
}

describe('recordName', () => {
  it('is mayday-experiment-<id>', () => {
    expect(recordName(EXPERIMENT_ID)).toBe('mayday-experiment-7350102648234549248');
  });
});

describe('recordToConfigMap', () => {
  it("is a ConfigMap mayday-experiment-<id> in Mayday's namespace, labelled role=record, with every field (the experiment namespace too) as data", () => {
    const full = record();
    expect(recordToConfigMap(full, MAYDAY_NS)).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'mayday-experiment-7350102648234549248',
        namespace: MAYDAY_NS,
        labels: {
          'app.kubernetes.io/managed-by': 'mayday',
          'mayday.superposition.io/workspace': WORKSPACE,
          'mayday.superposition.io/experiment': EXPERIMENT_ID,
          'mayday.superposition.io/role': 'record',
        },
      },
      data: {
        experimentId: EXPERIMENT_ID,
        workspace: WORKSPACE,
        organisationId: 'localorg',
        namespace: 'mumbai',
        status: 'INPROGRESS',
        lastModified: LAST_MODIFIED,
        event: 'ExperimentStarted',
        appliedAt: '2026-08-20T07:37:41.000Z',
        phase: 'applied',
        experiment: full.experiment,
      },
    });
  });

  it('leaves out organisationId and lastModified when they are unknown (no "undefined" strings)', () => {
    const configMap = recordToConfigMap(record({ organisationId: undefined, lastModified: undefined }), MAYDAY_NS);
    expect(Object.keys(configMap.data!).sort()).toEqual(
      ['appliedAt', 'event', 'experiment', 'experimentId', 'namespace', 'phase', 'status', 'workspace'].sort(),
    );
    expect(Object.values(configMap.data!)).not.toContain('undefined');
  });

  it('has only string data values', () => {
    for (const value of Object.values(recordToConfigMap(record(), MAYDAY_NS).data!)) expect(typeof value).toBe('string');
  });
});

describe('recordFromConfigMap', () => {
  it('round-trips a full record', () => {
    const original = record({
      status: 'CONCLUDED',
      event: 'ExperimentConcluded',
      phase: 'promotion-pending',
      pendingReason: 'Deployment mumbai/x is not available',
    });
    expect(recordFromConfigMap(recordToConfigMap(original, MAYDAY_NS))).toEqual(original);
  });

  it('round-trips a conclusion waiting for its scale-down, with the deadline', () => {
    const original = record({
      status: 'CONCLUDED',
      event: 'ExperimentConcluded',
      phase: 'scale-down-pending',
      scaleDownAt: '2026-08-20T07:38:10.000Z',
    });
    expect(recordToConfigMap(original, MAYDAY_NS).data).toMatchObject({
      phase: 'scale-down-pending',
      scaleDownAt: '2026-08-20T07:38:10.000Z',
    });
    expect(recordFromConfigMap(recordToConfigMap(original, MAYDAY_NS))).toEqual(original);
  });

  it('round-trips the effective share, the group and the applied settings of a running experiment', () => {
    const original = record({
      effectiveTrafficPercentage: 10,
      experimentGroup: { id: '8001', groupType: 'USER_CREATED', trafficPercentage: 50 },
      appliedSettings: {
        configVersion: '7',
        variants: { 'x-test1': { basis: '{"a":1}', settings: { replicas: 1, image: 'nginx:1.27', port: 80, env: [] } } },
      },
    });
    expect(recordFromConfigMap(recordToConfigMap(original, MAYDAY_NS))).toEqual(original);
  });

  it('drops applied settings that are not well formed (they are only a shortcut: the config is resolved again)', () => {
    const configMap = recordToConfigMap(record(), MAYDAY_NS);
    for (const odd of ['not json', '{"variants":[]}', '{"variants":{"v":{"basis":"b","settings":{"image":1}}}}']) {
      configMap.data!.appliedSettings = odd;
      expect(recordFromConfigMap(configMap)!.appliedSettings).toBeUndefined();
    }
  });

  it('round-trips a record without the optional fields', () => {
    const original = record({ organisationId: undefined, lastModified: undefined });
    const back = recordFromConfigMap(recordToConfigMap(original, MAYDAY_NS))!;
    expect(back).toEqual(original);
    expect(back.organisationId).toBeUndefined();
    expect(back.lastModified).toBeUndefined();
  });

  it('keeps the experiment JSON byte for byte (64-bit ids stay strings)', () => {
    const back = recordFromConfigMap(recordToConfigMap(record(), MAYDAY_NS))!;
    expect(back.experiment).toBe(JSON.stringify(experimentPayload()));
    expect((JSON.parse(back.experiment) as { id: unknown }).id).toBe('7350102648234549248');
  });

  it('is undefined when experimentId, workspace or status is missing', () => {
    const data = recordToConfigMap(record(), MAYDAY_NS).data!;
    for (const key of ['experimentId', 'workspace', 'status']) {
      const configMap: V1ConfigMap = { metadata: { name: 'x', namespace: 'mumbai' }, data: { ...data, [key]: '' } };
      expect(recordFromConfigMap(configMap)).toBeUndefined();
    }
    expect(recordFromConfigMap({ metadata: { name: 'x' } })).toBeUndefined();
  });

  it('is undefined when the ConfigMap is not named after the experiment it holds', () => {
    const configMap = recordToConfigMap(record(), MAYDAY_NS);
    expect(recordFromConfigMap({ ...configMap, metadata: { ...configMap.metadata, name: 'mayday-experiment-1' } })).toBeUndefined();
  });

  it('takes the experiment namespace from the data only, and defaults the rest', () => {
    const configMap: V1ConfigMap = {
      metadata: { name: 'mayday-experiment-1', namespace: MAYDAY_NS },
      data: { experimentId: '1', workspace: 'svc', status: 'PAUSED', phase: 'something-new', namespace: 'pune' },
    };
    expect(recordFromConfigMap(configMap)).toEqual({
      experimentId: '1',
      workspace: 'svc',
      organisationId: undefined,
      namespace: 'pune',
      status: 'PAUSED',
      lastModified: undefined,
      event: '',
      appliedAt: '',
      phase: 'applied',
      experiment: '',
    });
  });
});

describe('judgeAgainstRecord', () => {
  it('applies when there is no record', () => {
    expect(judgeAgainstRecord(undefined, { status: 'INPROGRESS', last_modified: LAST_MODIFIED })).toEqual({ apply: true });
  });

  it('TERMINAL_STATUSES are CONCLUDED and DISCARDED', () => {
    expect([...TERMINAL_STATUSES].sort()).toEqual(['CONCLUDED', 'DISCARDED']);
  });

  it.each(['CONCLUDED', 'DISCARDED'] as const)('ignores anything after a completed %s, even a newer event', (status) => {
    const verdict = judgeAgainstRecord(record({ status }), { status: 'INPROGRESS', last_modified: '2027-01-01T00:00:00Z' });
    expect(verdict).toEqual({ apply: false, reason: `experiment already ${status}: nothing changes any more` });
  });

  it('ignores a repeat of a completed conclusion (re-running a promotion could undo a later experiment)', () => {
    expect(judgeAgainstRecord(record({ status: 'CONCLUDED' }), { status: 'CONCLUDED', last_modified: LAST_MODIFIED })).toEqual({
      apply: false,
      reason: 'experiment already CONCLUDED: nothing changes any more',
    });
  });

  describe('promotion-pending', () => {
    const pending = record({ status: 'CONCLUDED', phase: 'promotion-pending' });

    it('applies the same conclusion again with an equal last_modified', () => {
      expect(judgeAgainstRecord(pending, { status: 'CONCLUDED', last_modified: LAST_MODIFIED })).toEqual({ apply: true });
    });

    it('applies the same conclusion with a newer last_modified', () => {
      expect(judgeAgainstRecord(pending, { status: 'CONCLUDED', last_modified: '2026-08-20T07:37:40.100001Z' })).toEqual({
        apply: true,
      });
    });

    it('applies the same conclusion when a timestamp is missing', () => {
      expect(judgeAgainstRecord(pending, { status: 'CONCLUDED' })).toEqual({ apply: true });
      expect(judgeAgainstRecord({ ...pending, lastModified: undefined }, { status: 'CONCLUDED', last_modified: LAST_MODIFIED })).toEqual({
        apply: true,
      });
    });

    it('applies the same conclusion with an older last_modified (a terminal status is never stale)', () => {
      expect(judgeAgainstRecord(pending, { status: 'CONCLUDED', last_modified: '2026-08-20T07:37:40.099999Z' })).toEqual({
        apply: true,
      });
    });

    it('keeps the first terminal outcome: a conclusion for another winner is ignored, newer or not', () => {
      const chosen = record({
        status: 'CONCLUDED',
        phase: 'promotion-pending',
        experiment: JSON.stringify(experimentPayload({ chosen: `${EXPERIMENT_ID}-test1` })),
      });
      expect(judgeAgainstRecord(chosen, { status: 'CONCLUDED', chosen_variant: `${EXPERIMENT_ID}-test1` })).toEqual({ apply: true });
      for (const last_modified of ['2026-08-20T07:37:40.099999Z', '2027-01-01T00:00:00Z']) {
        expect(judgeAgainstRecord(chosen, { status: 'CONCLUDED', chosen_variant: `${EXPERIMENT_ID}-control`, last_modified })).toEqual({
          apply: false,
          reason: 'experiment already CONCLUDED: nothing changes any more',
        });
      }
    });

    it('ignores another status (a late INPROGRESS, or a DISCARDED)', () => {
      for (const status of ['INPROGRESS', 'PAUSED', 'DISCARDED'] as const) {
        expect(judgeAgainstRecord(pending, { status, last_modified: '2027-01-01T00:00:00Z' })).toEqual({
          apply: false,
          reason: 'experiment already CONCLUDED: nothing changes any more',
        });
      }
    });
  });

  describe('scale-down-pending (switched, the previous stable still runs)', () => {
    const switched = record({ status: 'CONCLUDED', phase: 'scale-down-pending', scaleDownAt: '2026-08-20T07:38:10.000Z' });

    it('applies the same conclusion again, so the scale-down completes', () => {
      expect(judgeAgainstRecord(switched, { status: 'CONCLUDED', last_modified: LAST_MODIFIED })).toEqual({ apply: true });
    });

    it('ignores a late INPROGRESS or a DISCARDED', () => {
      for (const status of ['INPROGRESS', 'DISCARDED'] as const) {
        expect(judgeAgainstRecord(switched, { status, last_modified: '2027-01-01T00:00:00Z' }).apply).toBe(false);
      }
    });

    it('is not expired while it waits', () => {
      expect(isExpired({ ...switched, appliedAt: '2020-01-01T00:00:00Z' }, { now: Date.now(), retentionMs: 1000 })).toBe(false);
    });
  });

  describe('a running experiment', () => {
    it('ignores an older last_modified as stale', () => {
      const verdict = judgeAgainstRecord(record(), { status: 'PAUSED', last_modified: '2026-08-20T07:37:40.099999Z' });
      expect(verdict).toEqual({
        apply: false,
        reason: 'stale event: last_modified 2026-08-20T07:37:40.099999Z is older than the applied 2026-08-20T07:37:40.100000Z (INPROGRESS)',
      });
    });

    it('ignores a stale event even when only the microseconds tell it', () => {
      const verdict = judgeAgainstRecord(record({ lastModified: '2026-08-20T07:37:40.100001Z' }), {
        status: 'INPROGRESS',
        last_modified: '2026-08-20T07:37:40.100000Z',
      });
      expect(verdict.apply).toBe(false);
      expect((verdict as { reason: string }).reason).toMatch(/^stale event: /);
    });

    it('applies an equal last_modified (a retry converges)', () => {
      expect(judgeAgainstRecord(record(), { status: 'INPROGRESS', last_modified: LAST_MODIFIED })).toEqual({ apply: true });
    });

    it.each(['CONCLUDED', 'DISCARDED'] as const)(
      'applies %s even when its last_modified is older than the applied running state (clock skew)',
      (status) => {
        for (const applied of ['INPROGRESS', 'PAUSED', 'CREATED'] as const) {
          const verdict = judgeAgainstRecord(record({ status: applied, lastModified: '2026-08-20T07:40:00.000000Z' }), {
            status,
            last_modified: '2026-08-20T07:39:59.999999Z',
          });
          expect(verdict).toEqual({ apply: true });
        }
      },
    );

    it('still ignores an older running state after a newer one (only terminal statuses skip the order)', () => {
      const verdict = judgeAgainstRecord(record({ status: 'PAUSED', lastModified: '2026-08-20T07:40:00Z' }), {
        status: 'INPROGRESS',
        last_modified: '2026-08-20T07:39:00Z',
      });
      expect(verdict.apply).toBe(false);
    });

    it('applies a newer last_modified, including a conclusion', () => {
      expect(judgeAgainstRecord(record(), { status: 'CONCLUDED', last_modified: '2026-08-20T07:40:00Z' })).toEqual({ apply: true });
      expect(judgeAgainstRecord(record({ status: 'PAUSED' }), { status: 'INPROGRESS', last_modified: '2026-08-20T08:00:00Z' })).toEqual({
        apply: true,
      });
    });

    it('applies when either timestamp is missing or unreadable', () => {
      expect(judgeAgainstRecord(record(), { status: 'INPROGRESS' })).toEqual({ apply: true });
      expect(judgeAgainstRecord(record({ lastModified: undefined }), { status: 'INPROGRESS', last_modified: LAST_MODIFIED })).toEqual({
        apply: true,
      });
      expect(judgeAgainstRecord(record(), { status: 'INPROGRESS', last_modified: 'yesterday' })).toEqual({ apply: true });
    });

    it('compares offsets correctly: 12:00+05:30 is older than 07:00Z', () => {
      const verdict = judgeAgainstRecord(record({ lastModified: '2026-08-20T07:00:00Z' }), {
        status: 'INPROGRESS',
        last_modified: '2026-08-20T12:00:00+05:30',
      });
      expect(verdict.apply).toBe(false);
    });
  });
});

describe('record retention', () => {
  const appliedAt = '2026-08-20T07:37:41.000Z';
  const applied = Date.parse(appliedAt);
  const DAY = 24 * 3_600_000;
  const thirtyDays = (daysLater: number) => retentionOf(720, applied + daysLater * DAY);

  it('retentionOf turns hours into milliseconds', () => {
    expect(retentionOf(720, 5)).toEqual({ now: 5, retentionMs: 30 * DAY });
  });

  it('expires a finished experiment’s record once it has been kept the whole retention', () => {
    for (const status of ['CONCLUDED', 'DISCARDED'] as const) {
      expect(isExpired(record({ status, appliedAt }), thirtyDays(29))).toBe(false);
      expect(isExpired(record({ status, appliedAt }), thirtyDays(30))).toBe(false);
      expect(isExpired(record({ status, appliedAt }), thirtyDays(30.01))).toBe(true);
    }
  });

  it('never expires a running experiment, a pending promotion, an unreadable date, or with retention 0', () => {
    for (const status of ['CREATED', 'INPROGRESS', 'PAUSED'] as const) {
      expect(isExpired(record({ status, appliedAt }), thirtyDays(400))).toBe(false);
    }
    expect(isExpired(record({ status: 'CONCLUDED', phase: 'promotion-pending', appliedAt }), thirtyDays(400))).toBe(false);
    expect(isExpired(record({ status: 'CONCLUDED', appliedAt: '' }), thirtyDays(400))).toBe(false);
    expect(isExpired(record({ status: 'CONCLUDED', appliedAt }), retentionOf(0, applied + 400 * DAY))).toBe(false);
  });
});

describe('legacyRecordVerdict (records an earlier Mayday kept in experiment namespaces)', () => {
  it('moves a record bound to the namespace it was found in', () => {
    const configMap = recordToConfigMap(record(), 'mumbai');
    expect(legacyRecordVerdict(configMap)).toEqual({ move: record() });
  });

  it('leaves a record that names another namespace than its own (a tenant forged it)', () => {
    const configMap = recordToConfigMap(record({ namespace: 'tenant-b' }), 'tenant-a');
    const verdict = legacyRecordVerdict(configMap);
    expect(verdict).toEqual({ skip: expect.stringContaining('claims namespace "tenant-b"') });
  });

  it('leaves a ConfigMap that holds no record', () => {
    expect(legacyRecordVerdict({ metadata: { name: 'mayday-experiment-1', namespace: 'a' }, data: {} })).toHaveProperty('skip');
  });
});

describe('recordDataBytes', () => {
  it('counts keys and values in bytes, as the API server does against its 1 MiB limit', () => {
    expect(recordDataBytes({ data: { ab: 'é' } })).toBe(4);
    expect(CONFIGMAP_DATA_LIMIT_BYTES).toBe(1048576);
  });
});

describe('Scope (allows, namespaceRefusal, workspaceRefusal)', () => {
  const scope = (allowedNamespaces: string[], allowedWorkspaces: string[]) => new Scope(allowedNamespaces, allowedWorkspaces, MAYDAY_NS);
  const isInScope = (target: { namespace: string; workspace: string }, within: Scope) => within.allows(target.namespace, target.workspace);
  const namespaceRefusal = (namespace: string, within: Scope) => within.namespaceRefusal(namespace);
  const workspaceRefusal = (workspace: string, within: Scope) => within.workspaceRefusal(workspace);

  it('allows everything but protected namespaces when both lists are empty', () => {
    expect(isInScope(record(), scope([], []))).toBe(true);
  });

  it.each(['kube-system', 'kube-public', 'kube-node-lease', MAYDAY_NS])(
    'refuses the protected namespace %s unless ALLOWED_NAMESPACES names it',
    (namespace) => {
      expect(namespaceRefusal(namespace, scope([], []))).toMatch(/ALLOWED_NAMESPACES/);
      expect(isInScope(record({ namespace }), scope([], []))).toBe(false);
      expect(namespaceRefusal(namespace, scope(['mumbai'], []))).toMatch(/not in ALLOWED_NAMESPACES/);
      expect(namespaceRefusal(namespace, scope([namespace], []))).toBeUndefined();
    },
  );

  it('names the workspace it refuses', () => {
    expect(workspaceRefusal('other', scope([], [WORKSPACE]))).toBe('workspace "other" is not in ALLOWED_WORKSPACES');
    expect(workspaceRefusal('other', scope([], []))).toBeUndefined();
  });

  it('needs the namespace and the workspace to be allowed', () => {
    expect(isInScope(record(), scope(['mumbai'], []))).toBe(true);
    expect(isInScope(record(), scope(['delhi'], []))).toBe(false);
    expect(isInScope(record(), scope([], [WORKSPACE]))).toBe(true);
    expect(isInScope(record(), scope([], ['other']))).toBe(false);
    expect(isInScope(record(), scope(['mumbai'], ['other']))).toBe(false);
  });
});

describe('compareTimestamps', () => {
  it('orders microseconds that Date.parse cannot tell apart', () => {
    const later = '2026-08-20T07:37:40.100001Z';
    const earlier = '2026-08-20T07:37:40.100000Z';
    expect(Date.parse(later)).toBe(Date.parse(earlier));
    expect(compareTimestamps(later, earlier)).toBe(1);
    expect(compareTimestamps(earlier, later)).toBe(-1);
    expect(compareTimestamps(earlier, earlier)).toBe(0);
  });

  it('orders nanoseconds', () => {
    expect(compareTimestamps('2026-08-20T07:37:40.123456789Z', '2026-08-20T07:37:40.123456788Z')).toBe(1);
  });

  it('ignores digits beyond nanoseconds', () => {
    expect(compareTimestamps('2026-08-20T07:37:40.1234567891Z', '2026-08-20T07:37:40.1234567899Z')).toBe(0);
  });

  it('treats a missing fraction and trailing zeros as equal', () => {
    expect(compareTimestamps('2026-08-20T07:37:40Z', '2026-08-20T07:37:40.000000Z')).toBe(0);
    expect(compareTimestamps('2026-08-20T07:37:40.1Z', '2026-08-20T07:37:40.100000Z')).toBe(0);
  });

  it('orders across seconds, days and years', () => {
    expect(compareTimestamps('2026-08-20T07:37:41.000000Z', '2026-08-20T07:37:40.999999Z')).toBe(1);
    expect(compareTimestamps('2026-08-19T23:59:59.999999Z', '2026-08-20T00:00:00Z')).toBe(-1);
    expect(compareTimestamps('2025-12-31T23:59:59.999999999Z', '2026-01-01T00:00:00Z')).toBe(-1);
  });

  it('compares timezone offsets correctly', () => {
    expect(compareTimestamps('2026-08-20T13:07:40.100000+05:30', '2026-08-20T07:37:40.100000Z')).toBe(0);
    expect(compareTimestamps('2026-08-20T13:07:40.100001+05:30', '2026-08-20T07:37:40.100000Z')).toBe(1);
    // 12:00 in India is 06:30 UTC: earlier than 07:00 UTC although its digits are larger.
    expect(compareTimestamps('2026-08-20T12:00:00+05:30', '2026-08-20T07:00:00Z')).toBe(-1);
    expect(compareTimestamps('2026-08-20T06:00:00-01:00', '2026-08-20T07:00:00Z')).toBe(0);
    expect(compareTimestamps('2026-08-20T07:00:00+00:00', '2026-08-20T07:00:00Z')).toBe(0);
  });

  it('reads offsets without a colon (+0530)', () => {
    expect(compareTimestamps('2026-08-20T13:07:40.100000+0530', '2026-08-20T07:37:40.100000Z')).toBe(0);
  });

  it("reads chrono's display form 'YYYY-MM-DD HH:MM:SS.nnnnnnnnn UTC'", () => {
    expect(compareTimestamps('2026-08-20 07:37:40.123456789 UTC', '2026-08-20T07:37:40.123456789Z')).toBe(0);
    expect(compareTimestamps('2026-08-20 07:37:40.123456789 UTC', '2026-08-20T07:37:40.123456788Z')).toBe(1);
    expect(compareTimestamps('2026-08-20 07:37:40.123456789 UTC', '2026-08-20 07:37:40.12345679 UTC')).toBe(-1);
  });

  it('accepts lower-case z and surrounding whitespace', () => {
    expect(compareTimestamps(' 2026-08-20T07:37:40.5z ', '2026-08-20T07:37:40.500Z')).toBe(0);
  });

  it('is undefined when either side is missing or unreadable', () => {
    const ok = '2026-08-20T07:37:40.100000Z';
    expect(compareTimestamps(undefined, ok)).toBeUndefined();
    expect(compareTimestamps(ok, undefined)).toBeUndefined();
    expect(compareTimestamps('', ok)).toBeUndefined();
    expect(compareTimestamps('yesterday', ok)).toBeUndefined();
    expect(compareTimestamps(ok, '2026-08-20')).toBeUndefined();
    expect(compareTimestamps('2026-13-45T07:37:40Z', ok)).toBeUndefined();
    expect(compareTimestamps('1755675460', ok)).toBeUndefined();
    expect(compareTimestamps('2026-08-20T07:37:40.100000 PST', ok)).toBeUndefined();
  });
});
