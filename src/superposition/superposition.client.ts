import { Injectable, Optional } from '@nestjs/common';
import { currentDeadline, timeoutWithinDeadline } from '../common/deadline';
import { MetricsService } from '../metrics/metrics.service';
import { MaydayConfig } from '../config/mayday-config';
import {
  SuperpositionBadResponseError,
  SuperpositionError,
  SuperpositionRejectedError,
  SuperpositionServerError,
  SuperpositionUnreachableError,
} from './superposition-errors';

/** Which Superposition tenant a call is for. */
export interface SuperpositionScope {
  orgId: string;
  workspace: string;
}

export type ResolvedConfig = Record<string, unknown>;

/**
 * HTTP client for the two Superposition endpoints Mayday needs (CONTRACT.md §2):
 * `POST /config/resolve` and `GET /experiments/{id}`.
 */
@Injectable()
export class SuperpositionClient {
  constructor(
    private readonly config: MaydayConfig,
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  get configured(): boolean {
    return this.config.superposition.url !== undefined;
  }

  /**
   * The config one variant sees: the experiment's whole context plus `variantIds` as an ARRAY
   * (a bare string never matches and silently yields the base config).
   */
  async resolveConfig(scope: SuperpositionScope, context: Record<string, unknown>, variantId: string): Promise<ResolvedConfig> {
    const body = { context: { ...context, variantIds: [variantId] } };
    const answer = await this.counted('resolve', () => this.request('POST', '/config/resolve', scope, body));
    if (answer === undefined || answer === null || typeof answer !== 'object' || Array.isArray(answer)) {
      throw new SuperpositionBadResponseError(`Superposition /config/resolve answered ${describe(answer)} instead of a JSON object`, 200);
    }
    return answer as ResolvedConfig;
  }

  /** The experiment object as Superposition has it now, or undefined when it does not exist. */
  async getExperiment(scope: SuperpositionScope, experimentId: string): Promise<unknown> {
    try {
      return await this.counted('experiment', () => this.request('GET', `/experiments/${encodeURIComponent(experimentId)}`, scope));
    } catch (error) {
      if (error instanceof SuperpositionRejectedError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  /** Reachability for /health/ready: any HTTP answer counts, only silence fails. */
  async ping(): Promise<void> {
    await this.send('GET', `${this.baseUrl()}/health`, { accept: '*/*' });
  }

  private async counted<T>(endpoint: string, call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      this.metrics?.superpositionCalls.inc({ endpoint, outcome: 'ok' });
      return result;
    } catch (error) {
      const outcome = error instanceof SuperpositionError && error.statusCode > 0 ? String(error.statusCode) : 'unreachable';
      this.metrics?.superpositionCalls.inc({ endpoint, outcome });
      throw error;
    }
  }

  private async request(method: 'GET' | 'POST', path: string, scope: SuperpositionScope, body?: unknown) {
    const headers: Record<string, string> = {
      accept: 'application/json',
      'x-org-id': scope.orgId,
      'x-workspace': scope.workspace,
      // The pre-workspace name of the same header, for older servers.
      'x-tenant': scope.workspace,
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.config.superposition.token) headers.authorization = `Bearer ${this.config.superposition.token}`;

    const response = await this.send(method, `${this.baseUrl()}${path}`, headers, body);
    const text = await response.text().catch(() => '');
    if (!response.ok) {
      const message = `Superposition ${method} ${path} answered ${response.status}: ${errorMessage(text)}`;
      if (response.status >= 500) throw new SuperpositionServerError(message, response.status);
      throw new SuperpositionRejectedError(message, response.status);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new SuperpositionBadResponseError(
        `Superposition ${method} ${path} answered ${response.status} with a body that is not JSON`,
        response.status,
      );
    }
  }

  private async send(method: string, url: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
    // Inside an event, no request starts past its deadline nor runs beyond it.
    const deadline = currentDeadline();
    deadline?.check('before a Superposition request');
    try {
      return await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutWithinDeadline(this.config.superposition.timeoutMs)),
      });
    } catch (error) {
      if (deadline?.passed()) throw deadline.exceeded('during a Superposition request', error);
      const failure = error as Error & { cause?: { code?: string; message?: string } };
      const reason =
        failure.name === 'TimeoutError'
          ? `no answer within ${this.config.superposition.timeoutMs} ms`
          : (failure.cause?.code ?? failure.cause?.message ?? failure.message);
      throw new SuperpositionUnreachableError(`Superposition unreachable at ${url}: ${reason}`, 0);
    }
  }

  private baseUrl(): string {
    const url = this.config.superposition.url;
    if (!url) throw new SuperpositionError('SUPERPOSITION_URL is not set', 0);
    return url;
  }
}

function errorMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed?.message === 'string') return parsed.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.slice(0, 500) || '(empty body)';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
