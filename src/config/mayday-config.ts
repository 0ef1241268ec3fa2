import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { isDnsLabel } from '../naming/names';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const TRAFFIC_PROVIDERS = ['nginx', 'gateway-api'] as const;
export type TrafficProviderName = (typeof TRAFFIC_PROVIDERS)[number];

/** How a request finds its variant: by random weight, by the variant header Superposition's assignment fills, or header first. */
export const ROUTING_MODES = ['weight', 'header', 'both'] as const;
export type RoutingMode = (typeof ROUTING_MODES)[number];

/** One Superposition workspace, in its organisation. */
export interface SuperpositionWorkspace {
  orgId: string;
  workspace: string;
}

/** `token`: every webhook and status API call needs the bearer token; `none`: open (an explicit choice for local use). */
export const WEBHOOK_AUTH_MODES = ['token', 'none'] as const;
/** `token`: /metrics needs the same bearer token as the webhook; `none`: open to whoever reaches the port. */
export const METRICS_AUTH_MODES = ['none', 'token'] as const;

/** Tokens shorter than this are refused: the webhook token is the only proof that Superposition sent an event. */
export const MIN_WEBHOOK_TOKEN_LENGTH = 32;
/** Placeholders that deploy/ or the docs once shipped as the webhook token: anyone who read them knows them. */
export const KNOWN_PLACEHOLDER_TOKENS: readonly string[] = ['change-me-to-a-long-random-string'];

/** The shape of the POST each notification makes: Slack's incoming-webhook `{text}`, or Mayday's own fields as JSON. */
export const NOTIFY_FORMATS = ['json', 'slack'] as const;
export type NotifyFormat = (typeof NOTIFY_FORMATS)[number];

/** Where the service account's namespace is mounted in a pod. */
export const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
export const FALLBACK_MAYDAY_NAMESPACE = 'mayday-system';
/**
 * How Mayday reaches the Kubernetes API: the standard kubeconfig chain (with CLUSTERS, one of its contexts
 * per cluster), or an explicit server and token.
 */
export type KubernetesConnection =
  | { mode: 'default'; kubeconfig?: string; context?: string }
  | { mode: 'token'; server: string; token: string; caFile?: string; skipTlsVerify: boolean };

/** Several clusters from one Mayday (README, "Several clusters"); absent with CLUSTERS unset (one cluster, as connected). */
export interface ClusterSettings {
  /** CLUSTERS: kubeconfig context names, each a value of the context dimension `dimension`. */
  readonly names: readonly string[];
  /** CLUSTER_DIMENSION: the experiment context's dimension that names clusters. */
  readonly dimension: string;
  /** DEFAULT_CLUSTER (else the kubeconfig's current context): where an experiment naming no cluster goes. */
  readonly defaultCluster: string;
  /** GLOBAL_WORKSPACES: workspaces whose experiments naming no cluster go to every cluster. */
  readonly globalWorkspaces: readonly string[];
  /** The cluster this configuration is the view of: its rooms' Kubernetes connection, scope and records. */
  readonly current: string;
}

/**
 * Everything Mayday reads from its environment, parsed and validated once at start-up.
 * Used as the injection token for the configuration (see config.module.ts).
 */
