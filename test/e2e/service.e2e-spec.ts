import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/bootstrap';
import { ConfigValidationError } from '../../src/config/mayday-config';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { startControlPlane, startApiServer, stopApiServer, stopControlPlane, type ControlPlane } from '../support/control-plane';
import { startMayday, type RunningMayday } from '../support/mayday';
import { experiment, experimentId, webhook } from '../support/payloads';
import { SuperpositionStandIn } from '../support/superposition-stand-in';

describe('the HTTP surface', () => {
  const cluster = new Cluster();
  let mayday: RunningMayday;
  let namespace: string;

  beforeAll(async () => {
    namespace = await cluster.createNamespace('surface');
    mayday = await startMayday();
  });
  afterAll(() => mayday?.close());

  it('answers the liveness and readiness probes', async () => {
    expect((await mayday.get('/health/live')).status).toBe(200);
    const ready = await mayday.get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.info.kubernetes.status).toBe('up');
    expect(ready.body.info.kubernetes.version).toMatch(/^v1\./);
  });

  it('answers GET /hi without a body with the service name, as the original example did', async () => {
    const answer = await mayday.get('/hi');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ service: 'mayday', status: 'ok' });
  });

  it('refuses a malformed body with a 400 that names the field, and touches nothing', async () => {
    const before = await cluster.snapshot(namespace);
    const cases: [unknown, string][] = [
      [{ payload: {} }, 'event_info'],
      [webhook('ExperimentFinished', 'svc', experiment({ id: '1', context: { namespace } })), 'event_info.webhook_event'],
      [
        webhook('ExperimentStarted', 'svc', { ...experiment({ id: '1', context: { namespace } }), traffic_percentage: 'ten' }),
        'payload.traffic_percentage',
      ],
      [webhook('ExperimentStarted', 'svc', { ...experiment({ id: '1', context: { namespace } }), id: 7350102648234549248 }), 'payload.id'],
      [webhook('ExperimentStarted', '', experiment({ id: '1', context: { namespace } })), 'event_info.workspace_id'],
    ];
    for (const [body, field] of cases) {
      const answer = await mayday.post('/webhooks/superposition', body);
      expect(answer.status, field).toBe(400);
      expect(answer.body.message, field).toContain(field);
    }
    const notJson = await mayday.post('/webhooks/superposition', '{"event_info": ', { 'content-type': 'application/json' });
    expect(notJson.status).toBe(400);
    expect(notJson.body.message).toMatch(/not valid JSON/);
    expect(await cluster.snapshot(namespace)).toEqual(before);
  });

  it('acknowledges ConfigChanged and changes nothing', async () => {
    const before = await cluster.snapshot(namespace);
    const answer = await mayday.post('/webhooks/superposition', {
      event_info: { webhook_event: 'ConfigChanged', workspace_id: 'svc', organisation_id: 'localorg', config_version: '7' },
      payload: { config_version: '7', default_configs: { replicas: 1 } },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.result).toBe('ignored');
    expect(await cluster.snapshot(namespace)).toEqual(before);
  });

  it('acknowledges a ConfigChanged with an ARRAY payload and an ARRAY action (a bulk context write) and changes nothing', async () => {
    const id = experimentId();
    const started = webhook('ExperimentStarted', 'bulksvc', experiment({ id, context: { namespace } }));
    expect((await mayday.post('/webhooks/superposition', started)).status).toBe(200);
    // The real controllers make the canary ready and the gate then gives it its weight: wait for that
    // to settle, so that the comparison below sees only what the ConfigChanged deliveries did.
    await eventually(async () => {
      const canary = (await cluster.ingresses(namespace)).find((ingress) => ingress.metadata?.name?.includes('-ingress-'));
      expect(canary?.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight']).toMatch(/^[1-9]/);
    }, 60_000);
    const before = await cluster.snapshot(namespace);
    const bulk = {
      event_info: {
        webhook_event: 'ConfigChanged',
        resource: 'context',
        action: ['Delete', 'Delete', 'Create'],
        time: '2026-08-20 07:42:00.5 UTC',
        workspace_id: 'bulksvc',
        organisation_id: 'localorg',
        config_version: '7350102650000000002',
      },
      payload: [
        { id: `ctx-${id}-control`, context: { namespace, variantIds: [`${id}-control`] } },
        { id: `ctx-${id}-test1`, context: { namespace, variantIds: [`${id}-test1`] } },
        { context: { namespace }, override: { 'container.image': 'nginx:1.27' } },
      ],
    };
    for (const body of [bulk, { ...bulk, payload: null }, { ...bulk, payload: 'x' }]) {
      const answer = await mayday.post('/webhooks/superposition', body);
      expect(answer.status).toBe(200);
      expect(answer.body.result).toBe('ignored');
    }
    expect(await cluster.snapshot(namespace)).toEqual(before);
  });

  it('takes events on GET /hi with a body and POST /hi, like the original example', async () => {
    const id = experimentId();
    const created = webhook('ExperimentCreated', 'hisvc', experiment({ id, status: 'CREATED', traffic: 0, context: { namespace } }));
    // fetch() refuses a body on GET, as Superposition's client does not: send it with node:http.
    const raw = await rawRequest(`${mayday.url}/hi`, 'GET', JSON.stringify(created));
    expect(raw.status).toBe(200);
    expect(JSON.parse(raw.body)).toMatchObject({ result: 'ignored', experimentId: id });
    const viaPost = await mayday.post('/hi', created);
    expect(viaPost.status).toBe(200);
    expect(viaPost.body.result).toBe('ignored');
  });

  it('takes events with whatever method the Superposition webhook was configured with', async () => {
    const id = experimentId();
    const created = JSON.stringify(
      webhook('ExperimentCreated', 'methods', experiment({ id, status: 'CREATED', traffic: 0, context: { namespace } })),
    );
    for (const method of ['GET', 'PUT', 'PATCH', 'POST']) {
      const answer = await rawRequest(`${mayday.url}/webhooks/superposition`, method, created);
      expect(answer.status, method).toBe(200);
      expect(JSON.parse(answer.body), method).toMatchObject({ result: 'ignored', experimentId: id });
    }
    expect((await mayday.get('/webhooks/superposition')).body).toEqual({ service: 'mayday', status: 'ok' });
  });
});

