import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { inject } from 'vitest';
import { createApp } from '../../src/bootstrap';

export interface RunningMayday {
  app: INestApplication;
  url: string;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/**
 * Mayday as main.ts starts it (same bootstrap), on a free loopback port, configured only by the
 * given environment (plus KUBECONFIG for the test's API server unless overridden).
 */
export async function startMayday(env: Record<string, string | undefined> = {}): Promise<RunningMayday> {
  const app = await createApp({
    env: { KUBECONFIG: inject('controlPlane').kubeconfig, LOG_LEVEL: 'warn', PORT: '0', HOST: '127.0.0.1', ...env },
  });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep the text
    }
    return { status: response.status, body: parsed as any };
  };
  return {
    app,
    url,
    post: (path, body, headers) => call('POST', path, body, headers),
    get: (path, headers) => call('GET', path, undefined, headers),
    close: () => app.close(),
  };
}
