import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for Superposition's HTTP API, following docs/contract.md §3: real HTTP on loopback, the
 * real paths and headers, and Superposition's matching rules. Superposition itself (Rust) cannot
 * be built here.
 *
 * - POST /config/resolve with `{"context": {...}}`; GET /config/resolve with `dimension[name]=value`
 *   (a JSON value, e.g. `dimension[variantIds]=["id"]`, is parsed, anything else stays a string).
 * - A context matches only when every one of its dimensions is present in the request with an equal
 *   value; `variantIds` matches when the request's variantIds is an ARRAY holding the variant id.
 *   A bare string never matches (the original example's bug), which yields the base config.
 * - `prefix` / `exclude_prefix` (comma lists) trim the resolved config to the keys asked for.
 * - `x-org-id` and `x-workspace` (or legacy `x-tenant`) are required; the workspace must be known.
 * - GET /experiments/{id}: the stored experiment object, or 404 `{"message": ...}`.
 * - GET /experiments: the list, `{total_pages, total_items, data}`, filtered by `status` (comma list)
 *   and `experiment_ids`, newest `last_modified` first, one page of `count` (default 10) at `page`
 *   (default 1), or everything with `all=true`.
 * - GET /experiment-groups/{id}: one group. Starting an experiment outside a user-created group gives
 *   it a SYSTEM_GENERATED group of its own (traffic = variants x traffic_percentage), deleted when it
 *   finishes; `experiment_group_id` is null while CREATED and again once CONCLUDED or DISCARDED.
 * - Timestamps are answered the way chrono writes them: 0, 3 or 6 fractional digits.
 * - Errors are `{"message": "..."}` with 4xx/5xx.
 * - `configChangedWebhooks` gives the ConfigChanged bodies Superposition sends next to an experiment
 *   event that writes contexts (bulk operations: an ARRAY payload and an ARRAY action).
 * - PATCH /experiments/{id}/pause, /resume and /ramp (docs/contract.md, "Changing an experiment"), with
 *   Superposition's rules (v0.117 experiments handlers): pause only from INPROGRESS, resume only from
 *   PAUSED, ramp only while CREATED or INPROGRESS (a PAUSED experiment is "not active": 400) and at most
 *   100 / number of variants; a ramp to the same non-zero traffic answers the experiment unchanged and
 *   sends nothing. Each change sets `change_reason` (1..255 bytes; "Change Reason not provided" when
 *   absent), `last_modified`, `last_modified_by`, and answers the updated experiment; then, after the
 *   answer, the webhook it causes (ExperimentPaused; ExperimentInprogress for a resume or a later ramp;
 *   ExperimentStarted for the first ramp) goes to the URL `sendWebhooksTo` configured, with its
 *   headers, retried like Superposition (1 s doubling to 30 s, `maxRetries` attempts in all).
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
  /** When it arrived (ms). */
  at: number;
}

export interface StandInGroup {
  id: string;
  traffic_percentage: number;
  group_type?: 'USER_CREATED' | 'SYSTEM_GENERATED';
  member_experiment_ids?: string[];
  context?: Record<string, unknown>;
}

/** Where the stand-in sends the webhooks its changes cause, as a Superposition webhook is configured. */
export interface StandInWebhook {
  url: string;
  /** `custom_headers`, with secrets already substituted. */
  headers?: Record<string, string>;
  /** Attempts in all (Superposition's default: 3). */
  maxRetries?: number;
}

/** One webhook delivery attempt and its answer (0: no answer). */
export interface WebhookDelivery {
  event: string;
  experimentId: string;
  status: number;
  at: number;
}

interface Workspace {
  defaults: Record<string, unknown>;
  contexts: StandInContext[];
  experiments: Map<string, Record<string, unknown>>;
  groups: Map<string, Record<string, unknown>>;
}

