import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for Superposition's HTTP API, following CONTRACT.md §2: real HTTP on loopback, the
 * real paths and headers, and Superposition's matching rules. Superposition itself (Rust) cannot
 * be built here.
 *
 * - POST /config/resolve with `{"context": {...}}`; GET /config/resolve with `dimension[name]=value`
 *   (a JSON value, e.g. `dimension[variantIds]=["id"]`, is parsed, anything else stays a string).
 * - A context matches only when every one of its dimensions is present in the request with an equal
 *   value; `variantIds` matches when the request's variantIds is an ARRAY holding the variant id.
 *   A bare string never matches (the original example's bug), which yields the base config.
 * - `x-org-id` and `x-workspace` (or legacy `x-tenant`) are required; the workspace must be known.
 * - GET /experiments/{id}: the stored experiment object, or 404 `{"message": ...}`.
 * - Errors are `{"message": "..."}` with 4xx/5xx.
 */
export interface StandInContext {
  /** Dimension values the request context must hold. */
  dimensions: Record<string, unknown>;
  /** When set, the request's `variantIds` array must contain it. */
  variantId?: string;
  overrides: Record<string, unknown>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
}

interface Workspace {
  defaults: Record<string, unknown>;
  contexts: StandInContext[];
  experiments: Map<string, Record<string, unknown>>;
}

export class SuperpositionStandIn {
  readonly requests: RecordedRequest[] = [];
  private readonly workspaces = new Map<string, Workspace>();
  private server?: Server;
  private failures: { remaining: number; status: number; message: string } = { remaining: 0, status: 500, message: '' };
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** Answer GET /config/resolve and POST with this instead of the real resolution (to test bad answers). */
  rawAnswer?: { status: number; body: string };
  /** Milliseconds to wait before answering (timeouts). */
  delayMs = 0;

  constructor(readonly orgId = 'localorg') {}

  async start(): Promise<string> {
    this.server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this.url;
  }

  get url(): string {
    const address = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${address.port}`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  workspace(name: string, defaults: Record<string, unknown> = {}): this {
    this.workspaces.set(name, { defaults: { ...defaults }, contexts: [], experiments: new Map() });
    return this;
  }

  hasWorkspace(name: string): boolean {
    return this.workspaces.has(name);
  }

  addContext(workspace: string, context: StandInContext): this {
    this.get(workspace).contexts.push(context);
    return this;
  }

  /**
   * Stores an experiment as Superposition would hold it: one context per variant (the experiment's
   * dimensions plus the variant id) carrying that variant's overrides.
   */
  putExperiment(workspace: string, experiment: Record<string, unknown>): this {
    const space = this.get(workspace);
    const id = String(experiment.id);
    space.experiments.set(id, structuredClone(experiment));
    space.contexts = space.contexts.filter((context) => !context.variantId?.startsWith(`${id}-`));
    const status = experiment.status as string;
    const variants = experiment.variants as { id: string; overrides?: Record<string, unknown> }[];
    if (status === 'CONCLUDED' || status === 'DISCARDED') {
      // The variant contexts are gone; a winner's overrides now live on the experiment context.
      const winner = variants.find((variant) => variant.id === experiment.chosen_variant);
      if (winner && status === 'CONCLUDED') {
        space.contexts.push({ dimensions: experiment.context as Record<string, unknown>, overrides: winner.overrides ?? {} });
      }
      return this;
    }
    for (const variant of variants) {
      space.contexts.push({
        dimensions: experiment.context as Record<string, unknown>,
        variantId: variant.id,
        overrides: variant.overrides ?? {},
      });
    }
    return this;
  }

  /** The next `count` requests fail with `status` (5xx: retryable; 4xx: refused). */
  failNext(count: number, status = 503, message = 'injected failure'): void {
    this.failures = { remaining: count, status, message };
  }

  resolveRequests(): RecordedRequest[] {
    return this.requests.filter((request) => request.path === '/config/resolve');
  }

  /** The resolution rule itself, usable directly by tests. */
  resolve(workspace: string, context: Record<string, unknown>): Record<string, unknown> {
    const space = this.get(workspace);
    const config = { ...space.defaults };
    for (const candidate of space.contexts) {
      if (matches(candidate, context)) Object.assign(config, candidate.overrides);
    }
    return config;
  }

  private get(workspace: string): Workspace {
    const space = this.workspaces.get(workspace);
    if (!space) throw new Error(`stand-in has no workspace ${workspace}`);
    return space;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://stand-in');
    const raw = await readBody(request);
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    this.requests.push({ method: request.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: request.headers, body });
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));

    const send = (status: number, payload: unknown) => {
      if (response.destroyed) return;
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(payload));
    };
    if (url.pathname === '/health') return send(200, { status: 'ok' });
    if (this.failures.remaining > 0) {
      this.failures.remaining -= 1;
      return send(this.failures.status, { message: this.failures.message });
    }
    if (this.token && request.headers.authorization !== `Bearer ${this.token}`) {
      return send(401, { message: 'Unauthorized: bearer token missing or wrong' });
    }
    const orgId = header(request, 'x-org-id');
    const workspaceName = header(request, 'x-workspace') ?? header(request, 'x-tenant');
    if (!orgId || !workspaceName) return send(400, { message: 'x-org-id and x-workspace headers are required' });
    if (orgId !== this.orgId) return send(404, { message: `organisation ${orgId} not found` });
    const space = this.workspaces.get(workspaceName);
    if (!space) return send(404, { message: `workspace ${workspaceName} not found` });

    if (url.pathname === '/config/resolve' && (request.method === 'POST' || request.method === 'GET')) {
      if (this.rawAnswer) {
        response.writeHead(this.rawAnswer.status, { 'content-type': 'application/json' });
        return void response.end(this.rawAnswer.body);
      }
      let context: Record<string, unknown>;
      if (request.method === 'POST') {
        const posted = body as { context?: unknown } | undefined;
        if (!posted || typeof posted.context !== 'object' || posted.context === null || Array.isArray(posted.context)) {
          return send(400, { message: 'Json deserialize error: missing field `context`' });
        }
        context = posted.context as Record<string, unknown>;
      } else {
        context = dimensionsFromQuery(url.searchParams);
      }
      return send(200, this.resolve(workspaceName, context));
    }
    const experimentPath = /^\/experiments\/([^/]+)$/.exec(url.pathname);
    if (experimentPath && request.method === 'GET') {
      const experiment = space.experiments.get(decodeURIComponent(experimentPath[1]));
      return experiment
        ? send(200, experiment)
        : send(404, { message: 'No records found. Please refine or correct your search parameters' });
    }
    return send(404, { message: `no route for ${request.method} ${url.pathname}` });
  }
}

function matches(candidate: StandInContext, context: Record<string, unknown>): boolean {
  for (const [dimension, value] of Object.entries(candidate.dimensions)) {
    if (!(dimension in context) || JSON.stringify(context[dimension]) !== JSON.stringify(value)) return false;
  }
  if (candidate.variantId !== undefined) {
    const ids = context.variantIds;
    if (!Array.isArray(ids) || !ids.includes(candidate.variantId)) return false;
  }
  return true;
}

function dimensionsFromQuery(query: URLSearchParams): Record<string, unknown> {
  const context: Record<string, unknown> = {};
  for (const [key, value] of query) {
    const name = /^dimension\[(.+)\]$/.exec(key)?.[1];
    if (!name) continue;
    try {
      const parsed: unknown = JSON.parse(value);
      context[name] = typeof parsed === 'object' && parsed !== null ? parsed : value;
    } catch {
      context[name] = value;
    }
  }
  return context;
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}
