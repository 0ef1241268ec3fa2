import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { settled } from '../support/eventually';
import { startMayday, type RunningMayday } from '../support/mayday';
import { experiment, experimentId, webhook } from '../support/payloads';
import { expectRefusal, parse, send, WEBHOOK, type Answer } from '../support/webhook-answers';

/**
 * The webhook's defences, end to end against the real kube-apiserver: the shared-secret bearer
 * token, the namespace/workspace scope, the body size and media type limits. The property-based
 * fuzz run of malformed and hostile deliveries is test/e2e/webhook-fuzz.e2e-spec.ts.
 */

const cluster = new Cluster();

function newNamespace(prefix: string): Promise<string> {
  return cluster.createNamespace(prefix);
}

/**
 * One request with node:http, for what fetch will not do: a GET with a body, no Content-Type at all,
 * or a body streamed in chunks without Content-Length.
 */
function rawRequest(
  url: string,
  path: string,
  method: string,
  headers: Record<string, string | number>,
  chunks: string[],
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => resolve(parse(res.statusCode ?? 0, String(res.headers['content-type'] ?? ''), Buffer.concat(parts).toString())));
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

async function postJson(mayday: RunningMayday, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return send(mayday.url, WEBHOOK, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
}

// ---------------------------------------------------------------------------------------------
// 1. Authentication
// ---------------------------------------------------------------------------------------------

describe('webhook authentication (WEBHOOK_TOKEN)', () => {
  const token = `mayday-${randomBytes(24).toString('hex')}`;
  let mayday: RunningMayday;
  let namespace: string;

  beforeAll(async () => {
    namespace = await newNamespace('sec-auth');
    mayday = await startMayday({ WEBHOOK_TOKEN: token });
  });
  afterAll(() => mayday?.close());

  it('refuses every delivery without exactly "Bearer <token>" with a 401 and touches nothing; the token lets it through', async () => {
    const id = experimentId();
    const body = JSON.stringify(webhook('ExperimentStarted', 'authsvc', experiment({ id, context: { namespace } })));
    const sameLengthWrong = token.slice(0, -1) + (token.endsWith('0') ? '1' : '0');
    const refused: [string, Record<string, string>][] = [
      ['no Authorization header', {}],
      ['a wrong bearer token of the same length', { authorization: `Bearer ${sameLengthWrong}` }],
      ['a wrong bearer token', { authorization: 'Bearer not-the-token' }],
      ['Basic credentials holding the token', { authorization: `Basic ${Buffer.from(`mayday:${token}`).toString('base64')}` }],
      ['Basic with the bare token', { authorization: `Basic ${token}` }],
      ['the bare token without a scheme', { authorization: token }],
      ['the token under another scheme', { authorization: `Token ${token}` }],
      ['the token glued to the scheme', { authorization: `Bearer${token}` }],
      ['the token in another header', { 'x-webhook-token': token }],
      ['the token with an extra character', { authorization: `Bearer ${token}x` }],
      ['the token without its last character', { authorization: `Bearer ${token.slice(0, -1)}` }],
      ['half of the token', { authorization: `Bearer ${token.slice(0, token.length / 2)}` }],
      ['the token twice', { authorization: `Bearer ${token} ${token}` }],
      ['an empty bearer', { authorization: 'Bearer ' }],
    ];
    for (const [what, headers] of refused) {
      const answer = await send(mayday.url, WEBHOOK, body, { 'content-type': 'application/json', ...headers });
      expectRefusal(answer, 401, what);
      expect(answer.json.message, what).toMatch(/Bearer/);
      expect(await cluster.snapshot(namespace), what).toEqual({});
    }

    // The guard runs before validation: an unauthenticated malformed event learns nothing about its shape.
    const malformed = await send(mayday.url, WEBHOOK, '{"payload": 1}', { 'content-type': 'application/json' });
    expectRefusal(malformed, 401, 'a malformed body without the token');

    const accepted = await send(mayday.url, WEBHOOK, body, {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
    });
    expect(accepted.status, accepted.text).toBe(200);
    expect(accepted.json.result).toBe('applied');
    const names = await cluster.names(namespace);
    expect(names.deployments).toEqual([`authsvc-dep-${id}-control`, `authsvc-dep-${id}-test1`]);
    expect(names.services).toEqual(['authsvc', `authsvc-service-${id}-test1`]);
    expect(names.ingresses).toEqual(['authsvc', `authsvc-ingress-${id}-test1`]);
  });

  it('guards the legacy /hi endpoint (POST, and GET with a body) with the same token, and leaves GET /hi and the probes open', async () => {
    // The previous test's experiment has settled (its canary got its weight once its pod was ready).
    const before = await settled(() => cluster.snapshot(namespace));
    const id = experimentId();
    const body = JSON.stringify(webhook('ExperimentStarted', 'hisvc', experiment({ id, context: { namespace } })));

    expectRefusal(await send(mayday.url, '/hi', body, { 'content-type': 'application/json' }), 401, 'POST /hi without the token');
    expectRefusal(
      await send(mayday.url, '/hi', body, { 'content-type': 'application/json', authorization: 'Bearer wrong' }),
      401,
      'POST /hi with a wrong token',
    );
    expectRefusal(
      await rawRequest(mayday.url, '/hi', 'GET', { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, [body]),
      401,
      'GET /hi with a body without the token',
    );
    expect(await cluster.snapshot(namespace)).toEqual(before);

    const open = await send(mayday.url, '/hi', undefined, {}, 'GET');
    expect(open.status).toBe(200);
    expect(open.json).toEqual({ service: 'mayday', status: 'ok' });
    expect((await send(mayday.url, '/health/live', undefined, {}, 'GET')).status).toBe(200);
    const ready = await send(mayday.url, '/health/ready', undefined, {}, 'GET');
    expect(ready.status, ready.text).toBe(200);

    const created = JSON.stringify(
      webhook('ExperimentCreated', 'hisvc', experiment({ id, status: 'CREATED', traffic: 0, context: { namespace } })),
    );
    const viaPost = await send(mayday.url, '/hi', created, { 'content-type': 'application/json', authorization: `Bearer ${token}` });
    expect(viaPost.status, viaPost.text).toBe(200);
    expect(viaPost.json.result).toBe('ignored');
    expect(await cluster.snapshot(namespace)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Scope
// ---------------------------------------------------------------------------------------------

describe('webhook scope (ALLOWED_NAMESPACES, ALLOWED_WORKSPACES)', () => {
  let mayday: RunningMayday;
  let allowedNamespace: string;
  let otherNamespace: string;
  const allowedWorkspace = 'scopesvc';
  const otherWorkspace = 'othersvc';

  beforeAll(async () => {
    allowedNamespace = await newNamespace('sec-scope-in');
    otherNamespace = await newNamespace('sec-scope-out');
    mayday = await startMayday({ ALLOWED_NAMESPACES: allowedNamespace, ALLOWED_WORKSPACES: allowedWorkspace });
  });
  afterAll(() => mayday?.close());

  it('refuses events for another namespace or workspace with a 403 naming it, touches nothing, and applies an allowed one', async () => {
    const snapshots = async () => ({
      allowed: await cluster.snapshot(allowedNamespace),
      other: await cluster.snapshot(otherNamespace),
    });
    const before = await snapshots();
    expect(before).toEqual({ allowed: {}, other: {} });

    const id = experimentId();
    const otherNs = await postJson(
      mayday,
      webhook('ExperimentStarted', allowedWorkspace, experiment({ id, context: { namespace: otherNamespace } })),
    );
    expectRefusal(otherNs, 403, 'another namespace');
    expect(otherNs.json.message).toContain(otherNamespace);

    const otherWs = await postJson(
      mayday,
      webhook('ExperimentStarted', otherWorkspace, experiment({ id, context: { namespace: allowedNamespace } })),
    );
    expectRefusal(otherWs, 403, 'another workspace');
    expect(otherWs.json.message).toContain(otherWorkspace);

    // No namespace in the context means DEFAULT_NAMESPACE, which is not in the list either.
    const defaulted = await postJson(mayday, webhook('ExperimentStarted', allowedWorkspace, experiment({ id, context: { region: 'eu' } })));
    expectRefusal(defaulted, 403, 'the default namespace');
    expect(defaulted.json.message).toContain('"default"');

    // A conclusion is refused the same way (it would delete objects).
    const concluded = await postJson(
      mayday,
      webhook(
        'ExperimentConcluded',
        allowedWorkspace,
        experiment({ id, status: 'CONCLUDED', chosen: 'test1', context: { namespace: otherNamespace } }),
      ),
    );
    expectRefusal(concluded, 403, 'a conclusion in another namespace');
    expect(concluded.json.message).toContain(otherNamespace);

    expect(await snapshots()).toEqual(before);

    const allowed = await postJson(
      mayday,
      webhook('ExperimentStarted', allowedWorkspace, experiment({ id, context: { namespace: allowedNamespace } })),
    );
    expect(allowed.status, allowed.text).toBe(200);
    expect(allowed.json.result).toBe('applied');
    expect((await cluster.names(allowedNamespace)).deployments).toEqual([`scopesvc-dep-${id}-control`, `scopesvc-dep-${id}-test1`]);
    expect(await cluster.snapshot(otherNamespace)).toEqual({});
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Limits
// ---------------------------------------------------------------------------------------------

describe('webhook limits (WEBHOOK_MAX_BODY_BYTES, Content-Type)', () => {
  const MAX = 2048;
  let mayday: RunningMayday;
  let namespace: string;

  beforeAll(async () => {
    namespace = await newNamespace('sec-limits');
    mayday = await startMayday({ WEBHOOK_MAX_BODY_BYTES: String(MAX) });
  });
  afterAll(() => mayday?.close());

  /** A valid ExperimentStarted whose JSON text is exactly `bytes` long (padded through `description`). */
  function startedOfSize(id: string, bytes: number): string {
    const payload = experiment({ id, context: { namespace } });
    const bare = JSON.stringify(webhook('ExperimentStarted', 'limitsvc', { ...payload, description: '' }));
    const text = JSON.stringify(webhook('ExperimentStarted', 'limitsvc', { ...payload, description: 'x'.repeat(bytes - bare.length) }));
    expect(Buffer.byteLength(text)).toBe(bytes);
    return text;
  }

  it('answers 413 to a body over the limit and 415 to a body that is not JSON, with a JSON message, and touches nothing', async () => {
    const id = experimentId();
    const tooLarge = startedOfSize(id, MAX + 1);
    const large = await send(mayday.url, WEBHOOK, tooLarge, { 'content-type': 'application/json' });
    expectRefusal(large, 413, 'a body one byte over the limit');
    expect(large.json.message).toContain('WEBHOOK_MAX_BODY_BYTES');

    const huge = startedOfSize(id, 200_000);
    expectRefusal(await send(mayday.url, WEBHOOK, huge, { 'content-type': 'application/json' }), 413, 'a 200 kB body');

    // Without Content-Length the limit still holds while the body streams in.
    const chunked = await rawRequest(mayday.url, WEBHOOK, 'POST', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, [
      huge.slice(0, 1000),
      huge.slice(1000, 3000),
      huge.slice(3000),
    ]);
    expectRefusal(chunked, 413, 'a chunked body over the limit');

    // The limit is on the inflated body: a few kB of gzip that inflate to 5 MB are refused, not inflated.
    const bomb = gzipSync(Buffer.from(`{"event_info":{},"payload":{"description":"${'x'.repeat(5_000_000)}"}}`));
    expect(bomb.byteLength).toBeLessThan(MAX * 4);
    expectRefusal(
      await send(mayday.url, WEBHOOK, new Uint8Array(bomb), { 'content-type': 'application/json', 'content-encoding': 'gzip' }),
      413,
      'a gzip bomb',
    );
    expectRefusal(
      await send(mayday.url, WEBHOOK, tooLarge, { 'content-type': 'application/json', 'content-encoding': 'compress' }),
      415,
      'an unsupported Content-Encoding',
    );
    expectRefusal(
      await send(mayday.url, WEBHOOK, '{"not": "gzip"}', { 'content-type': 'application/json', 'content-encoding': 'gzip' }),
      400,
      'a body that is not the gzip it claims to be',
    );

    const valid = startedOfSize(id, 1500);
    const mediaTypes = [
      'text/plain',
      'text/plain;charset=UTF-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'text/json',
      'application/json-patch+json',
      'application/octet-stream',
    ];
    for (const type of mediaTypes) {
      const answer = await send(mayday.url, WEBHOOK, valid, { 'content-type': type });
      expectRefusal(answer, 415, type);
      expect(answer.json.message, type).toMatch(/Content-Type/);
    }
    const form = `payload=${encodeURIComponent(valid)}`;
    expectRefusal(
      await send(mayday.url, WEBHOOK, form, { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      'a form-encoded body',
    );
    const untyped = await rawRequest(mayday.url, WEBHOOK, 'POST', { 'content-length': Buffer.byteLength(valid) }, [valid]);
    expectRefusal(untyped, 415, 'no Content-Type');
    expect(untyped.json.message).toContain('none');
    const latin1 = await send(mayday.url, WEBHOOK, valid, { 'content-type': 'application/json; charset=latin1' });
    expectRefusal(latin1, 415, 'a JSON body in an unsupported charset');

    expect(await cluster.snapshot(namespace)).toEqual({});

    // The same event, as JSON and under the limit, goes through.
    const accepted = await send(mayday.url, WEBHOOK, valid, { 'content-type': 'application/json' });
    expect(accepted.status, accepted.text).toBe(200);
    expect((await cluster.names(namespace)).deployments).toEqual([`limitsvc-dep-${id}-control`, `limitsvc-dep-${id}-test1`]);
  });
});

// ---------------------------------------------------------------------------------------------
// A variant that is an array (found by the fuzzer below: class-validator's @ValidateNested walks
// into an array element as if it were a variant, so `[]` or `[{...variant}]` used to pass and be
// silently ignored, and the rollout went ahead without it).
// ---------------------------------------------------------------------------------------------

describe('variants that are arrays', () => {
  let mayday: RunningMayday;
  let namespace: string;

  beforeAll(async () => {
    namespace = await newNamespace('sec-variants');
    mayday = await startMayday();
  });
  afterAll(() => mayday?.close());

  it('refuses a variant that is an array, empty or holding a variant, with a 400 and touches nothing', async () => {
    const hidden = { id: 'hidden', variant_type: 'EXPERIMENTAL', overrides: { 'container.image': 'nginx:1.29' } };
    for (const odd of [[], [hidden], [hidden, hidden]]) {
      const payload = experiment({ id: experimentId(), context: { namespace } });
      (payload.variants as unknown[]).push(odd);
      const answer = await postJson(mayday, webhook('ExperimentStarted', 'arraysvc', payload));
      expectRefusal(answer, 400, `variants holding ${JSON.stringify(odd)}`);
      expect(answer.json.message).toContain('payload.variants');
    }
    expect(await cluster.snapshot(namespace)).toEqual({});
  });
});