export abstract class MaydayConfig {
  abstract readonly port: number;
  abstract readonly host: string;
  abstract readonly logLevel: LogLevel;
  abstract readonly kubernetes: KubernetesConnection;
  /**
   * Mayday's own namespace: its records live there and only there (nobody else should be able to
   * write in it). It is protected: events for it get 403 unless ALLOWED_NAMESPACES names it.
   */
  abstract readonly maydayNamespace: string;
  abstract readonly superposition: {
    /** Base URL without a trailing slash; undefined when Mayday runs on payload overrides alone. */
    readonly url?: string;
    readonly token?: string;
    readonly orgId?: string;
    readonly timeoutMs: number;
    /** The workspaces whose experiments the resync lists (SUPERPOSITION_WORKSPACES, else ALLOWED_WORKSPACES in SUPERPOSITION_ORG_ID). */
    readonly workspaces: readonly SuperpositionWorkspace[];
  };
  abstract readonly webhook: {
    /** `none` only when WEBHOOK_AUTH=none was chosen explicitly; then `token` is undefined. */
    readonly auth: (typeof WEBHOOK_AUTH_MODES)[number];
    readonly token?: string;
    readonly maxBodyBytes: number;
    readonly allowedNamespaces: readonly string[];
    readonly allowedWorkspaces: readonly string[];
    /** Time an event may spend retrying transient Kubernetes faults before Mayday answers 503. */
    readonly retryBudgetMs: number;
    /**
     * Time from an event's arrival to its answer: queue wait, resolves, Kubernetes calls and their
     * retries; past it Mayday stops before its next step and answers 503.
     */
    readonly eventDeadlineMs: number;
  };
  abstract readonly metrics: {
    readonly auth: (typeof METRICS_AUTH_MODES)[number];
  };
  abstract readonly routing: {
    readonly defaultNamespace: string;
    readonly namespaceDimension: string;
    readonly ingressClass: string;
    readonly hostTemplate: string;
    readonly provider: TrafficProviderName;
    readonly gatewayName?: string;
    readonly gatewayNamespace?: string;
    readonly mode: RoutingMode;
    /** The request header that carries a variant id (lower case). */
    readonly variantHeader: string;
  };
  abstract readonly safety: {
    readonly readinessGate: boolean;
    readonly maxRestarts: number;
    readonly resyncIntervalSeconds: number;
    /** How long the record of a finished experiment is kept; 0 keeps records for ever. */
    readonly recordRetentionHours: number;
    /** Share of the winner's desired replicas (of its current generation) that must be available before the main Service switches. */
    readonly promotionMinAvailablePercent: number;
    /** How long the previous stable (and the rest of the experiment) keeps running after the switch before it is deleted. */
    readonly scaleDownDelaySeconds: number;
    /** The most replicas a variant's config may ask for (422 above). */
    readonly maxReplicas: number;
  };
  abstract readonly notify: {
    /** Where each CanaryFailed, Promoted, PromotionPending and RolledBack is POSTed; undefined: no notifications. */
    readonly url?: string;
    readonly format: NotifyFormat;
    /** Mayday's address as people reach it (no trailing slash): notifications link to `{publicUrl}/ui/`. */
    readonly publicUrl: string;
  };
  /** What Mayday writes back to Superposition (README, "Closing the loop"). */
  abstract readonly closedLoop: {
    /** Pause an experiment in Superposition when one of its canaries fails (SUPERPOSITION_WRITE_BACK). */
    readonly writeBack: boolean;
    /** Ramp steps (traffic_percentage, increasing) per workspace that ramps by itself (AUTO_RAMP); empty: none does. */
    readonly autoRamp: Readonly<Record<string, readonly number[]>>;
    /** How long every canary must stay available at one step before the next is asked for. */
    readonly autoRampIntervalSeconds: number;
  };
  /** Canary analysis with Prometheus (README, "Closing the loop"); undefined when ANALYSIS_PROMETHEUS_URL is unset. */
  abstract readonly analysis?: {
    readonly prometheusUrl: string;
    /** PromQL with {namespace}, {service}, {variant}, {deployment}. */
    readonly query: string;
    /** A canary whose query gives more than this fails. */
    readonly max: number;
    readonly intervalSeconds: number;
    /** No data (empty or NaN) for this long fails the canary; 0: never. */
    readonly noDataFailsAfterSeconds: number;
  };
  /** The Lease `mayday-leader` in MAYDAY_NAMESPACE: one replica runs the background work (client-go's timings). */
  abstract readonly leaderElection: LeaderElectionSettings;
  /** CLUSTERS and its companions; undefined with one cluster. */
  abstract readonly clusters?: ClusterSettings;
}

