import { Injectable } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VariantDto } from '../../src/contract/experiment.dto';
import type { Dimensions } from '../../src/contract/context';
import type { DeploymentSettings } from '../../src/experiments/plan/variant-config';
import { VariantConfigResolver } from '../../src/experiments/transitions/variant-config.resolver';
import type { SuperpositionScope } from '../../src/superposition/superposition.client';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { MAYDAY_NAMESPACE, startMaydayWith, type RunningMayday } from '../support/mayday';
import { experiment, experimentId, webhook, type ExperimentSpec } from '../support/payloads';
import { SuperpositionStandIn } from '../support/superposition-stand-in';

/** The real resolver, held until the test opens a gate: plays a resolve that hangs and ignores the deadline. */
@Injectable()
class HeldResolver extends VariantConfigResolver {
  gate?: Promise<void>;
  /** Variant ids whose resolve is being held now. */
  readonly waiting = new Set<string>();
  calls = 0;

  override async settingsFor(scope: SuperpositionScope, dimensions: Dimensions, variant: VariantDto): Promise<DeploymentSettings> {
    this.calls += 1;
    if (this.gate) {
      this.waiting.add(variant.id);
      await this.gate;
      this.waiting.delete(variant.id);
    }
    return super.settingsFor(scope, dimensions, variant);
  }
}

// Long enough for an event's reads and writes on a busy 2-core machine, short enough to wait out in a test.
const DEADLINE_MS = 5000;

describe(`a deadline per event (EVENT_DEADLINE_MS=${DEADLINE_MS})`, () => {
  const cluster = new Cluster();
  const standIn = new SuperpositionStandIn();
  const service = 'deadlinesvc';
  let mayday: RunningMayday;
  let resolver: HeldResolver;
  let namespace: string;

  beforeAll(async () => {
    await standIn.start();
    standIn.workspace(service, {});
    namespace = await cluster.createNamespace('deadline');
    mayday = await startMaydayWith(
      {
        SUPERPOSITION_URL: standIn.url,
        SUPERPOSITION_TIMEOUT_MS: '5000',
        EVENT_DEADLINE_MS: String(DEADLINE_MS),
        CANARY_READINESS_GATE: 'false',
        ALLOWED_NAMESPACES: namespace,
      },
      (builder) => builder.overrideProvider(VariantConfigResolver).useClass(HeldResolver),
    );
    resolver = mayday.app.get(VariantConfigResolver) as HeldResolver;
  });
  afterAll(async () => {
    await mayday?.close();
    await standIn.stop();
  });

  /** Stores the experiment as Superposition would hold it, then delivers its webhook (one service per test). */
  const send = (event: string, spec: ExperimentSpec, to = service) => {
    const payload = experiment(spec);
    if (!standIn.hasWorkspace(to)) standIn.workspace(to, {});
    standIn.putExperiment(to, payload);
    return mayday.post('/webhooks/superposition', webhook(event, to, payload));
  };

  async function canaryWeight(id: string): Promise<string | undefined> {
    const ingress = (await cluster.ingresses(namespace)).find((item) => item.metadata?.name === `${service}-ingress-${id}-test1`);
    return ingress?.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight'];
  }

  it('answers 503 to an event held in the queue past its deadline, stops cleanly, and the redelivery converges', async () => {
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace } };
    const started = { ...spec, traffic: 10, lastModified: '2026-08-20T07:40:00.000001Z' };
    const ramp = { ...spec, traffic: 40, lastModified: '2026-08-20T07:41:00.000001Z' };
    let open!: () => void;
    resolver.gate = new Promise<void>((resolve) => (open = resolve));
    resolver.calls = 0;

    const first = send('ExperimentStarted', started);
    await eventually(async () => expect([...resolver.waiting].some((id) => id.startsWith(spec.id))).toBe(true));
    const held = await send('ExperimentInprogress', ramp);
    // Answered while the first event still hangs in its resolve: the ramp never started.
    expect([...resolver.waiting].some((id) => id.startsWith(spec.id))).toBe(true);
    expect(held.status).toBe(503);
    expect(held.body.message).toMatch(
      new RegExp(`EVENT_DEADLINE_MS=${DEADLINE_MS}\\) passed while waiting for earlier work on experiment ${spec.id}`),
    );

    // The first event goes on after its own deadline: it stops at its next step, before any write.
    resolver.gate = undefined;
    open();
    const late = await first;
    expect(late.status).toBe(503);
    expect(late.body.message).toMatch(/EVENT_DEADLINE_MS=\d+\) passed (before|during) /);
    // CONTROL and test1 for the first event; the held ramp never resolved anything.
    expect(resolver.calls).toBe(2);
    expect(await cluster.names(namespace)).toEqual({ deployments: [], services: [], ingresses: [] });
    expect(
      (await cluster.core.listNamespacedConfigMap({ namespace: MAYDAY_NAMESPACE })).items.map((item) => item.metadata?.name),
    ).not.toContain(`mayday-experiment-${spec.id}`);

    // Superposition delivers both again: the cluster reaches the ramp.
    expect((await send('ExperimentStarted', started)).status).toBe(200);
    const redelivered = await send('ExperimentInprogress', ramp);
    expect(redelivered.status).toBe(200);
    expect(redelivered.body.result).toBe('applied');
    expect(await canaryWeight(spec.id)).toBe('40');
  });

  it('resolves the variants of an event at the same time (CONTROL too, when the main path is made)', async () => {
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 15 };
    let open!: () => void;
    resolver.gate = new Promise<void>((resolve) => (open = resolve));
    // A new service: no main Service, so CONTROL's config is resolved along with test1's.
    const answer = send('ExperimentStarted', spec, 'parallelsvc');
    // One after another, only one of them would ever be waiting.
    await eventually(async () =>
      expect([...resolver.waiting].filter((id) => id.startsWith(spec.id)).sort()).toEqual([`${spec.id}-control`, `${spec.id}-test1`]),
    );
    resolver.gate = undefined;
    open();
    expect((await answer).status).toBe(200);
  });

  it('cuts a Superposition request that would outlive the deadline, and answers 503', async () => {
    const spec: ExperimentSpec = { id: experimentId(), context: { namespace }, traffic: 15 };
    // Slower than the deadline, faster than SUPERPOSITION_TIMEOUT_MS (5 s): only the deadline stops it.
    standIn.delayMs = DEADLINE_MS + 1500;
    try {
      const answer = await send('ExperimentStarted', spec, 'slowsvc');
      expect(answer.status).toBe(503);
      expect(answer.body.message).toMatch(/passed during a Superposition request/);
    } finally {
      standIn.delayMs = 0;
    }
    expect((await cluster.deployments(namespace)).map((item) => item.metadata?.name)).not.toContain(`slowsvc-dep-${spec.id}-test1`);
    expect((await send('ExperimentStarted', spec, 'slowsvc')).status).toBe(200);
  });
});
