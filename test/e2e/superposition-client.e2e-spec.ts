import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMaydayConfig } from '../../src/config/mayday-config';
import { SuperpositionClient } from '../../src/superposition/superposition.client';
import {
  SuperpositionBadResponseError,
  SuperpositionRejectedError,
  SuperpositionServerError,
  SuperpositionUnreachableError,
} from '../../src/superposition/superposition-errors';
import { closedPort } from '../support/ports';
import { SuperpositionStandIn } from '../support/superposition-stand-in';

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