const RUNNING = new Set(['INPROGRESS', 'PAUSED']);
const STATUSES = new Set(['CREATED', 'INPROGRESS', 'PAUSED', 'CONCLUDED', 'DISCARDED']);
const TIMESTAMP_FIELDS = ['created_at', 'last_modified', 'started_at', 'last_modified_at'];

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
  /** Workspaces that answer every request with 403 (a token without rights there). */
  readonly forbiddenWorkspaces = new Set<string>();
  /** Every webhook delivery attempt the stand-in made, in order. */
  readonly webhookDeliveries: WebhookDelivery[] = [];
  private webhookTarget?: StandInWebhook;
  private readonly deliveriesInFlight = new Set<Promise<void>>();
  /** When set, every request is refused at the socket (Superposition down). */
  private down = false;

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

  /** Configures the webhook every workspace sends its experiment events to (subscribed to all of them). */
  sendWebhooksTo(target: StandInWebhook | undefined): this {
    this.webhookTarget = target;
    return this;
  }

  /** Superposition down (every connection is closed at once without an answer), or up again. */
  setDown(down: boolean): void {
    this.down = down;
  }

  /** The PATCH requests for one experiment's pause, resume or ramp, in order. */
  changeRequests(experimentId: string, action?: 'pause' | 'resume' | 'ramp'): RecordedRequest[] {
    return this.requests.filter(
      (request) =>
        request.method === 'PATCH' &&
        new RegExp(`^/experiments/${experimentId}/(pause|resume|ramp)$`).test(request.path) &&
        (action === undefined || request.path.endsWith(`/${action}`)),
    );
  }

  /** The experiment as the stand-in holds it now. */
  storedExperiment(workspace: string, id: string): Record<string, unknown> | undefined {
    return this.get(workspace).experiments.get(id);
  }

  /** Resolves once the webhook deliveries under way (with their retries) are over. */
  async deliveriesSettled(): Promise<void> {
    while (this.deliveriesInFlight.size > 0) await Promise.all([...this.deliveriesInFlight]);
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  workspace(name: string, defaults: Record<string, unknown> = {}): this {
    this.workspaces.set(name, { defaults: { ...defaults }, contexts: [], experiments: new Map(), groups: new Map() });
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
    const status = experiment.status as string;
    const stored = structuredClone(experiment);
    this.placeInGroup(space, stored);
    space.experiments.set(id, stored);
    space.contexts = space.contexts.filter((context) => !context.variantId?.startsWith(`${id}-`));
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

  /** Forgets an experiment (as if it had never existed). */
  deleteExperiment(workspace: string, id: string): this {
    this.get(workspace).experiments.delete(id);
    return this;
  }

  /** A user-created experiment group (or any group, as given). */
  putGroup(workspace: string, group: StandInGroup): this {
    const space = this.get(workspace);
    const previous = space.groups.get(group.id);
    space.groups.set(group.id, {
      id: group.id,
      context_hash: `hash-${group.id}`,
      name: `group-${group.id}`,
      description: 'test group',
      change_reason: 'test',
      context: group.context ?? {},
      traffic_percentage: group.traffic_percentage,
      member_experiment_ids: group.member_experiment_ids ?? (previous?.member_experiment_ids as string[] | undefined) ?? [],
      created_at: '2026-08-20T07:00:00Z',
      created_by: 'a@b.c',
      last_modified_at: '2026-08-20T07:00:00.5Z',
      last_modified_by: 'a@b.c',
      buckets: [],
      group_type: group.group_type ?? 'USER_CREATED',
    });
    return this;
  }

  group(workspace: string, id: string): Record<string, unknown> | undefined {
    return this.get(workspace).groups.get(id);
  }

  /** How many POST/GET /config/resolve requests arrived (answered or not). */
  get resolveCount(): number {
    return this.resolveRequests().length;
  }

  /**
   * The ConfigChanged bodies Superposition sends next to an experiment event that writes contexts
   * (create, override update, conclude, discard go through its bulk-operations path): an ARRAY
   * payload of contexts and an ARRAY action. None for ramps, pauses and resumes.
   */
  configChangedWebhooks(
    event: string,
    workspace: string,
    experiment: Record<string, unknown>,
    organisation = this.orgId,
  ): Record<string, unknown>[] {
    const variants = experiment.variants as { id: string; overrides?: Record<string, unknown> }[];
    const contextOf = (variant: { id: string }) => ({ ...(experiment.context as object), variantIds: [variant.id] });
    let action: string[];
    let payload: unknown[];
    switch (event) {
      case 'ExperimentCreated':
        action = variants.map(() => 'Create');
        payload = variants.map((variant) => ({ id: `ctx-${variant.id}`, context: contextOf(variant), override: variant.overrides ?? {} }));
        break;
      case 'ExperimentUpdated':
        action = variants.map(() => 'Update');
        payload = variants.map((variant) => ({ id: `ctx-${variant.id}`, override: variant.overrides ?? {} }));
        break;
      case 'ExperimentConcluded':
      case 'ExperimentDiscarded': {
        const winner = variants.find((variant) => variant.id === experiment.chosen_variant);
        action = [...variants.map(() => 'Delete'), ...(winner ? ['Create'] : [])];
        payload = [
          ...variants.map((variant) => ({ id: `ctx-${variant.id}` })),
          ...(winner ? [{ context: experiment.context, override: winner.overrides ?? {} }] : []),
        ];
        break;
      }
      default:
        return [];
    }
    return [
      {
        event_info: {
          webhook_event: 'ConfigChanged',
          resource: 'context',
          action,
          time: '2026-08-20 07:37:41.5 UTC',
          workspace_id: workspace,
          organisation_id: organisation,
          config_version: `73501026500${String(Date.now()).slice(-8)}`,
        },
        payload,
      },
    ];
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

  /**
   * Real shapes for the group id: null unless the experiment runs; a running experiment outside any
   * known group gets a SYSTEM_GENERATED group of its own, which goes when it finishes.
   */
  private placeInGroup(space: Workspace, experiment: Record<string, unknown>): void {
    const id = String(experiment.id);
    const status = String(experiment.status);
    for (const [groupId, group] of space.groups) {
      const members = group.member_experiment_ids as string[];
      if (!members.includes(id)) continue;
      if (RUNNING.has(status) && groupId === experiment.experiment_group_id) continue;
      group.member_experiment_ids = members.filter((member) => member !== id);
      if (group.group_type === 'SYSTEM_GENERATED') space.groups.delete(groupId);
    }
    if (!RUNNING.has(status)) {
      experiment.experiment_group_id = null;
      return;
    }
    const groupId = typeof experiment.experiment_group_id === 'string' ? experiment.experiment_group_id : `9${id.slice(1)}`;
    experiment.experiment_group_id = groupId;
    const variants = (experiment.variants as unknown[]).length;
    const existing = space.groups.get(groupId);
    if (!existing) {
      this.putGroup(this.nameOf(space), {
        id: groupId,
        traffic_percentage: Math.min(100, variants * Number(experiment.traffic_percentage)),
        group_type: 'SYSTEM_GENERATED',
        member_experiment_ids: [id],
        context: experiment.context as Record<string, unknown>,
      });
    } else {
      const members = existing.member_experiment_ids as string[];
      if (!members.includes(id)) existing.member_experiment_ids = [...members, id];
      if (existing.group_type === 'SYSTEM_GENERATED')
        existing.traffic_percentage = Math.min(100, variants * Number(experiment.traffic_percentage));
    }
  }

  /** One pause, resume or ramp, with Superposition's checks; the answer and the webhook it causes. */
  private change(workspaceName: string, orgId: string, space: Workspace, id: string, action: ChangeAction, body: unknown): ChangeAnswer {
    if (!/^\d+$/.test(id)) return { status: 404, body: 'Not Found' };
    const experiment = space.experiments.get(id);
    if (!experiment) return { status: 404, body: { message: 'No records found. Please refine or correct your search parameters' } };
    const reason = changeReasonOf(body);
    if ('message' in reason) return { status: 400, body: reason };
    const status = String(experiment.status);
    let event: string;
    let configVersion: string | null = null;
    const updated: Record<string, unknown> = { ...structuredClone(experiment), change_reason: reason.reason };
    if (action === 'pause') {
      if (status !== 'INPROGRESS') return { status: 400, body: { message: `experiment with id ${id} cannot be paused` } };
      updated.status = 'PAUSED';
      event = 'ExperimentPaused';
    } else if (action === 'resume') {
      if (status !== 'PAUSED') return { status: 400, body: { message: `experiment with id ${id} cannot be resumed` } };
      updated.status = 'INPROGRESS';
      event = 'ExperimentInprogress';
    } else {
      if (status !== 'CREATED' && status !== 'INPROGRESS') {
        return { status: 400, body: { message: 'Experiment is not active, cannot ramp a concluded experiment' } };
      }
      const traffic = (body as { traffic_percentage?: unknown } | undefined)?.traffic_percentage;
      if (typeof traffic !== 'number' || !Number.isInteger(traffic) || traffic < 0 || traffic > 100) {
        return {
          status: 400,
          body: { message: 'Json deserialize error: Traffic percentage must be a number between 0 and 100 (both inclusive)' },
        };
      }
      const variants = (experiment.variants as unknown[]).length;
      const max = variants < 2 ? 100 : Math.floor(100 / variants);
      if (traffic > max) {
        return {
          status: 400,
          body: { message: `The traffic_percentage cannot exceed ${max}. Provide a traffic percentage less than ${max}` },
        };
      }
      if (traffic !== 0 && traffic === experiment.traffic_percentage) return { status: 200, body: chronoTimestamps(experiment) };
      if (status === 'CREATED') {
        updated.started_at = nextTimestamp(undefined);
        updated.started_by = 'mayday-stand-in@superposition';
      }
      updated.status = 'INPROGRESS';
      updated.traffic_percentage = traffic;
      event = status === 'CREATED' ? 'ExperimentStarted' : 'ExperimentInprogress';
      configVersion = `73501026500${String(Date.now()).slice(-8)}`;
    }
    updated.last_modified = nextTimestamp(experiment.last_modified);
    updated.last_modified_by = 'mayday@superposition';
    this.putExperiment(workspaceName, updated);
    const stored = chronoTimestamps(space.experiments.get(id)!);
    const webhook = {
      event_info: {
        webhook_event: event,
        resource: 'experiment',
        action: 'Update',
        time: chronoDisplay(new Date()),
        workspace_id: workspaceName,
        organisation_id: orgId,
        config_version: configVersion,
      },
      payload: stored,
    };
    return { status: 200, body: stored, webhook };
  }

  /** Delivers one webhook in the background, as Superposition's job runner does: 2xx is delivered, else retried. */
  private sendWebhook(body: Record<string, unknown>): void {
    const target = this.webhookTarget;
    if (!target) return;
    const info = body.event_info as { webhook_event: string };
    const experimentId = String((body.payload as { id: unknown }).id);
    const attempts = target.maxRetries ?? 3;
    const delivery = (async () => {
      for (let attempt = 0; attempt < attempts; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 1000 * 2 ** (attempt - 1))));
        let status: number;
        try {
          const response = await fetch(target.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: '*/*', ...target.headers },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(10_000),
          });
          status = response.status;
          await response.text().catch(() => '');
        } catch {
          status = 0;
        }
        this.webhookDeliveries.push({ event: info.webhook_event, experimentId, status, at: Date.now() });
        if (status >= 200 && status < 300) return;
      }
    })();
    this.deliveriesInFlight.add(delivery);
    void delivery.finally(() => this.deliveriesInFlight.delete(delivery));
  }

  private nameOf(space: Workspace): string {
    for (const [name, candidate] of this.workspaces) if (candidate === space) return name;
    throw new Error('unknown workspace');
  }

  private get(workspace: string): Workspace {
    const space = this.workspaces.get(workspace);
    if (!space) throw new Error(`stand-in has no workspace ${workspace}`);
    return space;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (this.down) {
      request.socket.destroy();
      return;
    }
    const url = new URL(request.url ?? '/', 'http://stand-in');
    const raw = await readBody(request);
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    this.requests.push({
      method: request.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body,
      at: Date.now(),
    });
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
    if (this.forbiddenWorkspaces.has(workspaceName)) return send(403, { message: `no access to workspace ${workspaceName}` });

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
      return send(200, trimToPrefixes(this.resolve(workspaceName, context), url.searchParams));
    }
    if (url.pathname === '/experiments' && request.method === 'GET') {
      const listed = listExperiments([...space.experiments.values()], url.searchParams);
      return 'message' in listed ? send(400, listed) : send(200, listed);
    }
    const experimentPath = /^\/experiments\/([^/]+)$/.exec(url.pathname);
    if (experimentPath && request.method === 'GET') {
      const experiment = space.experiments.get(decodeURIComponent(experimentPath[1]));
      return experiment
        ? send(200, chronoTimestamps(experiment))
        : send(404, { message: 'No records found. Please refine or correct your search parameters' });
    }
    const changePath = /^\/experiments\/([^/]+)\/(pause|resume|ramp)$/.exec(url.pathname);
    if (changePath && request.method === 'PATCH') {
      // actix's Json extractor: no JSON content type, no body.
      if (!/^application\/json/.test(header(request, 'content-type') ?? '')) {
        return send(400, { message: 'Content type error' });
      }
      const answer = this.change(workspaceName, orgId, space, decodeURIComponent(changePath[1]), changePath[2] as ChangeAction, body);
      send(answer.status, answer.body);
      if (answer.webhook) this.sendWebhook(answer.webhook);
      return;
    }
    const groupPath = /^\/experiment-groups\/([^/]+)$/.exec(url.pathname);
    if (groupPath && request.method === 'GET') {
      const group = space.groups.get(decodeURIComponent(groupPath[1]));
      return group
        ? send(200, chronoTimestamps(group))
        : send(404, { message: 'No records found. Please refine or correct your search parameters' });
    }
    return send(404, { message: `no route for ${request.method} ${url.pathname}` });
  }
}

