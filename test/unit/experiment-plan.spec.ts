import { describe, expect, it } from 'vitest';
import { UnprocessableEventError } from '../../src/common/errors';
import { ContextError } from '../../src/contract/context';
import { hostFor, planExperiment, type PlanSettings } from '../../src/experiments/plan/experiment-plan';
import type { WebhookEventName } from '../../src/contract/webhook-envelope';
import { CONTROL_ID, EXPERIMENT_ID, experimentDto, routing, TEST1_ID, TEST2_ID, WORKSPACE, type VariantSpec } from './fixtures';

const NGINX: PlanSettings = { routing: routing(), maxCanaries: 1 };
const GATEWAY: PlanSettings = { routing: routing({ provider: 'gateway-api', gatewayName: 'gw' }), maxCanaries: 16 };

const THREE_VARIANTS: VariantSpec[] = [
  { suffix: 'control', type: 'CONTROL', overrides: { 'container.image': 'nginx:1.25' } },
  { suffix: 'test1', type: 'EXPERIMENTAL', overrides: { 'container.image': 'nginx:1.27' } },
  { suffix: 'test2', type: 'EXPERIMENTAL', overrides: { 'container.image': 'nginx:1.28' } },
];

function unprocessable(fn: () => unknown): UnprocessableEventError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UnprocessableEventError);
    return error as UnprocessableEventError;
  }
  throw new Error('expected an UnprocessableEventError');
}

