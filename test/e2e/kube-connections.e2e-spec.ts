import { CoreV1Api } from '@kubernetes/client-node';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClients, loadKubeConfig } from '../../src/kubernetes/kube-client';
import { Cluster } from '../support/cluster';
import { controlPlane } from '../support/control-plane';
import { startMayday, type RunningMayday } from '../support/mayday';
import { experiment, experimentId, webhook } from '../support/payloads';

/** A TCP relay in front of the API server that counts the connections made through it (TLS passes through). */
class CountingRelay {
  accepted = 0;
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  async start(target: URL): Promise<string> {
    this.server = createServer((client) => {
      this.accepted++;
      const upstream = connect(Number(target.port), target.hostname);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as { port: number };
    return `https://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe('connections to the API server', () => {
  const relay = new CountingRelay();
  let server: string;
  // This file's cluster, started by test/support/file-cluster.ts before the hooks run.
  const plane = () => controlPlane();

  beforeAll(async () => {
    server = await relay.start(new URL(plane().apiServer));
  });
  afterAll(() => relay.stop());

  const clientsThroughRelay = () =>
    new KubeClients(loadKubeConfig({ mode: 'token', server, token: plane().adminToken, skipTlsVerify: true }));

  it("client-node's default opens a new connection for every request (what Mayday works around)", async () => {
    const core = clientsThroughRelay().kubeConfig.makeApiClient(CoreV1Api);
    const before = relay.accepted;
    for (let i = 0; i < 10; i++) await core.listNamespace({ limit: 1 });
    expect(relay.accepted - before).toBe(10);
  });

  it("Mayday's clients reuse one pool of kept-alive connections, in sequence and in bursts", async () => {
    const clients = clientsThroughRelay();
    const before = relay.accepted;
    for (let i = 0; i < 30; i++) await clients.core.listNamespace({ limit: 1 });
    const sequential = relay.accepted - before;
    expect(sequential).toBeLessThanOrEqual(2);

    const burst = () => Promise.all(Array.from({ length: 20 }, () => clients.core.listNamespace({ limit: 1 })));
    await burst();
    const afterFirstBurst = relay.accepted;
    expect(afterFirstBurst - before).toBeLessThanOrEqual(21);
    await burst();
    await burst();
    // Later bursts find the connections the first one opened.
    expect(relay.accepted - afterFirstBurst).toBeLessThanOrEqual(2);
  });

  describe('Mayday as a whole', () => {
    const cluster = new Cluster();
    let mayday: RunningMayday;
    let namespace: string;

    beforeAll(async () => {
      namespace = await cluster.createNamespace('connections');
      mayday = await startMayday({
        KUBECONFIG: undefined,
        K8S_API_SERVER: server,
        K8S_TOKEN: plane().adminToken,
        K8S_INSECURE_SKIP_TLS_VERIFY: 'true',
      });
      expect((await mayday.get('/health/ready')).status).toBe(200);
    });
    afterAll(() => mayday?.close());

    it('applies ten experiments (dozens of API calls) over a handful of connections', async () => {
      const before = relay.accepted;
      let calls = 0;
      for (let i = 0; i < 10; i++) {
        const id = experimentId();
        const answer = await mayday.post(
          '/webhooks/superposition',
          webhook('ExperimentStarted', `conn${i}`, experiment({ id, context: { namespace } })),
        );
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        calls += answer.body.actions.length;
      }
      // Each Started event writes at least 6 objects (two Deployments, Services, Ingresses) and its record.
      expect(calls).toBeGreaterThanOrEqual(60);
      // The informers' watches have their connections already; the writes share the pool's.
      expect(relay.accepted - before).toBeLessThanOrEqual(8);
    });
  });
});
