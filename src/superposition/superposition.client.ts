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

/** One page of `GET /experiments` is asked for this many experiments. */
export const LIST_PAGE_SIZE = 100;
/** A list longer than this many pages is a server answering nonsense, not a workspace. */
const MAX_LIST_PAGES = 1000;

/**
 * Superposition answers a change with 512 when the change was made but its webhook could not be
 * queued (experiments handlers, `execute_webhook_call`): the change happened.
 */
const CHANGED_WITHOUT_WEBHOOK = 512;

/** What a change (pause, ramp) did: `webhookQueued` false when Superposition made it but will not send its webhook. */
export interface ExperimentChange {
  experiment: unknown;
  webhookQueued: boolean;
}

/**
 * HTTP client for the Superposition endpoints Mayday reads (docs/contract.md §3): `POST /config/resolve`,
 * `GET /experiments/{id}`, `GET /experiments` (the list) and `GET /experiment-groups/{id}`; and the two it
 * writes (README, "Closing the loop"): `PATCH /experiments/{id}/pause` and `/ramp`.
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
  async resolveConfig(
    scope: SuperpositionScope,
    context: Record<string, unknown>,
    variantId: string,
    prefixes: readonly string[] = [],
  ): Promise<ResolvedConfig> {
    const body = { context: { ...context, variantIds: [variantId] } };
    // Only the keys asked for: `prefix` is a comma list of key prefixes.
    const query = prefixes.length > 0 ? `?prefix=${prefixes.map(encodeURIComponent).join(',')}` : '';
    const answer = await this.counted('resolve', () => this.request('POST', `/config/resolve${query}`, scope, body));
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

  /**
   * Every experiment of the workspace in one of `statuses`, all pages read (`{total_pages, total_items,
   * data}`, one page of LIST_PAGE_SIZE at a time). The items are returned unvalidated.
   */
  async listExperiments(scope: SuperpositionScope, statuses: readonly string[]): Promise<unknown[]> {
    const experiments: unknown[] = [];
    for (let page = 1; page <= MAX_LIST_PAGES; page++) {
      const path = `/experiments?page=${page}&count=${LIST_PAGE_SIZE}&status=${statuses.join(',')}`;
      const answer = await this.counted('list', () => this.request('GET', path, scope));
      const { total_pages: totalPages, data } = (answer ?? {}) as { total_pages?: unknown; data?: unknown };
      if (typeof totalPages !== 'number' || !Array.isArray(data)) {
        throw new SuperpositionBadResponseError(
          `Superposition GET /experiments answered ${describe(answer)} instead of {total_pages, total_items, data}`,
          200,
        );
      }
      experiments.push(...data);
      if (page >= totalPages || data.length === 0) return experiments;
    }
    throw new SuperpositionBadResponseError(`Superposition GET /experiments answered more than ${MAX_LIST_PAGES} pages`, 200);
  }

  /** One experiment group as Superposition has it now, or undefined when it does not exist. */
  async getExperimentGroup(scope: SuperpositionScope, groupId: string): Promise<unknown> {
    try {
      return await this.counted('experiment_group', () => this.request('GET', `/experiment-groups/${encodeURIComponent(groupId)}`, scope));
    } catch (error) {
      if (error instanceof SuperpositionRejectedError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  /** `PATCH /experiments/{id}/pause` with a `change_reason`; Superposition then sends ExperimentPaused. */
  pauseExperiment(scope: SuperpositionScope, experimentId: string, changeReason: string): Promise<ExperimentChange> {
    return this.change('pause', scope, experimentId, { change_reason: changeReason });
  }

  /** `PATCH /experiments/{id}/ramp` to a per-variant traffic percentage; Superposition then sends ExperimentInprogress. */
  rampExperiment(
    scope: SuperpositionScope,
    experimentId: string,
    trafficPercentage: number,
    changeReason: string,
  ): Promise<ExperimentChange> {
    return this.change('ramp', scope, experimentId, { traffic_percentage: trafficPercentage, change_reason: changeReason });
  }

  private async change(
    action: 'pause' | 'ramp',
    scope: SuperpositionScope,
    experimentId: string,
    body: unknown,
  ): Promise<ExperimentChange> {
    try {
      const experiment = await this.counted(action, () =>
        this.request('PATCH', `/experiments/${encodeURIComponent(experimentId)}/${action}`, scope, body),
      );
      return { experiment, webhookQueued: true };
    } catch (error) {
      if (error instanceof SuperpositionServerError && error.statusCode === CHANGED_WITHOUT_WEBHOOK) {
        return { experiment: undefined, webhookQueued: false };
      }
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

  private async request(method: 'GET' | 'POST' | 'PATCH', path: string, scope: SuperpositionScope, body?: unknown) {
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