describe('planExperiment', () => {
  describe('INPROGRESS', () => {
    it.each<WebhookEventName>(['ExperimentStarted', 'ExperimentInprogress'])(
      '%s: rolls out each experimental variant at traffic_percentage',
      (event) => {
        const experiment = experimentDto({ status: 'INPROGRESS', traffic: 10 });
        const plan = planExperiment(event, WORKSPACE, experiment, NGINX);
        expect(plan).toEqual({
          kind: 'rollout',
          reason: 'the experiment is INPROGRESS: each experimental variant gets 10% of traffic',
          experimentId: EXPERIMENT_ID,
          service: WORKSPACE,
          namespace: 'mumbai',
          host: 'nginxservice.mumbai',
          dimensions: { namespace: 'mumbai' },
          control: experiment.variants[0],
          experimental: [experiment.variants[1]],
          canaryWeight: 10,
          lastModified: '2026-08-20T07:37:40.100000Z',
        });
        expect(plan.control.id).toBe(CONTROL_ID);
        expect(plan.experimental.map((variant) => variant.id)).toEqual([TEST1_ID]);
        expect(plan.winner).toBeUndefined();
      },
    );

    it('follows the status rather than the event name (a late ExperimentStarted for a ramp to 50)', () => {
      const plan = planExperiment('ExperimentStarted', WORKSPACE, experimentDto({ traffic: 50 }), NGINX);
      expect(plan.canaryWeight).toBe(50);
    });

    it('takes traffic 0 and 100 for one canary', () => {
      expect(planExperiment('ExperimentInprogress', WORKSPACE, experimentDto({ traffic: 0 }), NGINX).canaryWeight).toBe(0);
      expect(planExperiment('ExperimentInprogress', WORKSPACE, experimentDto({ traffic: 100 }), NGINX).canaryWeight).toBe(100);
    });

    it('keeps the experiment id as the exact string', () => {
      const plan = planExperiment('ExperimentInprogress', WORKSPACE, experimentDto({ id: '9223372036854775807' }), NGINX);
      expect(plan.experimentId).toBe('9223372036854775807');
    });
  });

  describe('PAUSED', () => {
    it('keeps the canaries but at weight 0, whatever traffic_percentage says', () => {
      const experiment = experimentDto({ status: 'PAUSED', traffic: 30 });
      const plan = planExperiment('ExperimentPaused', WORKSPACE, experiment, NGINX);
      expect(plan.kind).toBe('rollout');
      expect(plan.canaryWeight).toBe(0);
      expect(plan.reason).toBe('the experiment is PAUSED: canaries stay deployed at weight 0');
      expect(plan.experimental.map((variant) => variant.id)).toEqual([TEST1_ID]);
      expect(plan.winner).toBeUndefined();
    });
  });

  describe('CREATED and edit-only events', () => {
    it('ignores a CREATED experiment', () => {
      const plan = planExperiment('ExperimentInprogress', WORKSPACE, experimentDto({ status: 'CREATED', traffic: 0 }), NGINX);
      expect(plan.kind).toBe('ignore');
      expect(plan.reason).toBe('the experiment is CREATED: nothing runs yet');
      expect(plan.canaryWeight).toBe(0);
      expect(plan.namespace).toBe('mumbai');
    });

    it.each<WebhookEventName>(['ExperimentCreated', 'ExperimentUpdated'])('ignores %s whatever the status', (event) => {
      for (const status of ['CREATED', 'INPROGRESS', 'CONCLUDED'] as const) {
        const plan = planExperiment(event, WORKSPACE, experimentDto({ status, traffic: 20, chosen: TEST1_ID }), NGINX);
        expect(plan.kind).toBe('ignore');
        expect(plan.reason).toBe(`${event} changes nothing in the cluster`);
        expect(plan.canaryWeight).toBe(0);
        expect(plan.winner).toBeUndefined();
      }
    });

    it('does not check the split for an ignored event', () => {
      const experiment = experimentDto({ status: 'CREATED', variants: THREE_VARIANTS });
      expect(planExperiment('ExperimentCreated', WORKSPACE, experiment, NGINX).kind).toBe('ignore');
    });
  });

  describe('CONCLUDED', () => {
    it('promotes an experimental winner', () => {
      const experiment = experimentDto({ status: 'CONCLUDED', chosen: TEST1_ID });
      const plan = planExperiment('ExperimentConcluded', WORKSPACE, experiment, NGINX);
      expect(plan.kind).toBe('promote');
      expect(plan.winner).toBe(experiment.variants[1]);
      expect(plan.winner?.id).toBe(TEST1_ID);
      expect(plan.reason).toBe(`"${TEST1_ID}" won: it is promoted to stable`);
      expect(plan.canaryWeight).toBe(0);
      expect(plan.control.id).toBe(CONTROL_ID);
    });

    it('promotes one of several experimental variants even with ingress-nginx (no split check)', () => {
      const experiment = experimentDto({ status: 'CONCLUDED', chosen: TEST2_ID, variants: THREE_VARIANTS, traffic: 50 });
      const plan = planExperiment('ExperimentConcluded', WORKSPACE, experiment, NGINX);
      expect(plan.kind).toBe('promote');
      expect(plan.winner?.id).toBe(TEST2_ID);
      expect(plan.experimental.map((variant) => variant.id)).toEqual([TEST1_ID, TEST2_ID]);
    });

    it('rolls back when CONTROL wins', () => {
      const experiment = experimentDto({ status: 'CONCLUDED', chosen: CONTROL_ID });
      const plan = planExperiment('ExperimentConcluded', WORKSPACE, experiment, NGINX);
      expect(plan.kind).toBe('rollback');
      expect(plan.winner?.id).toBe(CONTROL_ID);
      expect(plan.reason).toBe(`CONTROL "${CONTROL_ID}" won: canaries are removed`);
    });

    it('refuses a missing chosen_variant with a 422 error', () => {
      for (const chosen of [null, undefined]) {
        const experiment = experimentDto({ status: 'CONCLUDED' });
        experiment.chosen_variant = chosen;
        const error = unprocessable(() => planExperiment('ExperimentConcluded', WORKSPACE, experiment, NGINX));
        expect(error.message).toBe('payload.chosen_variant is required when the experiment is CONCLUDED');
      }
    });

    it('refuses an unknown chosen_variant with a 422 error naming it', () => {
      const experiment = experimentDto({ status: 'CONCLUDED', chosen: 'test1' });
      const error = unprocessable(() => planExperiment('ExperimentConcluded', WORKSPACE, experiment, NGINX));
      expect(error.message).toBe(`payload.chosen_variant "test1" is not one of the experiment's variants`);
      expect(error.name).toBe('UnprocessableEventError');
    });
  });

  describe('DISCARDED', () => {
    it('rolls back without a winner', () => {
      const plan = planExperiment('ExperimentDiscarded', WORKSPACE, experimentDto({ status: 'DISCARDED', traffic: 20 }), NGINX);
      expect(plan.kind).toBe('rollback');
      expect(plan.winner).toBeUndefined();
      expect(plan.canaryWeight).toBe(0);
      expect(plan.reason).toBe('the experiment is DISCARDED: canaries are removed');
    });

    it('rolls back an A/B/n experiment even with ingress-nginx', () => {
      const plan = planExperiment(
        'ExperimentDiscarded',
        WORKSPACE,
        experimentDto({ status: 'DISCARDED', variants: THREE_VARIANTS }),
        NGINX,
      );
      expect(plan.kind).toBe('rollback');
      expect(plan.experimental).toHaveLength(2);
    });
  });

  describe('traffic split limits', () => {
    it('refuses two experimental variants with ingress-nginx, pointing at gateway-api', () => {
      for (const status of ['INPROGRESS', 'PAUSED'] as const) {
        const experiment = experimentDto({ status, traffic: 10, variants: THREE_VARIANTS });
        const error = unprocessable(() => planExperiment('ExperimentInprogress', WORKSPACE, experiment, NGINX));
        expect(error.message).toContain('cannot split traffic over 2 experimental variants');
        expect(error.message).toContain('TRAFFIC_PROVIDER=gateway-api');
      }
    });

    it('takes several experimental variants when the provider can split them', () => {
      const experiment = experimentDto({ traffic: 30, variants: THREE_VARIANTS });
      const plan = planExperiment('ExperimentInprogress', WORKSPACE, experiment, GATEWAY);
      expect(plan.kind).toBe('rollout');
      expect(plan.canaryWeight).toBe(30);
      expect(plan.experimental.map((variant) => variant.id)).toEqual([TEST1_ID, TEST2_ID]);
    });

    it('refuses more experimental variants than the provider splits, naming the limit', () => {
      const limited = unprocessable(() =>
        planExperiment(
          'ExperimentInprogress',
          WORKSPACE,
          experimentDto({ variants: [...THREE_VARIANTS, { suffix: 't3', type: 'EXPERIMENTAL' }] }),
          {
            routing: routing(),
            maxCanaries: 2,
          },
        ),
      );
      expect(limited.message).toBe('the traffic provider splits traffic over at most 2 experimental variants; this experiment has 3');
    });

    it('refuses experimental variants whose shares add up to more than 100%', () => {
      const experiment = experimentDto({ traffic: 51, variants: THREE_VARIANTS });
      const error = unprocessable(() => planExperiment('ExperimentInprogress', WORKSPACE, experiment, GATEWAY));
      expect(error.message).toBe('2 experimental variants at 51% each exceed 100% of traffic');
      const exactly = experimentDto({ traffic: 50, variants: THREE_VARIANTS });
      expect(planExperiment('ExperimentInprogress', WORKSPACE, exactly, GATEWAY).canaryWeight).toBe(50);
    });

    it('checks the shares of a PAUSED experiment too', () => {
      const experiment = experimentDto({ status: 'PAUSED', traffic: 60, variants: THREE_VARIANTS });
      expect(() => planExperiment('ExperimentPaused', WORKSPACE, experiment, GATEWAY)).toThrow(/exceed 100% of traffic/);
    });
  });

  describe('namespace', () => {
    it('falls back to the default namespace when the context has no namespace', () => {
      const plan = planExperiment('ExperimentInprogress', WORKSPACE, experimentDto({ context: { region: 'in' } }), {
        routing: routing({ defaultNamespace: 'apps' }),
        maxCanaries: 1,
      });
      expect(plan.namespace).toBe('apps');
      expect(plan.host).toBe('nginxservice.apps');
      expect(plan.dimensions).toEqual({ region: 'in' });
    });

    it('reads the configured dimension', () => {
      const experiment = experimentDto({ context: { namespace: 'ignored', cluster_ns: 'payments' } });
      const plan = planExperiment('ExperimentInprogress', WORKSPACE, experiment, {
        routing: routing({ namespaceDimension: 'cluster_ns' }),
        maxCanaries: 1,
      });
      expect(plan.namespace).toBe('payments');
      expect(plan.host).toBe('nginxservice.payments');
    });

    it('reads the legacy JSON-logic context', () => {
      const experiment = experimentDto({ context: JSON.parse('{"and":[{"==":[{"var":"namespace"},"mumbai"]}]}') });
      const plan = planExperiment('ExperimentInprogress', WORKSPACE, experiment, NGINX);
      expect(plan.namespace).toBe('mumbai');
      expect(plan.dimensions).toEqual({ namespace: 'mumbai' });
    });

    it.each([['Mumbai'], ['mum_bai'], ['-mumbai'], ['mumbai.west'], ['a'.repeat(64)]])(
      'refuses the namespace %s with a 422 error',
      (namespace) => {
        const error = unprocessable(() =>
          planExperiment('ExperimentInprogress', WORKSPACE, experimentDto({ context: { namespace } }), NGINX),
        );
        expect(error.message).toBe(`namespace "${namespace}" (context dimension "namespace") is not a valid Kubernetes namespace name`);
      },
    );

    it('takes a 63-character namespace', () => {
      const namespace = 'a'.repeat(63);
      const plan = planExperiment('ExperimentInprogress', 'svc', experimentDto({ context: { namespace } }), NGINX);
      expect(plan.namespace).toBe(namespace);
    });

    it('refuses a namespace dimension that is not a string', () => {
      expect(() => planExperiment('ExperimentInprogress', WORKSPACE, experimentDto({ context: { namespace: 5 } }), NGINX)).toThrow(
        ContextError,
      );
    });

    it('refuses an unsupported JSON-logic context', () => {
      const experiment = experimentDto({ context: { or: [{ '==': [{ var: 'namespace' }, 'a'] }] } });
      expect(() => planExperiment('ExperimentInprogress', WORKSPACE, experiment, NGINX)).toThrow(ContextError);
    });
  });

  describe('host', () => {
    it('fills INGRESS_HOST_TEMPLATE', () => {
      const plan = planExperiment('ExperimentInprogress', WORKSPACE, experimentDto(), {
        routing: routing({ hostTemplate: '{service}-{namespace}.apps.example.com' }),
        maxCanaries: 1,
      });
      expect(plan.host).toBe('nginxservice-mumbai.apps.example.com');
    });
  });
});

