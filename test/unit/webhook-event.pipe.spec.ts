// class-transformer's @Type reads decorator metadata; Nest loads this polyfill in the app, the test loads it here.
import 'reflect-metadata';
import { IsString } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { PayloadValidationError, validatePlain } from '../../src/common/validation';
import { contextDimensions } from '../../src/contract/context';
import { ExperimentDto } from '../../src/contract/experiment.dto';
import { EXPERIMENT_EVENTS, WEBHOOK_EVENTS } from '../../src/contract/webhook-envelope';
import { parseExperiment } from '../../src/contract/parse-experiment';
import { parseWebhook } from '../../src/contract/parse-webhook';
import { WebhookEventPipe } from '../../src/webhooks/webhook-event.pipe';
import { clone, CONTROL_ID, EXPERIMENT_ID, experimentPayload, TEST1_ID, webhookBody, type VariantSpec } from './fixtures';

/** docs/contract.md §1, verbatim (with the "..." placeholders filled in). */
const CONTRACT_BODY = `{
  "event_info": {
    "webhook_event": "ExperimentStarted",
    "resource": "experiment",
    "action": "Update",
    "time": "2026-08-20 07:37:40.123456789 UTC",
    "workspace_id": "nginxservice",
    "organisation_id": "localorg",
    "config_version": "7350102650000000001"
  },
  "payload": {
    "id": "7350102648234549248",
    "name": "nginx-1-27",
    "experiment_type": "DEFAULT",
    "override_keys": ["container.image"],
    "status": "INPROGRESS",
    "traffic_percentage": 10,
    "context": { "namespace": "mumbai" },
    "variants": [
      { "id": "7350102648234549248-control", "variant_type": "CONTROL",
        "context_id": "ctx1", "override_id": "ovr1", "overrides": { "container.image": "nginx:1.25" } },
      { "id": "7350102648234549248-test1", "variant_type": "EXPERIMENTAL",
        "context_id": "ctx2", "override_id": "ovr2", "overrides": { "container.image": "nginx:1.27" } }
    ],
    "chosen_variant": null,
    "created_at": "2026-08-20T07:30:00.123456Z", "created_by": "a@b.c",
    "last_modified": "2026-08-20T07:37:40.100000Z", "last_modified_by": "a@b.c",
    "started_at": "2026-08-20T07:37:40.100000Z", "started_by": "a@b.c",
    "description": "...", "change_reason": "...",
    "metrics": { "enabled": false, "source": null }, "metrics_url": null,
    "experiment_group_id": "7350102649999999999"
  }
}`;

/** The problems of the PayloadValidationError `fn` throws, or a failure when it does not. */
function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PayloadValidationError);
    const validation = error as PayloadValidationError;
    expect(validation.name).toBe('PayloadValidationError');
    expect(validation.message).toBe(validation.problems.join('; '));
    return validation.problems;
  }
  throw new Error('expected a PayloadValidationError');
}

/** A webhook body with the payload edited by `edit` (on a deep copy). */
function editedBody(edit: (payload: Record<string, any>) => void, event = 'ExperimentStarted'): Record<string, unknown> {
  const payload = clone(experimentPayload());
  edit(payload);
  return webhookBody(event, payload);
}

