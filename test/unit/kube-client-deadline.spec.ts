import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Deadline, withDeadline } from '../../src/common/deadline';
import { KubeClients, loadKubeConfig } from '../../src/kubernetes/kube-client';
import { toKubeError } from '../../src/kubernetes/kube-errors';
import { eventually } from '../support/eventually';

/** A server that accepts connections and never answers (not even the TLS handshake): a hung API server. */
class SilentServer {
  private readonly sockets = new Set<Socket>();
  private server?: Server;
  accepted = 0;

  async start(): Promise<string> {
    this.server = createServer((socket) => {
      this.accepted++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
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

describe("Kubernetes requests over Mayday's connection pool", () => {
  const silent = new SilentServer();
  let clients: KubeClients;

  beforeAll(async () => {
    const server = await silent.start();
    clients = new KubeClients(loadKubeConfig({ mode: 'token', server, token: 'unused', skipTlsVerify: true }));
  });
  afterAll(() => silent.stop());

  it("are aborted at the event's deadline, long before the 4 s request timeout", async () => {
    const over: string[] = [];
    const watch = (name: string, request: Promise<unknown>) =>
      request.then(
        () => over.push(`${name} answered`),
        (error: unknown) => {
          over.push(name);
          return error;
        },
      );
    // First a request outside any event (the 4 s timeout only), held by the silent server...
    const unbounded = watch('unbounded', clients.core.listNamespace({ limit: 1 }));
    await eventually(async () => expect(silent.accepted).toBeGreaterThanOrEqual(1));
    // ...then the same request inside an event with 300 ms left: it ends first, as a timeout.
    const error = await watch(
      'bounded',
      withDeadline(Deadline.after(300), () => clients.core.listNamespace({ limit: 1 })),
    );
    expect(over).toEqual(['bounded']);
    expect(toKubeError(error)).toMatchObject({ statusCode: 0, reason: 'Timeout' });
    await unbounded;
    expect(over).toEqual(['bounded', 'unbounded']);
  }, 20_000);
});
