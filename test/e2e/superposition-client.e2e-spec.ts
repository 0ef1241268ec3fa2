import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMaydayConfig } from '../../src/config/mayday-config';
import { SuperpositionClient } from '../../src/superposition/superposition.client';
import {
  SuperpositionBadResponseError,
  SuperpositionRejectedError,
  SuperpositionServerError,
  SuperpositionUnreachableError,
} from '../../src/superposition/superposition-errors';
import { eventually } from '../support/eventually';
import { closedPort } from '../support/ports';
import { experiment } from '../support/payloads';
import { chronoForm, SuperpositionStandIn } from '../support/superposition-stand-in';

const scope = { orgId: 'localorg', workspace: 'nginxservice' };

function client(env: Record<string, string>): SuperpositionClient {
  return new SuperpositionClient(loadMaydayConfig({ WEBHOOK_AUTH: 'none', ...env }));
}

describe('SuperpositionClient over HTTP against the stand-in', () => {
  const standIn = new SuperpositionStandIn();
  let superposition: SuperpositionClient;

  beforeAll(async () => {
    await standIn.start();
    standIn.workspace('nginxservice', { 'container.image': 'nginx:base', replicas: 2 });
    standIn.addContext('nginxservice', {
      dimensions: { namespace: 'mumbai', city: 'bom' },
      variantId: '42-test1',
      overrides: { 'container.image': 'nginx:1.27' },
    });
    superposition = client({ SUPERPOSITION_URL: standIn.url, SUPERPOSITION_TOKEN: 'sp-token' });
  });
  afterAll(() => standIn.stop());

  it('POSTs the whole context plus variantIds as an array, with the tenant headers and bearer token', async () => {
    const config = await superposition.resolveConfig(scope, { namespace: 'mumbai', city: 'bom' }, '42-test1');
    expect(config).toEqual({ 'container.image': 'nginx:1.27', replicas: 2 });
    const sent = standIn.resolveRequests().at(-1)!;
    expect(sent.method).toBe('POST');
    expect(sent.body).toEqual({ context: { namespace: 'mumbai', city: 'bom', variantIds: ['42-test1'] } });
    expect(sent.headers['x-org-id']).toBe('localorg');
    expect(sent.headers['x-workspace']).toBe('nginxservice');
    expect(sent.headers['content-type']).toBe('application/json');
    expect(sent.headers.authorization).toBe('Bearer sp-token');
  });

  it('gets the base config when a dimension of the context is missing (Superposition matches whole contexts)', async () => {
    const config = await superposition.resolveConfig(scope, { namespace: 'mumbai' }, '42-test1');
    expect(config['container.image']).toBe('nginx:base');
  });

  it('sends no Authorization header without SUPERPOSITION_TOKEN', async () => {
    await client({ SUPERPOSITION_URL: standIn.url }).resolveConfig(scope, { namespace: 'mumbai' }, 'x');
    expect(standIn.resolveRequests().at(-1)!.headers.authorization).toBeUndefined();
  });

  it('turns a 4xx into a rejection carrying Superposition message', async () => {
    const error = await superposition.resolveConfig({ orgId: 'localorg', workspace: 'unknown' }, {}, 'x').catch((failure) => failure);
    expect(error).toBeInstanceOf(SuperpositionRejectedError);
    expect(error.statusCode).toBe(404);
    expect(error.message).toContain('workspace unknown not found');
  });

  it('turns a 5xx into a server error', async () => {
    standIn.failNext(1, 500, 'database down');
    const error = await superposition.resolveConfig(scope, {}, 'x').catch((failure) => failure);
    expect(error).toBeInstanceOf(SuperpositionServerError);
    expect(error.statusCode).toBe(500);
    expect(error.message).toContain('database down');
  });

  it('refuses an answer that is not a JSON object', async () => {
    for (const body of ['[1,2]', '"text"', 'null', 'not json']) {
      standIn.rawAnswer = { status: 200, body };
      const error = await superposition.resolveConfig(scope, {}, 'x').catch((failure) => failure);
      expect(error, body).toBeInstanceOf(SuperpositionBadResponseError);
    }
    standIn.rawAnswer = undefined;
  });

  it('times out a slow server as unreachable', async () => {
    standIn.delayMs = 800;
    const impatient = client({ SUPERPOSITION_URL: standIn.url, SUPERPOSITION_TIMEOUT_MS: '200' });
    const error = await impatient.resolveConfig(scope, {}, 'x').catch((failure) => failure);
    standIn.delayMs = 0;
    expect(error).toBeInstanceOf(SuperpositionUnreachableError);
    expect(error.message).toContain('200 ms');
  });

  it('reports a closed port as unreachable', async () => {
    const error = await client({ SUPERPOSITION_URL: `http://127.0.0.1:${await closedPort()}` })
      .resolveConfig(scope, {}, 'x')
      .catch((failure) => failure);
    expect(error).toBeInstanceOf(SuperpositionUnreachableError);
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('reads one experiment, and undefined for an unknown id', async () => {
    standIn.putExperiment('nginxservice', { id: '77', status: 'INPROGRESS', context: {}, variants: [] });
    expect(await superposition.getExperiment(scope, '77')).toMatchObject({ id: '77', status: 'INPROGRESS' });
    expect(await superposition.getExperiment(scope, '78')).toBeUndefined();
    const sent = standIn.requests.at(-1)!;
    expect(sent.path).toBe('/experiments/78');
    expect(sent.headers['x-workspace']).toBe('nginxservice');
  });

  it('asks only for the keys under the given prefixes', async () => {
    standIn.workspace('prefixsvc', {
      'container.image': 'nginx:base',
      'container.port': 8080,
      replicas: 2,
      'env.A': 'a',
      'ui.theme': 'dark',
    });
    const config = await superposition.resolveConfig({ ...scope, workspace: 'prefixsvc' }, {}, 'x', ['container.', 'env.', 'replicas']);
    expect(config).toEqual({ 'container.image': 'nginx:base', 'container.port': 8080, replicas: 2, 'env.A': 'a' });
    const sent = standIn.resolveRequests().at(-1)!;
    expect(sent.query.get('prefix')).toBe('container.,env.,replicas');
  });

  it('lists every INPROGRESS and PAUSED experiment over all pages', async () => {
    standIn.workspace('listsvc', {});
    const statuses = ['INPROGRESS', 'PAUSED', 'CONCLUDED', 'CREATED', 'DISCARDED'] as const;
    for (let index = 0; index < 240; index++) {
      standIn.putExperiment(
        'listsvc',
        experiment({ id: `7350${String(index).padStart(15, '0')}`, status: statuses[index % statuses.length] }),
      );
    }
    const before = standIn.requests.length;
    const listed = (await superposition.listExperiments({ ...scope, workspace: 'listsvc' }, ['INPROGRESS', 'PAUSED'])) as {
      status: string;
    }[];
    expect(listed).toHaveLength(96);
    expect(new Set(listed.map((item) => item.status))).toEqual(new Set(['INPROGRESS', 'PAUSED']));
    const pages = standIn.requests.slice(before);
    expect(pages.map((request) => [request.path, request.query.get('page'), request.query.get('status')])).toEqual([
      ['/experiments', '1', 'INPROGRESS,PAUSED'],
    ]);
    const all = await superposition.listExperiments({ ...scope, workspace: 'listsvc' }, [
      'INPROGRESS',
      'PAUSED',
      'CONCLUDED',
      'CREATED',
      'DISCARDED',
    ]);
    expect(all).toHaveLength(240);
    expect(standIn.requests.slice(before + 1).map((request) => request.query.get('page'))).toEqual(['1', '2', '3']);
  });

  it('turns a 5xx on the list into a server error, and refuses a list answer that is not {total_pages, total_items, data}', async () => {
    standIn.failNext(1, 502, 'bad gateway');
    await expect(superposition.listExperiments({ ...scope, workspace: 'listsvc' }, ['INPROGRESS'])).rejects.toBeInstanceOf(
      SuperpositionServerError,
    );
    const server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('[]'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const odd = client({ SUPERPOSITION_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      await expect(odd.listExperiments(scope, ['INPROGRESS'])).rejects.toBeInstanceOf(SuperpositionBadResponseError);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('reads an experiment group, and undefined for an unknown one', async () => {
    standIn.workspace('groupsvc', {});
    standIn.putGroup('groupsvc', { id: '8001', traffic_percentage: 50, member_experiment_ids: ['1'] });
    expect(await superposition.getExperimentGroup({ ...scope, workspace: 'groupsvc' }, '8001')).toMatchObject({
      id: '8001',
      traffic_percentage: 50,
      group_type: 'USER_CREATED',
      member_experiment_ids: ['1'],
    });
    expect(await superposition.getExperimentGroup({ ...scope, workspace: 'groupsvc' }, '8002')).toBeUndefined();
    expect(standIn.requests.at(-1)!.path).toBe('/experiment-groups/8002');
  });
});

describe('the stand-in answers real shapes', () => {
  const standIn = new SuperpositionStandIn();
  const headers = { 'x-org-id': 'localorg', 'x-workspace': 'shapes' };
  beforeAll(async () => {
    await standIn.start();
    standIn.workspace('shapes', {});
  });
  afterAll(() => standIn.stop());

  it('writes timestamps as chrono does: 0, 3 or 6 fractional digits', async () => {
    expect(chronoForm('2026-08-20T07:37:40.000000Z')).toBe('2026-08-20T07:37:40Z');
    expect(chronoForm('2026-08-20T07:37:40.100000Z')).toBe('2026-08-20T07:37:40.100Z');
    expect(chronoForm('2026-08-20T07:37:40.881Z')).toBe('2026-08-20T07:37:40.881Z');
    expect(chronoForm('2026-08-20T07:37:40.000001Z')).toBe('2026-08-20T07:37:40.000001Z');
    standIn.putExperiment('shapes', experiment({ id: '7350000000000000001', lastModified: '2026-08-20T07:37:40.100000Z' }));
    const answer = (await (await fetch(`${standIn.url}/experiments/7350000000000000001`, { headers })).json()) as Record<string, string>;
    expect(answer.last_modified).toBe('2026-08-20T07:37:40.100Z');
    expect(answer.created_at).toBe('2026-08-20T07:30:00.123456Z');
  });

  it('gives a running experiment a system-generated group and null once it is concluded', async () => {
    const running = experiment({ id: '7350000000000000002', traffic: 20 });
    standIn.putExperiment('shapes', running);
    const groupId = running.experiment_group_id as string;
    expect(standIn.group('shapes', groupId)).toMatchObject({ group_type: 'SYSTEM_GENERATED', traffic_percentage: 40 });
    standIn.putExperiment('shapes', experiment({ id: '7350000000000000002', status: 'CONCLUDED', chosen: 'test1' }));
    const answer = (await (await fetch(`${standIn.url}/experiments/7350000000000000002`, { headers })).json()) as Record<string, unknown>;
    expect(answer.experiment_group_id).toBeNull();
    expect(standIn.group('shapes', groupId)).toBeUndefined();
  });

  it('pages the list and filters it by status', async () => {
    for (let index = 0; index < 5; index++)
      standIn.putExperiment('shapes', experiment({ id: `73510000000000000${index}0`, status: 'PAUSED' }));
    const page = (await (await fetch(`${standIn.url}/experiments?page=2&count=2&status=PAUSED`, { headers })).json()) as {
      total_pages: number;
      total_items: number;
      data: { status: string }[];
    };
    expect(page.total_pages).toBe(3);
    expect(page.total_items).toBe(5);
    expect(page.data).toHaveLength(2);
    const all = (await (await fetch(`${standIn.url}/experiments?all=true&status=PAUSED,INPROGRESS`, { headers })).json()) as {
      data: unknown[];
    };
    expect(all.data).toHaveLength(6);
    expect((await fetch(`${standIn.url}/experiments?status=RUNNING`, { headers })).status).toBe(400);
  });

  it('sends ConfigChanged with an ARRAY payload and an ARRAY action next to a conclusion', () => {
    const concluded = experiment({ id: '7350000000000000003', status: 'CONCLUDED', chosen: 'test1' });
    const [body] = standIn.configChangedWebhooks('ExperimentConcluded', 'shapes', concluded) as { event_info: any; payload: unknown }[];
    expect(body.event_info).toMatchObject({ webhook_event: 'ConfigChanged', action: ['Delete', 'Delete', 'Create'], resource: 'context' });
    expect(Array.isArray(body.payload)).toBe(true);
    expect(standIn.configChangedWebhooks('ExperimentInprogress', 'shapes', concluded)).toEqual([]);
  });
});

describe('the stand-in follows Superposition matching rules', () => {
  const standIn = new SuperpositionStandIn();
  beforeAll(async () => {
    await standIn.start();
    standIn.workspace('svc', { 'container.image': 'base' });
    standIn.addContext('svc', { dimensions: { namespace: 'ns' }, variantId: 'e-v', overrides: { 'container.image': 'v' } });
  });
  afterAll(() => standIn.stop());

  it('answers the base config to a bare-string variantIds, as Superposition does', async () => {
    const url = new URL(`${standIn.url}/config/resolve`);
    url.searchParams.set('dimension[namespace]', 'ns');
    url.searchParams.set('dimension[variantIds]', 'e-v');
    const bare = await fetch(url, { headers: { 'x-org-id': 'localorg', 'x-workspace': 'svc' } });
    expect(await bare.json()).toEqual({ 'container.image': 'base' });
    url.searchParams.set('dimension[variantIds]', '["e-v"]');
    const array = await fetch(url, { headers: { 'x-org-id': 'localorg', 'x-tenant': 'svc' } });
    expect(await array.json()).toEqual({ 'container.image': 'v' });
  });

  it('requires the organisation and workspace headers', async () => {
    const answer = await fetch(`${standIn.url}/config/resolve`, { method: 'POST', body: '{"context":{}}' });
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { message: string }).message).toContain('x-org-id');
  });
});

describe('changing an experiment: the client and the stand-in follow Superposition (pause, resume, ramp, and the webhook after)', () => {
  const standIn = new SuperpositionStandIn();
  const received: { headers: Record<string, string | string[] | undefined>; body: any }[] = [];
  let answerStatus = 200;
  const receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      response.writeHead(answerStatus).end('{}');
    });
  });
  let superposition: SuperpositionClient;
  const shop = { orgId: 'localorg', workspace: 'shop' };
  const webhooksOf = (id: string) => received.filter((delivery) => delivery.body.payload.id === id);

  beforeAll(async () => {
    await standIn.start();
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    standIn.workspace('shop', {});
    standIn.sendWebhooksTo({
      url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/superposition`,
      headers: { authorization: 'Bearer hook-token' },
    });
    superposition = client({ SUPERPOSITION_URL: standIn.url, SUPERPOSITION_TOKEN: 'sp-token' });
  });
  afterAll(async () => {
    await standIn.stop();
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('pauses an INPROGRESS experiment (traffic kept), then sends ExperimentPaused with the configured headers; a second pause is a 400', async () => {
    const id = '7350000000000000101';
    standIn.putExperiment('shop', experiment({ id, traffic: 20, lastModified: '2026-08-20T07:37:40.100000Z' }));
    const change = await superposition.pauseExperiment(shop, id, 'Mayday paused: canary x failed');
    expect(change.webhookQueued).toBe(true);
    expect(change.experiment).toMatchObject({
      id,
      status: 'PAUSED',
      traffic_percentage: 20,
      change_reason: 'Mayday paused: canary x failed',
    });
    const sent = standIn.changeRequests(id, 'pause')[0];
    expect(sent.body).toEqual({ change_reason: 'Mayday paused: canary x failed' });
    expect(sent.headers).toMatchObject({ 'x-org-id': 'localorg', 'x-workspace': 'shop', authorization: 'Bearer sp-token' });
    await standIn.deliveriesSettled();
    const [webhook] = webhooksOf(id);
    expect(webhook.headers).toMatchObject({ authorization: 'Bearer hook-token', 'content-type': 'application/json' });
    expect(webhook.body.event_info).toMatchObject({
      webhook_event: 'ExperimentPaused',
      resource: 'experiment',
      action: 'Update',
      workspace_id: 'shop',
      organisation_id: 'localorg',
      config_version: null,
    });
    expect(webhook.body.event_info.time).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{9} UTC$/);
    expect(webhook.body.payload).toMatchObject({ status: 'PAUSED', traffic_percentage: 20 });
    expect(Date.parse(webhook.body.payload.last_modified)).toBeGreaterThan(Date.parse('2026-08-20T07:37:40.100Z'));

    const again = await superposition.pauseExperiment(shop, id, 'again').catch((error: unknown) => error);
    expect(again).toBeInstanceOf(SuperpositionRejectedError);
    expect(again).toMatchObject({ statusCode: 400, message: expect.stringContaining(`experiment with id ${id} cannot be paused`) });
    await standIn.deliveriesSettled();
    expect(webhooksOf(id)).toHaveLength(1);
  });

  it('refuses to ramp a PAUSED experiment; resumes it (ExperimentInprogress), then ramps it within 100 / variants', async () => {
    const id = '7350000000000000102';
    standIn.putExperiment('shop', experiment({ id, status: 'PAUSED', traffic: 10, lastModified: '2026-08-20T07:37:40.100000Z' }));
    await expect(superposition.rampExperiment(shop, id, 20, 'r')).rejects.toMatchObject({
      statusCode: 400,
      message: expect.stringContaining('Experiment is not active'),
    });
    const resumed = await fetch(`${standIn.url}/experiments/${id}/resume`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'x-org-id': 'localorg', 'x-workspace': 'shop' },
      body: '{}',
    });
    expect(await resumed.json()).toMatchObject({ status: 'INPROGRESS', change_reason: 'Change Reason not provided' });

    const ramped = await superposition.rampExperiment(shop, id, 25, 'step');
    expect(ramped.experiment).toMatchObject({ status: 'INPROGRESS', traffic_percentage: 25, change_reason: 'step' });
    // The same traffic again changes nothing and sends nothing.
    const same = await superposition.rampExperiment(shop, id, 25, 'step again');
    expect(same.experiment).toMatchObject({ traffic_percentage: 25, change_reason: 'step' });
    // Control and one experimental variant: at most 50 each.
    await expect(superposition.rampExperiment(shop, id, 51, 'too far')).rejects.toMatchObject({
      statusCode: 400,
      message: expect.stringContaining('The traffic_percentage cannot exceed 50'),
    });
    await standIn.deliveriesSettled();
    const events = webhooksOf(id).map((delivery) => delivery.body.event_info);
    expect(events.map((info) => info.webhook_event)).toEqual(['ExperimentInprogress', 'ExperimentInprogress']);
    expect(events[0].config_version).toBeNull();
    expect(events[1].config_version).toMatch(/^\d+$/);
    expect(webhooksOf(id)[1].body.payload.traffic_percentage).toBe(25);
  });

  it('starts a CREATED experiment with its first ramp (ExperimentStarted)', async () => {
    const id = '7350000000000000103';
    standIn.putExperiment('shop', experiment({ id, status: 'CREATED', traffic: 0 }));
    const started = await superposition.rampExperiment(shop, id, 5, 'go');
    expect(started.experiment).toMatchObject({ status: 'INPROGRESS', traffic_percentage: 5, experiment_group_id: expect.any(String) });
    await standIn.deliveriesSettled();
    expect(webhooksOf(id).map((delivery) => delivery.body.event_info.webhook_event)).toEqual(['ExperimentStarted']);
  });

  it('checks change_reason as Superposition does (1..255 bytes) and answers 404 for an unknown experiment', async () => {
    const id = '7350000000000000104';
    standIn.putExperiment('shop', experiment({ id, traffic: 10 }));
    await expect(superposition.pauseExperiment(shop, id, 'x'.repeat(256))).rejects.toMatchObject({
      statusCode: 400,
      message: expect.stringContaining('Reason longer than 255 characters'),
    });
    await expect(superposition.pauseExperiment(shop, id, '')).rejects.toMatchObject({ statusCode: 400 });
    await expect(superposition.pauseExperiment(shop, '7350000000000000999', 'r')).rejects.toMatchObject({ statusCode: 404 });
    expect(standIn.storedExperiment('shop', id)).toMatchObject({ status: 'INPROGRESS' });
  });

  it('retries a webhook the receiver does not take, as Superposition does', async () => {
    const id = '7350000000000000105';
    standIn.putExperiment('shop', experiment({ id, traffic: 10 }));
    answerStatus = 503;
    try {
      await superposition.pauseExperiment(shop, id, 'r');
      await eventually(async () => expect(webhooksOf(id)).toHaveLength(2), 5000);
    } finally {
      answerStatus = 200;
    }
    await standIn.deliveriesSettled();
    expect(standIn.webhookDeliveries.filter((delivery) => delivery.experimentId === id).map((delivery) => delivery.status)).toEqual([
      503, 503, 200,
    ]);
  });

  it('counts a 512 (changed, but the webhook could not be queued) as done', async () => {
    standIn.failNext(1, 512, 'webhook could not be queued');
    const change = await superposition.pauseExperiment(shop, '7350000000000000101', 'r');
    expect(change).toEqual({ experiment: undefined, webhookQueued: false });
  });
});