type ChangeAction = 'pause' | 'resume' | 'ramp';
const DEFAULT_CHANGE_REASON = 'Change Reason not provided';

export interface ChangeAnswer {
  status: number;
  body: unknown;
  webhook?: Record<string, unknown>;
}

/** `change_reason` as Superposition reads it: a default when absent, 1..255 bytes otherwise. */
function changeReasonOf(body: unknown): { reason: string } | { message: string } {
  const raw = (body as { change_reason?: unknown } | undefined)?.change_reason;
  if (raw === undefined) return { reason: DEFAULT_CHANGE_REASON };
  if (typeof raw !== 'string') return { message: 'Json deserialize error: invalid type: change_reason, expected a string' };
  if (raw.length === 0) return { message: 'Json deserialize error: Empty reason not allowed' };
  const bytes = Buffer.byteLength(raw);
  if (bytes > 255) return { message: `Json deserialize error: Reason longer than 255 characters not allowed, current length: ${bytes}` };
  return { reason: raw };
}

/** Superposition's webhook time: chrono's display form. */
function chronoDisplay(date: Date): string {
  return `${date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.(\d{3})Z$/, '.$1000000')} UTC`;
}

/** Now, in microseconds, but strictly after `previous` (ISO 8601) whatever the clock says: last_modified orders events. */
function nextTimestamp(previous: unknown): string {
  const micros = (iso: string) => {
    const fraction = (/\.(\d+)Z$/.exec(iso)?.[1] ?? '').padEnd(6, '0').slice(0, 6);
    return BigInt(Math.floor(Date.parse(iso) / 1000)) * 1_000_000n + BigInt(fraction);
  };
  let next = micros(new Date().toISOString());
  if (typeof previous === 'string' && !Number.isNaN(Date.parse(previous)) && micros(previous) >= next) next = micros(previous) + 1n;
  const seconds = new Date(Number(next / 1_000_000n) * 1000).toISOString().slice(0, 19);
  return `${seconds}.${String(next % 1_000_000n).padStart(6, '0')}Z`;
}

