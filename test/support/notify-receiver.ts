import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedNotification {
  at: number;
  contentType?: string;
  body: Record<string, unknown>;
}

/**
 * A local HTTP receiver for NOTIFY_URL: keeps every POST it takes, and answers each with
 * `answer(n)` (n: the request's number, from 1): a status code, or 'hang' to never answer.
 */
export class NotifyReceiver {
  readonly received: ReceivedNotification[] = [];
  requests = 0;
  private server?: Server;
  private readonly hanging: ServerResponse[] = [];

  constructor(private readonly answer: (request: number) => number | 'hang' = () => 200) {}

  async start(): Promise<string> {
    this.server = createServer((request, response) => void this.take(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/hooks/mayday`;
  }

  async stop(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async take(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const number = ++this.requests;
    const status = this.answer(number);
    if (status === 'hang') {
      this.hanging.push(response);
      return;
    }
    if (status < 300) {
      this.received.push({
        at: Date.now(),
        contentType: request.headers['content-type'],
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
      });
    }
    response.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
  }
}