describe('hostFor', () => {
  it('fills {service} and {namespace}', () => {
    expect(hostFor('{service}.{namespace}', 'nginxservice', 'mumbai')).toBe('nginxservice.mumbai');
    expect(hostFor('{namespace}.example.com', 'nginxservice', 'mumbai')).toBe('mumbai.example.com');
    expect(hostFor('fixed.example.com', 'nginxservice', 'mumbai')).toBe('fixed.example.com');
  });

  it('fills every occurrence', () => {
    expect(hostFor('{service}.{service}.{namespace}', 'svc', 'ns')).toBe('svc.svc.ns');
  });

  it('makes the parts host-safe: lower case, invalid characters to "-"', () => {
    expect(hostFor('{service}.{namespace}', 'NginxService', 'mumbai')).toBe('nginxservice.mumbai');
    expect(hostFor('{service}.{namespace}', 'nginx_service', 'mumbai')).toBe('nginx-service.mumbai');
    expect(hostFor('{service}.{namespace}', 'my.svc', 'mumbai')).toBe('my.svc.mumbai');
  });

  it('refuses a result that is not a DNS name with a 422 error', () => {
    const error = unprocessable(() => hostFor('{service}.{namespace}', 'svc_', 'mumbai'));
    expect(error.message).toBe('host "svc-.mumbai" made from INGRESS_HOST_TEMPLATE is not a valid DNS name');
    expect(() => hostFor('{service}..{namespace}', 'svc', 'ns')).toThrow(UnprocessableEventError);
    expect(() => hostFor('{service}.{namespace}', '', 'ns')).toThrow(UnprocessableEventError);
  });

  it('refuses a host longer than 253 characters', () => {
    const label = 'a'.repeat(63);
    const service = [label, label, label].join('.');
    expect(hostFor('{service}.{namespace}', service, 'abcdefghi')).toHaveLength(201);
    expect(() => hostFor('{service}.{namespace}', service, `${label}-x`)).toThrow(/is not a valid DNS name/);
  });
});

describe('planExperiment: at most 16 variants', () => {
  const variants = (count: number): VariantSpec[] =>
    Array.from({ length: count }, (_, index) =>
      index === 0 ? { suffix: 'control', type: 'CONTROL' as const } : { suffix: `v${index}`, type: 'EXPERIMENTAL' as const },
    );

  it('plans 16 variants and refuses 17 with a 422 naming the limit, whatever the status', () => {
    expect(
      planExperiment('ExperimentDiscarded', WORKSPACE, experimentDto({ status: 'DISCARDED', variants: variants(16) }), GATEWAY).kind,
    ).toBe('rollback');
    for (const status of ['INPROGRESS', 'DISCARDED'] as const) {
      const error = unprocessable(() =>
        planExperiment('ExperimentInprogress', WORKSPACE, experimentDto({ status, variants: variants(17) }), GATEWAY),
      );
      expect(error.message).toBe('payload.variants holds 17 variants; Mayday handles at most 16');
    }
  });
});