export interface LeaderElectionSettings {
  /** false: this process runs the background work without a Lease (one replica only). */
  readonly enabled: boolean;
  /** This process in the Lease's holderIdentity: POD_NAME (else the host name) and a random suffix. */
  readonly identity: string;
  /** How long a holder's lease lasts after its last renewal, as seen by the others. */
  readonly leaseDurationSeconds: number;
  /** How long the leader keeps trying to renew before it stops its background work. */
  readonly renewDeadlineSeconds: number;
  /** How often candidates try to acquire, and the leader to renew. */
  readonly retryPeriodSeconds: number;
}

export class ConfigValidationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigValidationError';
  }
}

type Env = Record<string, string | undefined>;

const HOST_PLACEHOLDERS = new Set(['service', 'namespace']);
// Letters, digits and hyphens: a header name every proxy passes on and ingress-nginx can read ($http_ variable).
const HEADER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Reads and validates Mayday's configuration from an environment map. Collects every problem
 * before failing so an operator fixes them in one go; each message names its variable.
 */
export function loadMaydayConfig(env: Env): MaydayConfig {
  const problems: string[] = [];
  const read = new EnvReader(env, problems);

  const port = read.integer('PORT', 8090, 0, 65535);
  const host = read.string('HOST') ?? '0.0.0.0';
  const logLevel = read.oneOf('LOG_LEVEL', LOG_LEVELS, 'info');

  const server = read.url('K8S_API_SERVER', ['http:', 'https:']);
  const token = read.string('K8S_TOKEN');
  const caFile = read.string('K8S_CA_FILE');
  const skipTlsVerify = read.boolean('K8S_INSECURE_SKIP_TLS_VERIFY', false);
  const kubeconfig = read.string('KUBECONFIG');
  for (const file of kubeconfig?.split(delimiter).filter((path) => path) ?? []) {
    if (!existsSync(file)) problems.push(`KUBECONFIG: no such file "${file}"`);
  }
  let kubernetes: KubernetesConnection = { mode: 'default', kubeconfig };
  if (server) {
    if (!token) problems.push('K8S_TOKEN is required when K8S_API_SERVER is set');
    if (caFile && !existsSync(caFile)) problems.push(`K8S_CA_FILE: no such file "${caFile}"`);
    if (new URL(server).protocol === 'http:' && !skipTlsVerify) {
      problems.push('K8S_API_SERVER: an http:// server needs K8S_INSECURE_SKIP_TLS_VERIFY=true');
    }
    kubernetes = { mode: 'token', server, token: token ?? '', caFile, skipTlsVerify };
  } else if (token || caFile) {
    problems.push(`${token ? 'K8S_TOKEN' : 'K8S_CA_FILE'} is set but K8S_API_SERVER is not`);
  }

  const superpositionUrl = read.url('SUPERPOSITION_URL', ['http:', 'https:'])?.replace(/\/+$/, '');
  const maydayNamespace =
    read.string('MAYDAY_NAMESPACE') ?? read.string('POD_NAMESPACE') ?? serviceAccountNamespace() ?? FALLBACK_MAYDAY_NAMESPACE;
  if (!isDnsLabel(maydayNamespace)) {
    problems.push(`MAYDAY_NAMESPACE: "${maydayNamespace}" is not a valid Kubernetes namespace name`);
  }

  const webhookAuth = read.oneOf('WEBHOOK_AUTH', WEBHOOK_AUTH_MODES, 'token');
  const webhookToken = read.string('WEBHOOK_TOKEN');
  if (webhookAuth === 'none' && webhookToken) {
    problems.push('WEBHOOK_AUTH=none but WEBHOOK_TOKEN is set: unset one of them');
  } else if (webhookAuth === 'token') {
    const problem = webhookTokenProblem(webhookToken);
    if (problem) problems.push(problem);
  }
  const metricsAuth = read.oneOf('METRICS_AUTH', METRICS_AUTH_MODES, 'none');
  if (metricsAuth === 'token' && webhookAuth === 'none') {
    problems.push('METRICS_AUTH=token needs WEBHOOK_TOKEN (it is the same bearer token), but WEBHOOK_AUTH=none');
  }

  const webhook = {
    auth: webhookAuth,
    token: webhookAuth === 'token' ? webhookToken : undefined,
    maxBodyBytes: read.integer('WEBHOOK_MAX_BODY_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
    allowedNamespaces: read.list('ALLOWED_NAMESPACES'),
    allowedWorkspaces: read.list('ALLOWED_WORKSPACES'),
    retryBudgetMs: read.integer('KUBE_RETRY_BUDGET_MS', 6000, 0, 60000),
    // Superposition waits 10 s for an answer: stop before that, so a 503 reaches it and it retries.
    eventDeadlineMs: read.integer('EVENT_DEADLINE_MS', 8000, 100, 60000),
  };

  const orgId = read.string('SUPERPOSITION_ORG_ID');
  const superposition = {
    url: superpositionUrl,
    token: read.string('SUPERPOSITION_TOKEN'),
    orgId,
    timeoutMs: read.integer('SUPERPOSITION_TIMEOUT_MS', 3000, 100, 60000),
    workspaces: superpositionWorkspaces(read.list('SUPERPOSITION_WORKSPACES'), orgId, webhook.allowedWorkspaces, problems),
  };

  const defaultNamespace = read.string('DEFAULT_NAMESPACE') ?? 'default';
  if (!isDnsLabel(defaultNamespace)) {
    problems.push(`DEFAULT_NAMESPACE: "${defaultNamespace}" is not a valid Kubernetes namespace name`);
  }
  const hostTemplate = read.string('INGRESS_HOST_TEMPLATE') ?? '{service}.{namespace}';
  for (const [, placeholder] of hostTemplate.matchAll(/\{([^}]*)\}/g)) {
    if (!HOST_PLACEHOLDERS.has(placeholder)) {
      problems.push(`INGRESS_HOST_TEMPLATE: unknown placeholder {${placeholder}} (use {service} and {namespace})`);
    }
  }
  const provider = read.oneOf('TRAFFIC_PROVIDER', TRAFFIC_PROVIDERS, 'nginx');
  const gatewayName = read.string('GATEWAY_NAME');
  const gatewayNamespace = read.string('GATEWAY_NAMESPACE');
  if (provider === 'gateway-api' && !gatewayName) {
    problems.push('GATEWAY_NAME is required when TRAFFIC_PROVIDER=gateway-api');
  }
  const mode = read.oneOf('ROUTING_MODE', ROUTING_MODES, 'weight');
  const variantHeader = (read.string('VARIANT_HEADER') ?? 'x-superposition-variant').toLowerCase();
  if (!HEADER_NAME.test(variantHeader) || variantHeader.length > 256) {
    problems.push(
      `VARIANT_HEADER: "${variantHeader}" must be an HTTP header name of letters, digits and inner hyphens, at most 256 characters`,
    );
  }
  const routing = {
    defaultNamespace,
    namespaceDimension: read.string('NAMESPACE_DIMENSION') ?? 'namespace',
    ingressClass: read.string('INGRESS_CLASS') ?? 'nginx',
    hostTemplate,
    provider,
    gatewayName,
    gatewayNamespace,
    mode,
    variantHeader,
  };

  const safety = {
    readinessGate: read.boolean('CANARY_READINESS_GATE', true),
    maxRestarts: read.integer('CANARY_MAX_RESTARTS', 3, 0, 1000),
    resyncIntervalSeconds: read.integer('RESYNC_INTERVAL_SECONDS', 60, 0, 86400),
    recordRetentionHours: read.integer('RECORD_RETENTION_HOURS', 720, 0, 876000),
    promotionMinAvailablePercent: read.integer('PROMOTION_MIN_AVAILABLE_PERCENT', 100, 1, 100),
    scaleDownDelaySeconds: read.integer('SCALE_DOWN_DELAY_SECONDS', 30, 0, 86400),
    maxReplicas: read.integer('MAX_REPLICAS', 100, 1, 10000),
  };

  const notify = {
    url: read.url('NOTIFY_URL', ['http:', 'https:']),
    format: read.oneOf('NOTIFY_FORMAT', NOTIFY_FORMATS, 'json'),
    publicUrl: (read.url('MAYDAY_PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`).replace(/\/+$/, ''),
  };
  const writeBack = read.boolean('SUPERPOSITION_WRITE_BACK', superpositionUrl !== undefined);
  if (writeBack && !superpositionUrl) problems.push('SUPERPOSITION_WRITE_BACK=true needs SUPERPOSITION_URL (where to write)');
  const autoRamp = autoRampSchedule(read.string('AUTO_RAMP'), webhook.allowedWorkspaces, problems);
  if (Object.keys(autoRamp).length > 0) {
    if (!writeBack) problems.push('AUTO_RAMP needs SUPERPOSITION_WRITE_BACK (a ramp is a write to Superposition)');
    if (!safety.readinessGate) problems.push('AUTO_RAMP needs CANARY_READINESS_GATE=true (without it Mayday cannot tell a healthy canary)');
  }
  const closedLoop = {
    writeBack,
    autoRamp,
    autoRampIntervalSeconds: read.integer('AUTO_RAMP_INTERVAL_SECONDS', 300, 1, 86400),
  };
  const analysis = analysisSettings(read, safety.readinessGate, problems);
  const leaderElection = {
    enabled: read.boolean('LEADER_ELECTION', true),
    identity: `${read.string('POD_NAME') ?? hostname()}_${randomUUID().slice(0, 8)}`,
    leaseDurationSeconds: read.integer('LEASE_DURATION_SECONDS', 15, 2, 3600),
    renewDeadlineSeconds: read.integer('RENEW_DEADLINE_SECONDS', 10, 1, 3600),
    retryPeriodSeconds: read.integer('RETRY_PERIOD_SECONDS', 2, 1, 3600),
  };
  // client-go's rules: a leader must give up before others may take over, and try more than once before it does.
  if (leaderElection.renewDeadlineSeconds >= leaderElection.leaseDurationSeconds) {
    problems.push(
      `RENEW_DEADLINE_SECONDS (${leaderElection.renewDeadlineSeconds}) must be less than LEASE_DURATION_SECONDS (${leaderElection.leaseDurationSeconds})`,
    );
  }
  if (leaderElection.retryPeriodSeconds >= leaderElection.renewDeadlineSeconds) {
    problems.push(
      `RETRY_PERIOD_SECONDS (${leaderElection.retryPeriodSeconds}) must be less than RENEW_DEADLINE_SECONDS (${leaderElection.renewDeadlineSeconds})`,
    );
  }

  const clusters = clusterSettings(
    read,
    {
      kubernetes,
      allowedNamespaces: webhook.allowedNamespaces,
      allowedWorkspaces: webhook.allowedWorkspaces,
      namespaceDimension: routing.namespaceDimension,
    },
    problems,
  );

  if (problems.length > 0) throw new ConfigValidationError(problems);
  const config: MaydayConfig = {
    port,
    host,
    logLevel,
    kubernetes,
    maydayNamespace,
    superposition,
    webhook,
    metrics: { auth: metricsAuth },
    routing,
    safety,
    notify,
    closedLoop,
    ...(analysis ? { analysis } : {}),
    leaderElection,
  };
  // The application's own rooms are the default cluster's (src/clusters/).
  return clusters ? configForCluster({ ...config, clusters }, clusters.defaultCluster) : config;
}

/** The configuration as one cluster's rooms see it: its kubeconfig context, and itself as `clusters.current`. */
export function configForCluster(config: MaydayConfig, cluster: string): MaydayConfig {
  if (!config.clusters || config.kubernetes.mode !== 'default') throw new Error('configForCluster needs CLUSTERS');
  return {
    ...config,
    kubernetes: { ...config.kubernetes, context: cluster },
    clusters: { ...config.clusters, current: cluster },
  };
}

/**
 * CLUSTERS, CLUSTER_DIMENSION, DEFAULT_CLUSTER, GLOBAL_WORKSPACES, and the `cluster/namespace` entries of
 * ALLOWED_NAMESPACES. Without CLUSTERS there is one cluster (whatever the connection reaches) and none of the
 * others may be set. Context names are checked against the kubeconfig Mayday loads.
 */
function clusterSettings(
  read: EnvReader,
  settings: {
    kubernetes: KubernetesConnection;
    allowedNamespaces: readonly string[];
    allowedWorkspaces: readonly string[];
    namespaceDimension: string;
  },
  problems: string[],
): ClusterSettings | undefined {
  const names = read.list('CLUSTERS');
  const dimension = read.string('CLUSTER_DIMENSION');
  const defaultCluster = read.string('DEFAULT_CLUSTER');
  const globalWorkspaces = read.list('GLOBAL_WORKSPACES');
  const scoped = settings.allowedNamespaces.filter((entry) => entry.includes('/'));
  if (names.length === 0) {
    for (const [name, set] of [
      ['CLUSTER_DIMENSION', dimension !== undefined],
      ['DEFAULT_CLUSTER', defaultCluster !== undefined],
      ['GLOBAL_WORKSPACES', globalWorkspaces.length > 0],
    ] as const) {
      if (set) problems.push(`${name} needs CLUSTERS (the kubeconfig contexts Mayday drives)`);
    }
    for (const entry of scoped) problems.push(`ALLOWED_NAMESPACES: "${entry}" names a cluster, but CLUSTERS is not set`);
    return undefined;
  }
  if (settings.kubernetes.mode !== 'default') {
    problems.push('CLUSTERS names kubeconfig contexts: it cannot be used with K8S_API_SERVER');
    return undefined;
  }
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate) problems.push(`CLUSTERS: "${duplicate}" is named twice`);
  const files = settings.kubernetes.kubeconfig?.split(delimiter).filter((file) => file) ?? [];
  // A missing KUBECONFIG file is reported already.
  if (files.some((file) => !existsSync(file))) return undefined;
  const kubeconfig = readKubeconfig(files);
  if (typeof kubeconfig === 'string') {
    problems.push(`CLUSTERS: the kubeconfig could not be read (${kubeconfig})`);
    return undefined;
  }
  const contexts = kubeconfig.getContexts().map((context) => context.name);
  for (const name of names.filter((name) => !contexts.includes(name))) {
    problems.push(`CLUSTERS: "${name}" is not a context of the kubeconfig (its contexts: ${contexts.join(', ') || 'none'})`);
  }
  const fallback = defaultCluster ?? kubeconfig.getCurrentContext();
  if (!names.includes(fallback)) {
    problems.push(
      defaultCluster
        ? `DEFAULT_CLUSTER: "${defaultCluster}" is not in CLUSTERS (${names.join(', ')})`
        : `DEFAULT_CLUSTER is not set and the kubeconfig's current context "${fallback}" is not in CLUSTERS (${names.join(', ')})`,
    );
  }
  const clusterDimension = dimension ?? 'cluster';
  if (clusterDimension === settings.namespaceDimension) {
    problems.push(`CLUSTER_DIMENSION: "${clusterDimension}" is already NAMESPACE_DIMENSION`);
  }
  for (const workspace of globalWorkspaces) {
    if (settings.allowedWorkspaces.length > 0 && !settings.allowedWorkspaces.includes(workspace)) {
      problems.push(`GLOBAL_WORKSPACES: workspace "${workspace}" is not in ALLOWED_WORKSPACES`);
    }
  }
  for (const entry of scoped) {
    const cluster = entry.slice(0, entry.lastIndexOf('/'));
    if (!names.includes(cluster)) problems.push(`ALLOWED_NAMESPACES: "${entry}" names cluster "${cluster}", which is not in CLUSTERS`);
  }
  return { names, dimension: clusterDimension, defaultCluster: fallback, globalWorkspaces, current: fallback };
}

/** The kubeconfig as Mayday loads it (KUBECONFIG's files, else client-node's default chain), or why it cannot. */
function readKubeconfig(files: readonly string[]): KubeConfig | string {
  const kubeConfig = new KubeConfig();
  try {
    if (files.length === 0) kubeConfig.loadFromDefault();
    for (const [index, file] of files.entries()) {
      if (index === 0) {
        kubeConfig.loadFromFile(file);
        continue;
      }
      const more = new KubeConfig();
      more.loadFromFile(file);
      kubeConfig.mergeConfig(more);
    }
    return kubeConfig;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Why a webhook token cannot be used, naming WEBHOOK_TOKEN; undefined when it can. */
export function webhookTokenProblem(token: string | undefined): string | undefined {
  if (!token) {
    return 'WEBHOOK_TOKEN is required (a random secret of at least 32 characters, e.g. `openssl rand -hex 32`); set WEBHOOK_AUTH=none to run without authentication on purpose';
  }
  if (KNOWN_PLACEHOLDER_TOKENS.includes(token)) {
    return 'WEBHOOK_TOKEN is a placeholder that was published with Mayday: generate a random one (e.g. `openssl rand -hex 32`)';
  }
  if (token.length < MIN_WEBHOOK_TOKEN_LENGTH) {
    return `WEBHOOK_TOKEN is ${token.length} characters long; it must have at least ${MIN_WEBHOOK_TOKEN_LENGTH} (e.g. \`openssl rand -hex 32\`)`;
  }
  return undefined;
}

/** The namespace of the pod's service account, when Mayday runs in a pod with one mounted. */
function serviceAccountNamespace(): string | undefined {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * AUTO_RAMP: `workspace=5,10,25,50;other=10,20`. Steps are per-variant traffic percentages (docs/contract.md
 * §1), strictly increasing, each above 0 and at most 100; a workspace appears once and, with
 * ALLOWED_WORKSPACES, must be one of them.
 */
export function autoRampSchedule(
  raw: string | undefined,
  allowedWorkspaces: readonly string[],
  problems: string[],
): Record<string, number[]> {
  const schedule: Record<string, number[]> = {};
  if (raw === undefined) return schedule;
  for (const entry of raw
    .split(';')
    .map((item) => item.trim())
    .filter((item) => item.length > 0)) {
    const match = /^([^=\s]+)\s*=\s*(.+)$/.exec(entry);
    if (!match) {
      problems.push(`AUTO_RAMP: "${entry}" is not workspace=step,step,... (e.g. checkout=5,10,25,50)`);
      continue;
    }
    const [, workspace, list] = match;
    if (Object.hasOwn(schedule, workspace) || ['__proto__', 'constructor', 'prototype'].includes(workspace)) {
      problems.push(`AUTO_RAMP: workspace "${workspace}" is named twice or is not a workspace id`);
      continue;
    }
    if (allowedWorkspaces.length > 0 && !allowedWorkspaces.includes(workspace)) {
      problems.push(`AUTO_RAMP: workspace "${workspace}" is not in ALLOWED_WORKSPACES`);
      continue;
    }
    const steps = list.split(',').map((step) => step.trim());
    const bad = steps.find((step) => !/^\d+$/.test(step) || Number(step) < 1 || Number(step) > 100);
    if (bad !== undefined) {
      problems.push(
        `AUTO_RAMP: step "${bad}" of workspace "${workspace}" must be an integer from 1 to 100 (a per-variant traffic percentage)`,
      );
      continue;
    }
    const numbers = steps.map(Number);
    if (numbers.some((step, index) => index > 0 && step <= numbers[index - 1])) {
      problems.push(`AUTO_RAMP: the steps of workspace "${workspace}" (${list}) must increase`);
      continue;
    }
    schedule[workspace] = numbers;
  }
  return schedule;
}

const QUERY_PLACEHOLDERS = new Set(['namespace', 'service', 'variant', 'deployment']);

/** ANALYSIS_*: all or nothing, around ANALYSIS_PROMETHEUS_URL. */
function analysisSettings(read: EnvReader, readinessGate: boolean, problems: string[]): MaydayConfig['analysis'] {
  const prometheusUrl = read.url('ANALYSIS_PROMETHEUS_URL', ['http:', 'https:'])?.replace(/\/+$/, '');
  const query = read.string('ANALYSIS_QUERY');
  const rawMax = read.string('ANALYSIS_MAX');
  const intervalSeconds = read.integer('ANALYSIS_INTERVAL_SECONDS', 30, 1, 86400);
  const noDataFailsAfterSeconds = read.integer('ANALYSIS_NO_DATA_FAILS_AFTER_SECONDS', 600, 0, 604800);
  if (!prometheusUrl) {
    if (query || rawMax) problems.push(`${query ? 'ANALYSIS_QUERY' : 'ANALYSIS_MAX'} is set but ANALYSIS_PROMETHEUS_URL is not`);
    return undefined;
  }
  if (!query)
    problems.push(
      'ANALYSIS_QUERY is required when ANALYSIS_PROMETHEUS_URL is set (PromQL with {namespace}, {service}, {variant}, {deployment})',
    );
  for (const [, placeholder] of (query ?? '').matchAll(/\{([a-z]+)\}/g)) {
    if (!QUERY_PLACEHOLDERS.has(placeholder)) {
      problems.push(`ANALYSIS_QUERY: unknown placeholder {${placeholder}} (use {namespace}, {service}, {variant}, {deployment})`);
    }
  }
  const max = Number(rawMax);
  if (rawMax === undefined || !Number.isFinite(max)) {
    problems.push(`ANALYSIS_MAX must be a number (the value above which a canary fails; got "${rawMax ?? ''}")`);
  }
  if (!readinessGate)
    problems.push('ANALYSIS_PROMETHEUS_URL needs CANARY_READINESS_GATE=true (a failed analysis takes the canary out the same way)');
  return { prometheusUrl, query: query ?? '', max, intervalSeconds, noDataFailsAfterSeconds };
}

const WORKSPACE_ENTRY = /^([^/\s]+)\/([^/\s]+)$/;

/**
 * `org/workspace` entries of SUPERPOSITION_WORKSPACES; without it, ALLOWED_WORKSPACES in
 * SUPERPOSITION_ORG_ID (nothing to list when either is unset). A listed workspace must be one Mayday
 * may act for.
 */
function superpositionWorkspaces(
  entries: string[],
  orgId: string | undefined,
  allowedWorkspaces: readonly string[],
  problems: string[],
): SuperpositionWorkspace[] {
  if (entries.length === 0) return orgId ? allowedWorkspaces.map((workspace) => ({ orgId, workspace })) : [];
  const workspaces: SuperpositionWorkspace[] = [];
  for (const entry of entries) {
    const match = WORKSPACE_ENTRY.exec(entry);
    if (!match) {
      problems.push(`SUPERPOSITION_WORKSPACES: "${entry}" is not organisation/workspace`);
      continue;
    }
    const [, entryOrg, workspace] = match;
    if (allowedWorkspaces.length > 0 && !allowedWorkspaces.includes(workspace)) {
      problems.push(`SUPERPOSITION_WORKSPACES: workspace "${workspace}" is not in ALLOWED_WORKSPACES`);
      continue;
    }
    if (!workspaces.some((known) => known.orgId === entryOrg && known.workspace === workspace))
      workspaces.push({ orgId: entryOrg, workspace });
  }
  return workspaces;
}

/** Small typed accessors over the raw environment; each records a problem instead of throwing. */
class EnvReader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  /** A set, non-blank value, trimmed; blank counts as unset (as `.env` files leave `NAME=`). */
  string(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value ? value : undefined;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || value < min || value > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.string(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['true', '1', 'yes', 'on'].includes(raw)) return true;
    if (['false', '0', 'no', 'off'].includes(raw)) return false;
    this.problems.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
    return fallback;
  }

  url(name: string, protocols: string[]): string | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    try {
      const url = new URL(raw);
      if (!protocols.includes(url.protocol)) throw new Error('protocol');
      return raw;
    } catch {
      this.problems.push(`${name} must be an ${protocols.map((p) => p.replace(':', '')).join(' or ')} URL (got "${raw}")`);
      return undefined;
    }
  }

  list(name: string): string[] {
    const raw = this.string(name);
    if (raw === undefined) return [];
    return raw
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0);
  }
}
