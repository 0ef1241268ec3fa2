import {
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { V1Lease } from '@kubernetes/client-node';
import { Gauge } from 'prom-client';
import { Deadline, withDeadline } from '../common/deadline';
import { MaydayConfig, type LeaderElectionSettings } from '../config/mayday-config';
import { MetricsService } from '../metrics/metrics.service';
import { KubeClients } from './kube-client';
import { KubeConflictError, KubeNotFoundError, toKubeError } from './kube-errors';

export const LEADER_LEASE_NAME = 'mayday-leader';

/** The fields of a coordination.k8s.io/v1 Lease's spec that leader election reads and writes. */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface LiveLease {
  spec: LeaseSpec;
  resourceVersion: string;
}

/**
 * The lease as a candidate last saw it, and when it first saw it so (by its own clock): as in
 * client-go, a holder counts as gone once its lease has not changed for a lease duration, whatever
 * the times written in it say (the holder's clock may differ from ours).
 */
export interface LeaseObservation {
  resourceVersion: string;
  observedAt: number;
}

export type LeaseDecision =
  | { kind: 'create'; spec: LeaseSpec }
  | { kind: 'update'; spec: LeaseSpec; resourceVersion: string }
  | { kind: 'held'; holder: string; expiresInMs: number };

/** What this candidate knows of the lease now: a changed lease starts a new lease duration. */
export function observeLease(
  previous: LeaseObservation | undefined,
  live: LiveLease | undefined,
  now: number,
): LeaseObservation | undefined {
  if (!live) return undefined;
  if (previous?.resourceVersion === live.resourceVersion) return previous;
  return { resourceVersion: live.resourceVersion, observedAt: now };
}

/**
 * client-go's tryAcquireOrRenew as a pure decision: create a missing lease; renew our own; take one
 * that is released (no holder) or expired (unchanged for a lease duration) by updating it with the
 * resourceVersion we read, so that of two candidates only one succeeds; otherwise wait.
 */
export function decideLease(
  live: LiveLease | undefined,
  observation: LeaseObservation | undefined,
  identity: string,
  now: number,
  leaseDurationSeconds: number,
): LeaseDecision {
  const stamp = microTime(now);
  const fresh = { holderIdentity: identity, leaseDurationSeconds, acquireTime: stamp, renewTime: stamp };
  if (!live) return { kind: 'create', spec: { ...fresh, leaseTransitions: 0 } };
  const holder = live.spec.holderIdentity ?? '';
  if (holder === identity) {
    return {
      kind: 'update',
      spec: { ...live.spec, holderIdentity: identity, leaseDurationSeconds, renewTime: stamp },
      resourceVersion: live.resourceVersion,
    };
  }
  const expiresAt = (observation?.observedAt ?? now) + leaseDurationSeconds * 1000;
  if (holder !== '' && expiresAt > now) return { kind: 'held', holder, expiresInMs: expiresAt - now };
  return {
    kind: 'update',
    spec: { ...fresh, leaseTransitions: (live.spec.leaseTransitions ?? 0) + 1 },
    resourceVersion: live.resourceVersion,
  };
}

/** The lease a leader leaves behind when it steps down on purpose: no holder, so a candidate takes it at once. */
export function releasedLease(live: LiveLease, identity: string, now: number): LeaseSpec | undefined {
  if (live.spec.holderIdentity !== identity) return undefined;
  const stamp = microTime(now);
  return {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTime: stamp,
    renewTime: stamp,
    leaseTransitions: live.spec.leaseTransitions,
  };
}

/** The next attempt's delay: candidates spread out a little (client-go jitters too), the leader renews on time. */
export function retryDelayMs(retryPeriodSeconds: number, leading: boolean, random = Math.random()): number {
  return retryPeriodSeconds * 1000 * (leading ? 1 : 1 + 0.2 * random);
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fraction digits. */
function microTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export type LeadershipListener = (leading: boolean) => void;

/**
 * Leader election on the Lease `mayday-leader` in MAYDAY_NAMESPACE, after client-go's design:
 * every replica answers webhooks; only the leader runs the background work (the watch-triggered
 * reconcile, the resync, record retention, delayed scale-downs). The leader renews every
 * RETRY_PERIOD_SECONDS; if it has not renewed for RENEW_DEADLINE_SECONDS (the API server is cut
 * off, say) it stops its background work at once, before any other replica may take the lease
 * (LEASE_DURATION_SECONDS after it last saw it change). On shutdown it steps down first and
 * releases the lease last, so that a successor starts at once.
 */
@Injectable()
export class LeaderElection implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(LeaderElection.name);
  private readonly settings: LeaderElectionSettings;
  private readonly namespace: string;
  private readonly listeners: LeadershipListener[] = [];
  private readonly gauge: Gauge;
  private observation?: LeaseObservation;
  private leading = false;
  /** When the leader last renewed (epoch ms); it leads only while this is within the renew deadline. */
  private renewedAt = 0;
  private watchdog?: NodeJS.Timeout;
  private sleeping?: { timer: NodeJS.Timeout; wake: () => void };
  private stopped = false;
  private loop?: Promise<void>;

  constructor(
    private readonly clients: KubeClients,
    config: MaydayConfig,
    metrics: MetricsService,
  ) {
    this.settings = config.leaderElection;
    this.namespace = config.maydayNamespace;
    this.gauge = new Gauge({
      name: 'mayday_leader',
      help: 'Whether this replica holds the Lease mayday-leader and runs the background work (1) or not (0)',
      registers: [metrics.registry],
    });
    this.gauge.set(0);
  }

  /** This process's holderIdentity in the Lease. */
  get identity(): string {
    return this.settings.identity;
  }

  /** Whether this replica leads now (false as soon as the renew deadline passed without a renewal). */
  isLeader(): boolean {
    return this.leading && (!this.settings.enabled || Date.now() - this.renewedAt < this.settings.renewDeadlineSeconds * 1000);
  }

  /**
   * Called with true when this replica becomes leader, with false when it stops leading; at once
   * with true if it leads already (a service that starts after the election is not left out).
   */
  onChange(listener: LeadershipListener): void {
    this.listeners.push(listener);
    if (this.isLeader()) listener(true);
  }

  onApplicationBootstrap(): void {
    if (this.settings.enabled) {
      this.loop = this.run();
      return;
    }
    // LEADER_ELECTION=false: a single replica leads for as long as it runs.
    this.leading = true;
    this.gauge.set(1);
    this.notify(true);
  }

  /** SIGTERM: no new background work from here on (the work in flight finishes, like the webhooks'). */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.sleeping) {
      clearTimeout(this.sleeping.timer);
      this.sleeping.wake();
    }
    await this.loop;
    if (this.leading) this.stepDown('Mayday is shutting down', 'log');
  }

  /** Once everything in flight has finished: the lease is released, so a successor takes over without waiting for it to expire. */
  async onApplicationShutdown(): Promise<void> {
    await this.beforeApplicationShutdown();
    if (!this.settings.enabled) return;
    try {
      const live = await this.read();
      const released = live && releasedLease(live, this.identity, Date.now());
      if (released) {
        await this.write({ kind: 'update', spec: released, resourceVersion: live.resourceVersion });
        this.logger.log(`released the Lease ${this.namespace}/${LEADER_LEASE_NAME}`);
      }
    } catch (error) {
      this.logger.warn(`could not release the Lease ${LEADER_LEASE_NAME} (it expires by itself): ${toKubeError(error).message}`);
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await this.attempt();
      if (this.stopped) return;
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, retryDelayMs(this.settings.retryPeriodSeconds, this.leading));
        timer.unref();
        this.sleeping = { timer, wake };
      });
      this.sleeping = undefined;
    }
  }

  /** One try to acquire or renew; a failure is only logged: the watchdog ends a leadership that cannot be renewed. */
  private async attempt(): Promise<void> {
    try {
      const live = await this.read();
      const now = Date.now();
      this.observation = observeLease(this.observation, live, now);
      const decision = decideLease(live, this.observation, this.identity, now, this.settings.leaseDurationSeconds);
      if (decision.kind === 'held') {
        if (this.leading) this.stepDown(`the Lease is held by ${decision.holder}`);
        return;
      }
      const written = await this.write(decision);
      this.observation = observeLease(this.observation, written, Date.now());
      this.renewed(now);
    } catch (error) {
      const failure = toKubeError(error);
      // Another candidate wrote first: it leads (the next read says so), we do not.
      if (failure instanceof KubeConflictError) {
        if (this.leading) this.stepDown('another replica updated the Lease first');
        return;
      }
      this.logger.warn(`could not ${this.leading ? 'renew' : 'acquire'} the Lease ${LEADER_LEASE_NAME}: ${failure.message}`);
    }
  }

  private renewed(at: number): void {
    this.renewedAt = at;
    clearTimeout(this.watchdog);
    // Counted from before the renewal was sent, as isLeader() counts.
    const deadlineMs = at + this.settings.renewDeadlineSeconds * 1000 - Date.now();
    this.watchdog = setTimeout(
      () => this.stepDown(`the Lease was not renewed for RENEW_DEADLINE_SECONDS (${this.settings.renewDeadlineSeconds})`),
      Math.max(0, deadlineMs),
    );
    this.watchdog.unref();
    // A renewal that lands while shutting down only keeps the Lease until it is released: no new leadership.
    if (this.leading || this.stopped) return;
    this.leading = true;
    this.gauge.set(1);
    this.logger.log(`leading (Lease ${this.namespace}/${LEADER_LEASE_NAME}, identity ${this.identity})`);
    this.notify(true);
  }

  private stepDown(reason: string, level: 'log' | 'warn' = 'warn'): void {
    clearTimeout(this.watchdog);
    if (!this.leading) return;
    this.leading = false;
    this.gauge.set(0);
    this.logger[level](`no longer leading: ${reason}`);
    this.notify(false);
  }

  private notify(leading: boolean): void {
    for (const listener of this.listeners) {
      try {
        listener(leading);
      } catch (error) {
        this.logger.error(`a leadership listener failed: ${(error as Error).message}`);
      }
    }
  }

  /** Each call is bounded by the renew deadline: a hung connection must not outlast a leadership. */
  private bounded<T>(call: () => Promise<T>): Promise<T> {
    return withDeadline(Deadline.after(this.settings.renewDeadlineSeconds * 1000), call);
  }

  private async read(): Promise<LiveLease | undefined> {
    try {
      const lease = await this.bounded(() =>
        this.clients.coordination.readNamespacedLease({ name: LEADER_LEASE_NAME, namespace: this.namespace }),
      );
      return liveLease(lease);
    } catch (error) {
      const failure = toKubeError(error);
      if (failure instanceof KubeNotFoundError) return undefined;
      throw failure;
    }
  }

  private async write(decision: Exclude<LeaseDecision, { kind: 'held' }>): Promise<LiveLease> {
    const body = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: LEADER_LEASE_NAME,
        namespace: this.namespace,
        ...(decision.kind === 'update' ? { resourceVersion: decision.resourceVersion } : {}),
      },
      // client-node types the times as Date and would send three fraction digits; MicroTime wants six.
      spec: decision.spec as V1Lease['spec'],
    };
    const written = await this.bounded(() =>
      decision.kind === 'create'
        ? this.clients.coordination.createNamespacedLease({ namespace: this.namespace, body })
        : this.clients.coordination.replaceNamespacedLease({ name: LEADER_LEASE_NAME, namespace: this.namespace, body }),
    );
    return liveLease(written);
  }
}

function liveLease(lease: V1Lease): LiveLease {
  const spec = lease.spec ?? {};
  const time = (value: unknown) => (value instanceof Date ? microTime(value.getTime()) : (value as string | undefined));
  return {
    resourceVersion: lease.metadata?.resourceVersion ?? '',
    spec: {
      holderIdentity: spec.holderIdentity,
      leaseDurationSeconds: spec.leaseDurationSeconds,
      acquireTime: time(spec.acquireTime),
      renewTime: time(spec.renewTime),
      leaseTransitions: spec.leaseTransitions,
    },
  };
}
