import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A TCP proxy on loopback between Mayday and the API server (TLS passes through untouched), to cut
 * the network under a running Mayday: every open connection is reset and new ones are refused for a
 * while, as when a load balancer or the API server's host drops.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    await this.listen(0);
    return this.port;
  }

  /** Resets every connection (TCP RST), refuses new ones for `ms`, then accepts again on the same port. */
  async cut(ms: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server!.close(() => resolve()));
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
    await closed;
    await new Promise((resolve) => setTimeout(resolve, ms));
    await this.listen(this.port);
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => (this.server?.listening ? this.server.close(() => resolve()) : resolve()));
  }

  /** A copy of a kubeconfig whose server is this proxy. */
  kubeconfigFrom(kubeconfigPath: string): string {
    const original = readFileSync(kubeconfigPath, 'utf8');
    const proxied = original.replace(`server: https://${this.targetHost}:${this.targetPort}`, `server: https://127.0.0.1:${this.port}`);
    if (proxied === original) throw new Error(`no server https://${this.targetHost}:${this.targetPort} in ${kubeconfigPath}`);
    const path = join(tmpdir(), `mayday-proxied-${this.port}-${process.pid}.kubeconfig`);
    writeFileSync(path, proxied, { mode: 0o600 });
    return path;
  }

  private async listen(port: number): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const [socket, other] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        this.sockets.add(socket);
        socket.on('error', () => other.destroy());
        socket.on('close', () => {
          this.sockets.delete(socket);
          other.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
  }
}