/** `levels` objects nested inside each other: {n:{n:{...{leaf:1}}}}. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let level = 1; level < levels; level++) value = { n: value };
  return value;
}

describe('parseWebhook: well-formed bodies', () => {
  it('parses the docs/contract.md §1 body', () => {
    const parsed = parseWebhook(JSON.parse(CONTRACT_BODY));
    expect(parsed.kind).toBe('experiment');
    if (parsed.kind !== 'experiment') return;
    expect(parsed.event.event).toBe('ExperimentStarted');
    expect(parsed.event.workspace).toBe('nginxservice');
    expect(parsed.event.organisationId).toBe('localorg');
    expect(parsed.event.configVersion).toBe('7350102650000000001');
    const experiment = parsed.event.experiment;
    expect(experiment).toBeInstanceOf(ExperimentDto);
    expect(experiment.id).toBe('7350102648234549248');
    expect(typeof experiment.id).toBe('string');
    expect(experiment.status).toBe('INPROGRESS');
    expect(experiment.traffic_percentage).toBe(10);
    expect(experiment.context).toEqual({ namespace: 'mumbai' });
    expect(experiment.chosen_variant).toBeNull();
    expect(experiment.last_modified).toBe('2026-08-20T07:37:40.100000Z');
    expect(experiment.variants.map((variant) => [variant.id, variant.variant_type, variant.overrides])).toEqual([
      ['7350102648234549248-control', 'CONTROL', { 'container.image': 'nginx:1.25' }],
      ['7350102648234549248-test1', 'EXPERIMENTAL', { 'container.image': 'nginx:1.27' }],
    ]);
  });

  it('takes config_version null, a missing organisation and time in chrono form', () => {
    const body = webhookBody('ExperimentInprogress') as { event_info: Record<string, unknown> };
    body.event_info.config_version = null;
    delete body.event_info.organisation_id;
    body.event_info.time = '2026-08-20 07:37:40.123456789 UTC';
    const parsed = parseWebhook(body);
    expect(parsed.kind).toBe('experiment');
    if (parsed.kind === 'experiment') {
      expect(parsed.event.event).toBe('ExperimentInprogress');
      expect(parsed.event.organisationId).toBeUndefined();
      expect(parsed.event.configVersion).toBeUndefined();
    }
  });

  it('takes ConfigChanged with an ARRAY payload and an ARRAY action (a bulk context write) as kind "config"', () => {
    const body = webhookBody('ConfigChanged', [
      { context: { and: [{ '==': [{ var: 'variantIds' }, `${EXPERIMENT_ID}-control`] }] }, override: { 'container.image': 'nginx:1.25' } },
      { id: 'ctx-2', description: 'deleted' },
    ]) as { event_info: Record<string, unknown> };
    body.event_info.action = ['Delete', 'Delete', 'Create'];
    body.event_info.resource = 'context';
    expect(parseWebhook(body)).toEqual({ kind: 'config', event: 'ConfigChanged', workspace: 'nginxservice' });
  });

  it.each([[null], ['text'], [42], [true], [[]], [[1, 'two', null]]])(
    'takes ConfigChanged whatever JSON its payload is (%j)',
    (payload) => {
      expect(parseWebhook(webhookBody('ConfigChanged', payload))).toEqual({
        kind: 'config',
        event: 'ConfigChanged',
        workspace: 'nginxservice',
      });
    },
  );

  it('takes a ConfigChanged without a payload, and any resource and action', () => {
    for (const [resource, action] of [
      ['default_config', 'Delete'],
      ['dimension', ['Create']],
      ['something_new', { kind: 'future' }],
    ]) {
      const body = webhookBody('ConfigChanged') as { event_info: Record<string, unknown>; payload?: unknown };
      delete body.payload;
      Object.assign(body.event_info, { resource, action });
      expect(parseWebhook(body).kind).toBe('config');
    }
  });

  it('takes an experiment event with an array action or an unknown resource', () => {
    const body = webhookBody('ExperimentInprogress') as { event_info: Record<string, unknown> };
    Object.assign(body.event_info, { action: ['Update'], resource: 'experiment_v2', extra: { a: 1 } });
    expect(parseWebhook(body).kind).toBe('experiment');
  });

  it('takes experiment_group_id as a string or null, and metrics / metrics_url in any shape', () => {
    const shapes: [string | null, unknown, unknown][] = [
      [null, null, null],
      ['7350102649999999999', 'https://grafana.example/d/abc', { enabled: true, source: { GRAFANA: { base_url: 'x' } } }],
      ['7350102649999999999', { url: 'https://grafana.example' }, 'metrics as text'],
      ['1', ['a'], 7],
    ];
    for (const [group, metricsUrl, metrics] of shapes) {
      const parsed = parseWebhook(
        editedBody(
          (payload) => Object.assign(payload, { experiment_group_id: group, metrics_url: metricsUrl, metrics }),
          'ExperimentInprogress',
        ),
      );
      if (parsed.kind !== 'experiment') throw new Error('expected an experiment');
      expect(parsed.event.experiment.experiment_group_id).toBe(group);
      expect(parsed.event.experiment.metrics_url).toEqual(metricsUrl);
    }
  });

  it('refuses an experiment_group_id sent as a number (it is a 64-bit id, sent as a string)', () => {
    const found = problems(() => parseWebhook(editedBody((payload) => (payload.experiment_group_id = 7350102649999999))));
    expect(found).toContain('payload.experiment_group_id must be a string');
  });

  it('refuses a config_version that is neither a string nor null', () => {
    const body = webhookBody('ExperimentInprogress') as { event_info: Record<string, unknown> };
    body.event_info.config_version = 7;
    expect(problems(() => parseWebhook(body))).toEqual(['event_info.config_version must be a string']);
  });

  it('tolerates unknown fields anywhere', () => {
    const body = editedBody((payload) => {
      payload.brand_new_field = { nested: [1, 2, 3] };
      payload.variants[0].description = 'the control';
      payload.variants[1].extra = null;
    }) as { event_info: Record<string, unknown> };
    body.event_info.trace_id = 'abc';
    (body as Record<string, unknown>).signature = 'none';
    const parsed = parseWebhook(body);
    expect(parsed.kind).toBe('experiment');
  });

  it.each(EXPERIMENT_EVENTS.map((event) => [event]))('parses %s as an experiment event', (event) => {
    const status = event === 'ExperimentCreated' || event === 'ExperimentUpdated' ? 'CREATED' : 'INPROGRESS';
    const parsed = parseWebhook(editedBody((payload) => (payload.status = status), event));
    expect(parsed).toMatchObject({ kind: 'experiment', event: { event, workspace: 'nginxservice' } });
  });

  it('parses a CONCLUDED experiment with its chosen variant', () => {
    const parsed = parseWebhook(
      editedBody((payload) => {
        payload.status = 'CONCLUDED';
        payload.chosen_variant = TEST1_ID;
      }, 'ExperimentConcluded'),
    );
    expect(parsed.kind === 'experiment' && parsed.event.experiment.chosen_variant).toBe(TEST1_ID);
  });

  it('keeps a legacy JSON-logic context intact', () => {
    const context = JSON.parse('{"and":[{"==":[{"var":"namespace"},"mumbai"]}]}');
    const parsed = parseWebhook(editedBody((payload) => (payload.context = context)));
    if (parsed.kind !== 'experiment') throw new Error('expected an experiment');
    expect(parsed.event.experiment.context).toEqual({ and: [{ '==': [{ var: 'namespace' }, 'mumbai'] }] });
    expect(contextDimensions(parsed.event.experiment.context)).toEqual({ namespace: 'mumbai' });
  });

  it('keeps override values of every JSON type as they are', () => {
    const overrides = { 'container.image': 'nginx:1.27', replicas: 2, 'env.A': { x: [1, null, true] }, 'env.B': '007' };
    const parsed = parseWebhook(editedBody((payload) => (payload.variants[1].overrides = clone(overrides))));
    if (parsed.kind !== 'experiment') throw new Error('expected an experiment');
    expect(parsed.event.experiment.variants[1].overrides).toEqual(overrides);
  });

  it('accepts ConfigChanged with a config payload as kind "config"', () => {
    const body = webhookBody('ConfigChanged', {
      contexts: [],
      overrides: {},
      default_configs: { 'container.image': 'nginx:1.25', replicas: 1 },
    });
    expect(parseWebhook(body)).toEqual({ kind: 'config', event: 'ConfigChanged', workspace: 'nginxservice' });
    expect(parseWebhook(webhookBody('ConfigChanged', {}))).toEqual({
      kind: 'config',
      event: 'ConfigChanged',
      workspace: 'nginxservice',
    });
  });

  it('knows every webhook event of docs/contract.md §1', () => {
    expect([...WEBHOOK_EVENTS].sort()).toEqual(
      [
        'ExperimentCreated',
        'ExperimentStarted',
        'ExperimentInprogress',
        'ExperimentUpdated',
        'ExperimentConcluded',
        'ExperimentDiscarded',
        'ExperimentPaused',
        'ConfigChanged',
      ].sort(),
    );
  });

  it('is what WebhookEventPipe.transform answers', () => {
    const body = JSON.parse(CONTRACT_BODY);
    expect(new WebhookEventPipe().transform(body)).toEqual(parseWebhook(JSON.parse(CONTRACT_BODY)));
  });
});

describe('parseWebhook: malformed envelopes', () => {
  it('refuses a body that is not a JSON object', () => {
    for (const body of [null, undefined, 'text', 42, [webhookBody('ExperimentStarted')]]) {
      expect(problems(() => parseWebhook(body))).toEqual(['body must be a JSON object']);
    }
  });

  it('names missing event_info and payload', () => {
    expect(problems(() => parseWebhook({}))).toEqual(['event_info should not be null or undefined', 'event_info must be an object']);
    expect(problems(() => parseWebhook({ event_info: { webhook_event: 'ExperimentStarted', workspace_id: 'svc' } }))).toEqual([
      'payload must be a JSON object',
    ]);
  });

  it('names event_info.webhook_event when the event is unknown', () => {
    const body = webhookBody('ExperimentRunning');
    const found = problems(() => parseWebhook(body));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^event_info\.webhook_event must be one of the following values: ExperimentCreated, /);
  });

  it('is case-sensitive about event names ("ExperimentInProgress" is not "ExperimentInprogress")', () => {
    expect(problems(() => parseWebhook(webhookBody('ExperimentInProgress')))[0]).toMatch(/^event_info\.webhook_event /);
  });

  it('names event_info.workspace_id when it is missing, empty or not a string', () => {
    for (const workspace of [undefined, '', 7]) {
      const body = webhookBody('ExperimentStarted') as { event_info: Record<string, unknown> };
      body.event_info.workspace_id = workspace;
      const found = problems(() => parseWebhook(body));
      expect(found.length).toBeGreaterThan(0);
      for (const problem of found) expect(problem).toMatch(/^event_info\.workspace_id /);
    }
  });

  it.each([
    ['a CR/LF', 'shop\r\nx-injected: 1'],
    ['non-ASCII', 'shöp'],
    ['a slash', 'shop/../admin'],
    ['a space', 'shop svc'],
    ['a leading dash', '-shop'],
  ])('refuses a workspace_id or organisation_id with %s (400 naming the field)', (_what, value) => {
    const workspace = webhookBody('ExperimentStarted') as { event_info: Record<string, unknown> };
    workspace.event_info.workspace_id = value;
    expect(problems(() => parseWebhook(workspace))).toEqual([
      expect.stringMatching(/^event_info\.workspace_id must be a plain identifier/),
    ]);
    const organisation = webhookBody('ExperimentStarted') as { event_info: Record<string, unknown> };
    organisation.event_info.organisation_id = value;
    expect(problems(() => parseWebhook(organisation))).toEqual([
      expect.stringMatching(/^event_info\.organisation_id must be a plain identifier/),
    ]);
  });

  it('takes workspace ids with upper case, digits, "_", "." and "-"', () => {
    expect(parseWebhook(webhookBody('ExperimentStarted', experimentPayload(), 'Web_Shop.v2-eu')).kind).toBe('experiment');
  });

  it('refuses an experiment event whose payload is an array or a string', () => {
    expect(problems(() => parseWebhook(webhookBody('ExperimentStarted', [experimentPayload()])))).toEqual([
      'payload must be a JSON object',
    ]);
    expect(problems(() => parseWebhook(webhookBody('ExperimentConcluded', 'x')))).toEqual(['payload must be a JSON object']);
  });

  it('refuses an experiment event whose payload is not an experiment', () => {
    const found = problems(() => parseWebhook(webhookBody('ExperimentStarted', { default_configs: {} })));
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^payload\.id /),
        expect.stringMatching(/^payload\.status /),
        expect.stringMatching(/^payload\.traffic_percentage /),
        expect.stringMatching(/^payload\.context /),
        expect.stringMatching(/^payload\.variants /),
      ]),
    );
  });
});

describe('parseWebhook: malformed experiments', () => {
  it('refuses an id sent as a number', () => {
    const found = problems(() => parseWebhook(editedBody((payload) => (payload.id = 7350102648234549))));
    expect(found).toContain('payload.id must be a string');
  });

  it('refuses ids that are not experiment ids', () => {
    for (const id of ['', 'has space', '-leading', 'x'.repeat(64)]) {
      const found = problems(() => parseWebhook(editedBody((payload) => (payload.id = id))));
      expect(found).toEqual(['payload.id must be an experiment id (digits, as Superposition sends it as a string)']);
    }
  });

  it.each([
    [101, 'payload.traffic_percentage must not be greater than 100'],
    [-1, 'payload.traffic_percentage must not be less than 0'],
    [10.5, 'payload.traffic_percentage must be an integer number'],
  ])('refuses traffic_percentage %j', (traffic, problem) => {
    expect(problems(() => parseWebhook(editedBody((payload) => (payload.traffic_percentage = traffic))))).toEqual([problem]);
  });

  it('refuses traffic_percentage as a string (no implicit conversion)', () => {
    const found = problems(() => parseWebhook(editedBody((payload) => (payload.traffic_percentage = '10'))));
    expect(found.length).toBeGreaterThan(0);
    for (const problem of found) expect(problem).toMatch(/^payload\.traffic_percentage /);
  });

  it('refuses an unknown status', () => {
    expect(problems(() => parseWebhook(editedBody((payload) => (payload.status = 'RUNNING'))))).toEqual([
      'payload.status must be one of the following values: CREATED, INPROGRESS, PAUSED, CONCLUDED, DISCARDED',
    ]);
  });

  it('refuses a context that is not an object', () => {
    for (const context of ['namespace=mumbai', null, [1]]) {
      const found = problems(() => parseWebhook(editedBody((payload) => (payload.context = context))));
      expect(found).toContain('payload.context must be an object');
    }
  });

  it('refuses chosen_variant that is not a string', () => {
    expect(problems(() => parseWebhook(editedBody((payload) => (payload.chosen_variant = 1))))).toEqual([
      'payload.chosen_variant must be a string',
    ]);
  });

  it('names the variant field path of a bad variant_type', () => {
    const found = problems(() => parseWebhook(editedBody((payload) => (payload.variants[1].variant_type = 'experimental'))));
    expect(found).toEqual(['payload.variants.1.variant_type must be one of the following values: CONTROL, EXPERIMENTAL']);
  });

  it('names the variant field path of a bad id or overrides', () => {
    const found = problems(() =>
      parseWebhook(
        editedBody((payload) => {
          payload.variants[0].id = '';
          payload.variants[1].overrides = 'container.image=nginx';
        }),
      ),
    );
    expect(found).toEqual(['payload.variants.0.id should not be empty', 'payload.variants.1.overrides must be an object']);
  });

  it('refuses a variant that is not an object', () => {
    const found = problems(() => parseWebhook(editedBody((payload) => (payload.variants[1] = null))));
    expect(found).toContain('payload.variants: each value in variants must be an object');
    for (const odd of [[], 'control', 7]) {
      const refused = problems(() => parseWebhook(editedBody((payload) => (payload.variants[1] = odd))));
      expect(refused, JSON.stringify(odd)).toContain('payload.variants: each value in variants must be an object');
    }
  });

  it('refuses variants that are not a list or hold fewer than two entries', () => {
    expect(problems(() => parseWebhook(editedBody((payload) => (payload.variants = payload.variants.slice(0, 1)))))).toEqual([
      'payload.variants must contain at least 2 elements',
    ]);
    expect(problems(() => parseWebhook(editedBody((payload) => (payload.variants = {}))))).toContain('payload.variants must be an array');
  });

  it('reports several problems of one payload together', () => {
    const found = problems(() =>
      parseWebhook(
        editedBody((payload) => {
          payload.id = 5;
          payload.status = 'RUNNING';
          payload.traffic_percentage = 101;
        }),
      ),
    );
    expect(found).toEqual(
      expect.arrayContaining([
        'payload.id must be a string',
        'payload.status must be one of the following values: CREATED, INPROGRESS, PAUSED, CONCLUDED, DISCARDED',
        'payload.traffic_percentage must not be greater than 100',
      ]),
    );
  });
});

describe('parseWebhook: variant rules', () => {
  const withVariants = (variants: VariantSpec[]) => webhookBody('ExperimentStarted', experimentPayload({ variants }));

  it('refuses two CONTROL variants and no EXPERIMENTAL one', () => {
    const found = problems(() =>
      parseWebhook(
        withVariants([
          { suffix: 'a', type: 'CONTROL' },
          { suffix: 'b', type: 'CONTROL' },
        ]),
      ),
    );
    expect(found).toEqual([
      'payload.variants must hold exactly one CONTROL variant (found 2)',
      'payload.variants must hold at least one EXPERIMENTAL variant',
    ]);
  });

  it('refuses variants without a CONTROL', () => {
    const found = problems(() =>
      parseWebhook(
        withVariants([
          { suffix: 'a', type: 'EXPERIMENTAL' },
          { suffix: 'b', type: 'EXPERIMENTAL' },
        ]),
      ),
    );
    expect(found).toEqual(['payload.variants must hold exactly one CONTROL variant (found 0)']);
  });

  it('takes one CONTROL with several EXPERIMENTAL variants', () => {
    const parsed = parseWebhook(
      withVariants([
        { suffix: 'test1', type: 'EXPERIMENTAL' },
        { suffix: 'control', type: 'CONTROL' },
        { suffix: 'test2', type: 'EXPERIMENTAL' },
      ]),
    );
    expect(parsed.kind === 'experiment' && parsed.event.experiment.variants.map((variant) => variant.variant_type)).toEqual([
      'EXPERIMENTAL',
      'CONTROL',
      'EXPERIMENTAL',
    ]);
  });

  it('refuses duplicate variant ids', () => {
    const found = problems(() =>
      parseWebhook(
        withVariants([
          { suffix: 'control', type: 'CONTROL' },
          { suffix: 'test1', type: 'EXPERIMENTAL' },
          { suffix: 'test1', type: 'EXPERIMENTAL' },
        ]),
      ),
    );
    expect(found).toEqual([`payload.variants.2.id "${TEST1_ID}" appears twice`]);
  });
});

describe('parseWebhook: hostile shapes', () => {
  /** JSON.parse makes "__proto__" an own key, as express.json() would; an object literal would not. */
  const hostile = (json: string) => () => parseWebhook(JSON.parse(json));

  it('refuses __proto__ and constructor keys at the top, in the envelope and deep in the payload', () => {
    const envelope = JSON.stringify(webhookBody('ExperimentStarted'));
    const cases: [string, string][] = [
      [envelope.replace(/^\{/, '{"__proto__":{"polluted":true},'), '__proto__ is not an accepted field name'],
      [
        envelope.replace('"event_info":{', '"event_info":{"constructor":{"prototype":{}},'),
        'event_info.constructor is not an accepted field name',
      ],
      [
        envelope.replace('"overrides":{"container.image":"nginx:1.27"}', '"overrides":{"__proto__":{"x":1}}'),
        'payload.variants.1.overrides.__proto__ is not an accepted field name',
      ],
      [
        envelope.replace('"context":{', '"context":{"a":[{"b":{"constructor":1}}],'),
        'payload.context.a.0.b.constructor is not an accepted field name',
      ],
      [envelope.replace('"context":{', '"context":{"prototype":1,'), 'payload.context.prototype is not an accepted field name'],
    ];
    for (const [json, problem] of cases) {
      expect(problems(hostile(json))).toEqual([problem]);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses them in a ConfigChanged payload too', () => {
    const json = JSON.stringify(webhookBody('ConfigChanged', { default_configs: {} })).replace(
      '"default_configs":{}',
      '"default_configs":{"__proto__":{"isAdmin":true}}',
    );
    expect(problems(hostile(json))).toEqual(['payload.default_configs.__proto__ is not an accepted field name']);
  });

  it('takes keys that merely contain those words', () => {
    const parsed = parseWebhook(
      editedBody((payload) => {
        payload.variants[1].overrides = { 'container.image': 'nginx:1.27', 'env.constructor_name': 'x', proto: 1 };
      }),
    );
    expect(parsed.kind).toBe('experiment');
  });

  it('takes nesting 32 levels deep and refuses 33', () => {
    // The body is level 0 and the payload level 1, so `nested(32)` puts its innermost object at level 32.
    expect(parseWebhook(webhookBody('ConfigChanged', nested(32)))).toEqual({
      kind: 'config',
      event: 'ConfigChanged',
      workspace: 'nginxservice',
    });
    const found = problems(() => parseWebhook(webhookBody('ConfigChanged', nested(33))));
    expect(found).toEqual([`payload${'.n'.repeat(32)} is nested deeper than 32 levels`]);
  });

  it('refuses deep nesting of arrays and inside an experiment', () => {
    let deep: unknown = 1;
    for (let level = 0; level < 40; level++) deep = [deep];
    const found = problems(() => parseWebhook(editedBody((payload) => (payload.context = { namespace: 'mumbai', deep }))));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^payload\.context\.deep(\.0)+ is nested deeper than 32 levels$/);
  });

  it('does not crash on very deep nesting', () => {
    const found = problems(() => parseWebhook(webhookBody('ConfigChanged', nested(10_000))));
    expect(found[0]).toMatch(/is nested deeper than 32 levels$/);
  });
});

