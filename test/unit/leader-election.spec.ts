import { describe, expect, it } from 'vitest';
import { loadMaydayConfig } from '../../src/config/mayday-config';
import type { KubeClients } from '../../src/kubernetes/kube-client';
import {
  decideLease,
  LeaderElection,
  observeLease,
  releasedLease,
  retryDelayMs,
  type LiveLease,
} from '../../src/kubernetes/leader-election';
import { MetricsService } from '../../src/metrics/metrics.service';
import { claimVerdict } from '../../src/experiments/pipeline/route-claims.service';
import type { ExperimentRecord } from '../../src/experiments/records/experiment-record';

const ME = 'mayday-a_1234abcd';
const OTHER = 'mayday-b_5678ef01';
const T0 = Date.parse('2026-11-29T10:00:00.000Z');

function lease(holderIdentity: string, resourceVersion = '7', leaseTransitions = 3): LiveLease {
  return {
    resourceVersion,
    spec: {
      holderIdentity,
      leaseDurationSeconds: 15,
      acquireTime: '2026-11-29T09:00:00.000000Z',
      renewTime: '2026-11-29T09:59:59.000000Z',
      leaseTransitions,
    },
  };
}

describe('the lease decisions (client-go tryAcquireOrRenew)', () => {
  it('creates a missing lease, held by this replica, with MicroTime stamps', () => {
    expect(decideLease(undefined, undefined, ME, T0, 15)).toEqual({
      kind: 'create',
      spec: {
        holderIdentity: ME,
        leaseDurationSeconds: 15,
        acquireTime: '2026-11-29T10:00:00.000000Z',
        renewTime: '2026-11-29T10:00:00.000000Z',
        leaseTransitions: 0,
      },
    });
  });

  it('renews its own lease over the version read, keeping when it was acquired', () => {
    const live = lease(ME);
    const decision = decideLease(live, observeLease(undefined, live, T0 - 60_000), ME, T0, 15);
    expect(decision).toEqual({
      kind: 'update',
      resourceVersion: '7',
      spec: { ...live.spec, renewTime: '2026-11-29T10:00:00.000000Z' },
    });
  });

  it("waits while another holder's lease changed within a lease duration, by this replica's own clock", () => {
    const live = lease(OTHER);
    const seen = observeLease(undefined, live, T0);
    expect(decideLease(live, seen, ME, T0 + 14_999, 15)).toEqual({ kind: 'held', holder: OTHER, expiresInMs: 1 });
    // The lease's own times say nothing: only a lease duration without a change counts.
    expect(decideLease(live, seen, ME, T0 + 1000, 15).kind).toBe('held');
  });

  it('takes over a lease unchanged for a lease duration, over the version read, counting a transition', () => {
    const live = lease(OTHER);
    const seen = observeLease(undefined, live, T0);
    expect(decideLease(live, seen, ME, T0 + 15_000, 15)).toEqual({
      kind: 'update',
      resourceVersion: '7',
      spec: {
        holderIdentity: ME,
        leaseDurationSeconds: 15,
        acquireTime: '2026-11-29T10:00:15.000000Z',
        renewTime: '2026-11-29T10:00:15.000000Z',
        leaseTransitions: 4,
      },
    });
  });

  it('starts the lease duration again whenever the lease changes (the holder renewed)', () => {
    const first = observeLease(undefined, lease(OTHER, '7'), T0);
    expect(observeLease(first, lease(OTHER, '7'), T0 + 10_000)).toBe(first);
    const renewed = observeLease(first, lease(OTHER, '8'), T0 + 10_000);
    expect(renewed).toEqual({ resourceVersion: '8', observedAt: T0 + 10_000 });
    expect(decideLease(lease(OTHER, '8'), renewed, ME, T0 + 16_000, 15).kind).toBe('held');
    expect(observeLease(renewed, undefined, T0)).toBeUndefined();
  });

  it('takes a released lease (no holder) at once', () => {
    const live = lease('');
    const decision = decideLease(live, observeLease(undefined, live, T0), ME, T0, 15);
    expect(decision).toMatchObject({ kind: 'update', resourceVersion: '7', spec: { holderIdentity: ME } });
  });

  it('releases only its own lease: no holder, a one-second duration, the transitions kept', () => {
    expect(releasedLease(lease(ME), ME, T0)).toEqual({
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: '2026-11-29T10:00:00.000000Z',
      renewTime: '2026-11-29T10:00:00.000000Z',
      leaseTransitions: 3,
    });
    expect(releasedLease(lease(OTHER), ME, T0)).toBeUndefined();
  });

  it('renews every retry period, and spreads the candidates over up to 20 % more', () => {
    expect(retryDelayMs(2, true, 0.9)).toBe(2000);
    expect(retryDelayMs(2, false, 0)).toBe(2000);
    expect(retryDelayMs(2, false, 1)).toBe(2400);
  });
});

describe('the route claim (one experiment per service across replicas)', () => {
  const claim = { namespace: 'mumbai', service: 'checkout', experimentId: '7', claimedAt: new Date(T0).toISOString() };
  const record = (status: ExperimentRecord['status'], phase: ExperimentRecord['phase']) => ({ status, phase }) as ExperimentRecord;

  it('is held while its experiment runs or its promotion is pending, free once it is fully concluded or discarded', () => {
    expect(claimVerdict(claim, record('INPROGRESS', 'applied'), T0 + 10 ** 9, 8000)).toEqual({
      free: false,
      reason: 'experiment 7 is INPROGRESS on it',
    });
    expect(claimVerdict(claim, record('CONCLUDED', 'promotion-pending'), T0, 8000).free).toBe(false);
    expect(claimVerdict(claim, record('CONCLUDED', 'scale-down-pending'), T0, 8000).free).toBe(false);
    expect(claimVerdict(claim, record('CONCLUDED', 'applied'), T0, 8000).free).toBe(true);
    expect(claimVerdict(claim, record('DISCARDED', 'applied'), T0, 8000).free).toBe(true);
  });

  it('without a record, is held for the claiming event deadline, then abandoned', () => {
    expect(claimVerdict(claim, undefined, T0 + 8000, 8000).free).toBe(false);
    expect(claimVerdict(claim, undefined, T0 + 8001, 8000).free).toBe(true);
    expect(claimVerdict({ ...claim, claimedAt: 'garbage' }, undefined, T0, 8000).free).toBe(true);
  });
});

describe('LeaderElection with LEADER_ELECTION=false', () => {
  it('leads from bootstrap on, without a Lease, and tells a listener that subscribes afterwards at once', async () => {
    const config = loadMaydayConfig({ WEBHOOK_TOKEN: 'x'.repeat(32), LEADER_ELECTION: 'false' });
    const metrics = new MetricsService();
    const noApi = new Proxy({}, { get: () => expect.unreachable('no Lease call without leader election') }) as unknown as KubeClients;
    const election = new LeaderElection(noApi, config, metrics);
    expect(election.isLeader()).toBe(false);
    election.onApplicationBootstrap();
    const heard: boolean[] = [];
    election.onChange((leading) => heard.push(leading));
    expect(heard).toEqual([true]);
    expect(election.isLeader()).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString('mayday_leader')).toMatch(/^mayday_leader 1$/m);
    await election.onApplicationShutdown();
    expect(heard).toEqual([true, false]);
  });
});