describe('configuration at start-up', () => {
  it('stops with a message naming the bad variable', async () => {
    const error = await createApp({ env: { PORT: 'abc', SUPERPOSITION_URL: 'not a url' } }).catch((failure) => failure);
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect(error.message).toContain('PORT');
    expect(error.message).toContain('SUPERPOSITION_URL');
  });
});

describe('readiness follows its dependencies', () => {
  let plane: ControlPlane;
  let mayday: RunningMayday;
  const standIn = new SuperpositionStandIn();

  beforeAll(async () => {
    plane = await startControlPlane();
    await standIn.start();
    mayday = await startMayday({ KUBECONFIG: plane.kubeconfig, SUPERPOSITION_URL: standIn.url });
  });
  afterAll(async () => {
    await mayday?.close();
    await standIn.stop();
    if (plane) await stopControlPlane(plane);
  });

  it('is ready with both up, names Kubernetes when its API server is down, and recovers', async () => {
    const ready = await mayday.get('/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.info.superposition.status).toBe('up');

    await stopApiServer(plane);
    const down = await mayday.get('/health/ready');
    expect(down.status).toBe(503);
    expect(down.body.error.kubernetes.status).toBe('down');
    expect(down.body.info.superposition.status).toBe('up');
    expect((await mayday.get('/health/live')).status).toBe(200);

    await startApiServer(plane);
    expect((await mayday.get('/health/ready')).status).toBe(200);
  }, 180_000);

  it('names Superposition when it does not answer', async () => {
    await standIn.stop();
    const down = await mayday.get('/health/ready');
    expect(down.status).toBe(503);
    expect(down.body.error.superposition.status).toBe('down');
    expect(down.body.info.kubernetes.status).toBe('up');
  });
});

async function rawRequest(url: string, method: string, body: string): Promise<{ status: number; body: string }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