describe('parseExperiment', () => {
  it('validates an experiment alone (as GET /experiments/{id} answers it)', () => {
    const experiment = parseExperiment(experimentPayload({ status: 'PAUSED', traffic: 20 }), 'experiment');
    expect(experiment).toBeInstanceOf(ExperimentDto);
    expect(experiment.id).toBe(EXPERIMENT_ID);
    expect(experiment.status).toBe('PAUSED');
    expect(experiment.traffic_percentage).toBe(20);
    expect(experiment.variants.map((variant) => variant.id)).toEqual([CONTROL_ID, TEST1_ID]);
  });

  it('names problems with the given path', () => {
    const payload = experimentPayload();
    payload.traffic_percentage = 200;
    expect(problems(() => parseExperiment(payload, 'experiment'))).toEqual(['experiment.traffic_percentage must not be greater than 100']);
    const twoControls = experimentPayload({
      variants: [
        { suffix: 'a', type: 'CONTROL' },
        { suffix: 'b', type: 'CONTROL' },
        { suffix: 'c', type: 'EXPERIMENTAL' },
      ],
    });
    expect(problems(() => parseExperiment(twoControls, 'experiment'))).toEqual([
      'experiment.variants must hold exactly one CONTROL variant (found 2)',
    ]);
  });

  it('refuses a body that is not an object, naming the path', () => {
    expect(problems(() => parseExperiment([], 'experiment'))).toEqual(['experiment must be a JSON object']);
  });
});

describe('validatePlain', () => {
  class Named {
    @IsString()
    name: string;
  }

  it('returns an instance of the DTO with the fields of the plain object', () => {
    const value = validatePlain(Named, { name: 'x', extra: 1 }, 'thing');
    expect(value).toBeInstanceOf(Named);
    expect(value.name).toBe('x');
  });

  it('names problems by path, or by the bare property without one', () => {
    expect(problems(() => validatePlain(Named, { name: 1 }, 'thing'))).toEqual(['thing.name must be a string']);
    expect(problems(() => validatePlain(Named, { name: 1 }, ''))).toEqual(['name must be a string']);
    expect(problems(() => validatePlain(Named, 'x', ''))).toEqual(['body must be a JSON object']);
  });
});