/** Superposition's experiment list: status and id filters, newest first, paginated (or `all=true`). */
function listExperiments(
  experiments: Record<string, unknown>[],
  query: URLSearchParams,
): { total_pages: number; total_items: number; data: unknown[] } | { message: string } {
  const statuses = commaList(query.get('status'));
  const unknown = statuses.find((status) => !STATUSES.has(status));
  if (unknown) return { message: `Error parsing query: unknown variant \`${unknown}\`` };
  const ids = commaList(query.get('experiment_ids'));
  const matching = experiments
    .filter((experiment) => statuses.length === 0 || statuses.includes(String(experiment.status)))
    .filter((experiment) => ids.length === 0 || ids.includes(String(experiment.id)))
    .sort((a, b) => (String(a.last_modified) < String(b.last_modified) ? 1 : -1))
    .map(chronoTimestamps);
  if (query.get('all') === 'true') return { total_pages: 1, total_items: matching.length, data: matching };
  const count = Number(query.get('count') ?? 10);
  const page = Number(query.get('page') ?? 1);
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(page) || page < 1)
    return { message: 'Error parsing query: page and count' };
  return {
    total_pages: Math.ceil(matching.length / count),
    total_items: matching.length,
    data: matching.slice((page - 1) * count, page * count),
  };
}

function commaList(value: string | null): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** The resolved config with only the keys under `prefix` (when given) and none under `exclude_prefix`. */
function trimToPrefixes(config: Record<string, unknown>, query: URLSearchParams): Record<string, unknown> {
  const prefixes = commaList(query.get('prefix'));
  const excluded = commaList(query.get('exclude_prefix'));
  return Object.fromEntries(
    Object.entries(config).filter(
      ([key]) =>
        (prefixes.length === 0 || prefixes.some((prefix) => key.startsWith(prefix))) && !excluded.some((prefix) => key.startsWith(prefix)),
    ),
  );
}

/** A copy with its timestamps written as chrono writes them: no fraction, or 3, or 6 digits. */
function chronoTimestamps(object: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(object);
  for (const field of TIMESTAMP_FIELDS) {
    if (typeof copy[field] === 'string') copy[field] = chronoForm(copy[field]);
  }
  return copy;
}

export function chronoForm(timestamp: string): string {
  const match = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$/.exec(timestamp);
  if (!match) return timestamp;
  const nanos = (match[2] ?? '').padEnd(9, '0').slice(0, 9);
  const fraction = /^0+$/.test(nanos)
    ? ''
    : nanos.endsWith('000000')
      ? nanos.slice(0, 3)
      : nanos.endsWith('000')
        ? nanos.slice(0, 6)
        : nanos;
  return `${match[1]}${fraction ? `.${fraction}` : ''}Z`;
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
