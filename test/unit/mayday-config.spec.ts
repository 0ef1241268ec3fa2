import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigValidationError, loadMaydayConfig as loadExactly } from '../../src/config/mayday-config';

/** A webhook token Mayday accepts (WEBHOOK_TOKEN is required unless WEBHOOK_AUTH=none). */
const TOKEN = 'x'.repeat(32);

/** The configuration for `env` plus a valid WEBHOOK_TOKEN (unless the test sets WEBHOOK_TOKEN or WEBHOOK_AUTH). */
function loadMaydayConfig(env: Record<string, string | undefined>) {
  return loadExactly('WEBHOOK_TOKEN' in env || 'WEBHOOK_AUTH' in env ? env : { WEBHOOK_TOKEN: TOKEN, ...env });
}

let dir: string;
let existingFile: string;
let missingFile: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mayday-config-'));
  existingFile = join(dir, 'exists.pem');
  writeFileSync(existingFile, 'x');
  missingFile = join(dir, 'missing.pem');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The problems loadMaydayConfig reports for `env`, or a failure when it loads. */
function problems(env: Record<string, string | undefined>): readonly string[] {
  try {
    loadMaydayConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigValidationError);
    const validation = error as ConfigValidationError;
    expect(validation.name).toBe('ConfigValidationError');
    expect(validation.message).toBe(`Invalid configuration:\n  - ${validation.problems.join('\n  - ')}`);
    return validation.problems;
  }
  throw new Error(`expected a ConfigValidationError for ${JSON.stringify(env)}`);
}

describe('loadMaydayConfig defaults', () => {
  it('gives the documented defaults for an empty environment', () => {
    expect(loadMaydayConfig({})).toEqual({
      port: 8090,
      host: '0.0.0.0',
      logLevel: 'info',
      kubernetes: { mode: 'default', kubeconfig: undefined },
      superposition: { url: undefined, token: undefined, orgId: undefined, timeoutMs: 3000, workspaces: [] },
      maydayNamespace: 'mayday-system',
      metrics: { auth: 'none' },
      webhook: {
        auth: 'token',
        token: TOKEN,
        maxBodyBytes: 1024 * 1024,
        allowedNamespaces: [],
        allowedWorkspaces: [],
        retryBudgetMs: 6000,
        eventDeadlineMs: 8000,
      },
      routing: {
        defaultNamespace: 'default',
        namespaceDimension: 'namespace',
        ingressClass: 'nginx',
        hostTemplate: '{service}.{namespace}',
        provider: 'nginx',
        gatewayName: undefined,
        gatewayNamespace: undefined,
        mode: 'weight',
        variantHeader: 'x-superposition-variant',
      },
      safety: {
        readinessGate: true,
        maxRestarts: 3,
        resyncIntervalSeconds: 60,
        recordRetentionHours: 720,
        promotionMinAvailablePercent: 100,
        scaleDownDelaySeconds: 30,
        maxReplicas: 100,
      },
      notify: { url: undefined, format: 'json', publicUrl: 'http://localhost:8090' },
      closedLoop: { writeBack: false, autoRamp: {}, autoRampIntervalSeconds: 300 },
      leaderElection: {
        enabled: true,
        identity: expect.stringMatching(/_[0-9a-f]{8}$/),
        leaseDurationSeconds: 15,
        renewDeadlineSeconds: 10,
        retryPeriodSeconds: 2,
      },
    });
  });

  it('treats blank values as unset', () => {
    const config = loadMaydayConfig({ PORT: '', HOST: '  ', DEFAULT_NAMESPACE: '', TRAFFIC_PROVIDER: '', KUBECONFIG: '' });
    expect(config.port).toBe(8090);
    expect(config.host).toBe('0.0.0.0');
    expect(config.routing.defaultNamespace).toBe('default');
    expect(config.routing.provider).toBe('nginx');
    expect(config.kubernetes).toEqual({ mode: 'default', kubeconfig: undefined });
  });
});

describe('loadMaydayConfig with valid values', () => {
  it('reads every setting', () => {
    const config = loadMaydayConfig({
      PORT: ' 9000 ',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
      SUPERPOSITION_URL: 'https://superposition.example.com/api//',
      SUPERPOSITION_TOKEN: 'sp-token',
      SUPERPOSITION_ORG_ID: 'localorg',
      SUPERPOSITION_TIMEOUT_MS: '5000',
      SUPERPOSITION_WORKSPACES: 'localorg/nginxservice, otherorg/nginxservice,localorg/nginxservice',
      WEBHOOK_TOKEN: 'hook-hook-hook-hook-hook-hook-hook',
      WEBHOOK_MAX_BODY_BYTES: '2048',
      ALLOWED_NAMESPACES: ' mumbai, delhi ,,',
      ALLOWED_WORKSPACES: 'nginxservice',
      KUBE_RETRY_BUDGET_MS: '0',
      EVENT_DEADLINE_MS: '2500',
      DEFAULT_NAMESPACE: 'apps',
      NAMESPACE_DIMENSION: 'cluster_ns',
      INGRESS_CLASS: 'public',
      INGRESS_HOST_TEMPLATE: '{service}.{namespace}.example.com',
      TRAFFIC_PROVIDER: 'gateway-api',
      GATEWAY_NAME: 'gw',
      GATEWAY_NAMESPACE: 'gateways',
      ROUTING_MODE: 'both',
      VARIANT_HEADER: 'X-Variant',
      CANARY_READINESS_GATE: 'off',
      CANARY_MAX_RESTARTS: '5',
      RESYNC_INTERVAL_SECONDS: '0',
      RECORD_RETENTION_HOURS: '0',
      PROMOTION_MIN_AVAILABLE_PERCENT: '80',
      SCALE_DOWN_DELAY_SECONDS: '0',
    });
    expect(config.port).toBe(9000);
    expect(config.host).toBe('127.0.0.1');
    expect(config.logLevel).toBe('debug');
    expect(config.superposition).toEqual({
      url: 'https://superposition.example.com/api',
      token: 'sp-token',
      orgId: 'localorg',
      timeoutMs: 5000,
      workspaces: [
        { orgId: 'localorg', workspace: 'nginxservice' },
        { orgId: 'otherorg', workspace: 'nginxservice' },
      ],
    });
    expect(config.webhook).toEqual({
      auth: 'token',
      token: 'hook-hook-hook-hook-hook-hook-hook',
      maxBodyBytes: 2048,
      allowedNamespaces: ['mumbai', 'delhi'],
      allowedWorkspaces: ['nginxservice'],
      retryBudgetMs: 0,
      eventDeadlineMs: 2500,
    });
    expect(config.routing).toEqual({
      defaultNamespace: 'apps',
      namespaceDimension: 'cluster_ns',
      ingressClass: 'public',
      hostTemplate: '{service}.{namespace}.example.com',
      provider: 'gateway-api',
      gatewayName: 'gw',
      gatewayNamespace: 'gateways',
      mode: 'both',
      // Header names are case-insensitive: kept in lower case, as proxies and Gateway API compare them.
      variantHeader: 'x-variant',
    });
    expect(config.safety).toEqual({
      readinessGate: false,
      maxRestarts: 5,
      resyncIntervalSeconds: 0,
      recordRetentionHours: 0,
      promotionMinAvailablePercent: 80,
      scaleDownDelaySeconds: 0,
      maxReplicas: 100,
    });
  });

  it('lists ALLOWED_WORKSPACES in SUPERPOSITION_ORG_ID when SUPERPOSITION_WORKSPACES is unset, and nothing without both', () => {
    expect(loadMaydayConfig({ SUPERPOSITION_ORG_ID: 'org', ALLOWED_WORKSPACES: 'a,b' }).superposition.workspaces).toEqual([
      { orgId: 'org', workspace: 'a' },
      { orgId: 'org', workspace: 'b' },
    ]);
    expect(loadMaydayConfig({ ALLOWED_WORKSPACES: 'a,b' }).superposition.workspaces).toEqual([]);
    expect(loadMaydayConfig({ SUPERPOSITION_ORG_ID: 'org' }).superposition.workspaces).toEqual([]);
  });

  it('names SUPERPOSITION_WORKSPACES entries that are not organisation/workspace, or not in ALLOWED_WORKSPACES', () => {
    expect(() => loadMaydayConfig({ SUPERPOSITION_WORKSPACES: 'nginxservice,org/a/b,/x,org/ok', ALLOWED_WORKSPACES: 'ok,a' })).toThrow(
      new ConfigValidationError([
        'SUPERPOSITION_WORKSPACES: "nginxservice" is not organisation/workspace',
        'SUPERPOSITION_WORKSPACES: "org/a/b" is not organisation/workspace',
        'SUPERPOSITION_WORKSPACES: "/x" is not organisation/workspace',
      ]),
    );
    expect(() => loadMaydayConfig({ SUPERPOSITION_WORKSPACES: 'org/other', ALLOWED_WORKSPACES: 'ok' })).toThrow(
      'SUPERPOSITION_WORKSPACES: workspace "other" is not in ALLOWED_WORKSPACES',
    );
  });

  it('reads a token connection', () => {
    expect(loadMaydayConfig({ K8S_API_SERVER: 'https://10.0.0.1:6443', K8S_TOKEN: 'tok', K8S_CA_FILE: existingFile }).kubernetes).toEqual({
      mode: 'token',
      server: 'https://10.0.0.1:6443',
      token: 'tok',
      caFile: existingFile,
      skipTlsVerify: false,
    });
    expect(
      loadMaydayConfig({ K8S_API_SERVER: 'http://127.0.0.1:8080', K8S_TOKEN: 'tok', K8S_INSECURE_SKIP_TLS_VERIFY: 'true' }).kubernetes,
    ).toEqual({ mode: 'token', server: 'http://127.0.0.1:8080', token: 'tok', caFile: undefined, skipTlsVerify: true });
  });

  it('reads an existing KUBECONFIG, also a list of files', () => {
    expect(loadMaydayConfig({ KUBECONFIG: existingFile }).kubernetes).toEqual({ mode: 'default', kubeconfig: existingFile });
    const list = `${existingFile}${delimiter}${existingFile}`;
    expect(loadMaydayConfig({ KUBECONFIG: list }).kubernetes).toEqual({ mode: 'default', kubeconfig: list });
  });

  it.each([
    ['true', true],
    ['1', true],
    ['YES', true],
    ['on', true],
    ['false', false],
    ['0', false],
    ['No', false],
    ['OFF', false],
  ])('reads the boolean %s as %s', (raw, value) => {
    expect(loadMaydayConfig({ CANARY_READINESS_GATE: raw }).safety.readinessGate).toBe(value);
  });

  it('takes the bounds of PORT', () => {
    expect(loadMaydayConfig({ PORT: '0' }).port).toBe(0);
    expect(loadMaydayConfig({ PORT: '65535' }).port).toBe(65535);
  });
});

describe('loadMaydayConfig refuses bad values, naming the variable', () => {
  it.each([
    [{ PORT: 'abc' }, 'PORT must be an integer from 0 to 65535 (got "abc")'],
    [{ PORT: '65536' }, 'PORT must be an integer from 0 to 65535 (got "65536")'],
    [{ PORT: '80.5' }, 'PORT must be an integer from 0 to 65535 (got "80.5")'],
    [{ PORT: '1e3' }, 'PORT must be an integer from 0 to 65535 (got "1e3")'],
    [{ PORT: '-1' }, 'PORT must be an integer from 0 to 65535 (got "-1")'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")'],
    [{ TRAFFIC_PROVIDER: 'istio' }, 'TRAFFIC_PROVIDER must be one of nginx, gateway-api (got "istio")'],
    [{ K8S_API_SERVER: 'https://10.0.0.1:6443' }, 'K8S_TOKEN is required when K8S_API_SERVER is set'],
    [
      { K8S_API_SERVER: 'http://127.0.0.1:8080', K8S_TOKEN: 't' },
      'K8S_API_SERVER: an http:// server needs K8S_INSECURE_SKIP_TLS_VERIFY=true',
    ],
    [
      { K8S_API_SERVER: 'http://127.0.0.1:8080', K8S_TOKEN: 't', K8S_INSECURE_SKIP_TLS_VERIFY: 'false' },
      'K8S_API_SERVER: an http:// server needs K8S_INSECURE_SKIP_TLS_VERIFY=true',
    ],
    [{ K8S_API_SERVER: 'ftp://host' }, 'K8S_API_SERVER must be an http or https URL (got "ftp://host")'],
    [{ K8S_TOKEN: 't' }, 'K8S_TOKEN is set but K8S_API_SERVER is not'],
    [{ SUPERPOSITION_URL: 'not a url' }, 'SUPERPOSITION_URL must be an http or https URL (got "not a url")'],
    [{ SUPERPOSITION_TIMEOUT_MS: '50' }, 'SUPERPOSITION_TIMEOUT_MS must be an integer from 100 to 60000 (got "50")'],
    [{ EVENT_DEADLINE_MS: '50' }, 'EVENT_DEADLINE_MS must be an integer from 100 to 60000 (got "50")'],
    [{ WEBHOOK_MAX_BODY_BYTES: '10' }, 'WEBHOOK_MAX_BODY_BYTES must be an integer from 1024 to 67108864 (got "10")'],
    [{ RECORD_RETENTION_HOURS: '-1' }, 'RECORD_RETENTION_HOURS must be an integer from 0 to 876000 (got "-1")'],
    [{ PROMOTION_MIN_AVAILABLE_PERCENT: '0' }, 'PROMOTION_MIN_AVAILABLE_PERCENT must be an integer from 1 to 100 (got "0")'],
    [{ SCALE_DOWN_DELAY_SECONDS: '1.5' }, 'SCALE_DOWN_DELAY_SECONDS must be an integer from 0 to 86400 (got "1.5")'],
    [{ CANARY_READINESS_GATE: 'maybe' }, 'CANARY_READINESS_GATE must be true or false (got "maybe")'],
    [{ K8S_INSECURE_SKIP_TLS_VERIFY: 'sure' }, 'K8S_INSECURE_SKIP_TLS_VERIFY must be true or false (got "sure")'],
    [{ DEFAULT_NAMESPACE: 'My_NS' }, 'DEFAULT_NAMESPACE: "My_NS" is not a valid Kubernetes namespace name'],
    [{ DEFAULT_NAMESPACE: 'a'.repeat(64) }, `DEFAULT_NAMESPACE: "${'a'.repeat(64)}" is not a valid Kubernetes namespace name`],
    [
      { INGRESS_HOST_TEMPLATE: '{service}.{env}.example.com' },
      'INGRESS_HOST_TEMPLATE: unknown placeholder {env} (use {service} and {namespace})',
    ],
    [{ INGRESS_HOST_TEMPLATE: '{}.example.com' }, 'INGRESS_HOST_TEMPLATE: unknown placeholder {} (use {service} and {namespace})'],
    [{ TRAFFIC_PROVIDER: 'gateway-api' }, 'GATEWAY_NAME is required when TRAFFIC_PROVIDER=gateway-api'],
    [{ ROUTING_MODE: 'cookie' }, 'ROUTING_MODE must be one of weight, header, both (got "cookie")'],
    [
      { VARIANT_HEADER: 'x_variant' },
      'VARIANT_HEADER: "x_variant" must be an HTTP header name of letters, digits and inner hyphens, at most 256 characters',
    ],
    [
      { VARIANT_HEADER: 'x-variant:' },
      'VARIANT_HEADER: "x-variant:" must be an HTTP header name of letters, digits and inner hyphens, at most 256 characters',
    ],
    [
      { VARIANT_HEADER: 'x'.repeat(257) },
      `VARIANT_HEADER: "${'x'.repeat(257)}" must be an HTTP header name of letters, digits and inner hyphens, at most 256 characters`,
    ],
  ])('%j', (env, problem) => {
    expect(problems(env)).toEqual([problem]);
  });

  it('refuses a K8S_CA_FILE that does not exist', () => {
    expect(problems({ K8S_API_SERVER: 'https://10.0.0.1:6443', K8S_TOKEN: 't', K8S_CA_FILE: missingFile })).toEqual([
      `K8S_CA_FILE: no such file "${missingFile}"`,
    ]);
    expect(problems({ K8S_CA_FILE: existingFile })).toEqual(['K8S_CA_FILE is set but K8S_API_SERVER is not']);
  });

  it('refuses a KUBECONFIG that points to a missing file, naming each missing one', () => {
    expect(problems({ KUBECONFIG: missingFile })).toEqual([`KUBECONFIG: no such file "${missingFile}"`]);
    const other = join(dir, 'other-missing');
    expect(problems({ KUBECONFIG: [existingFile, missingFile, '', other].join(delimiter) })).toEqual([
      `KUBECONFIG: no such file "${missingFile}"`,
      `KUBECONFIG: no such file "${other}"`,
    ]);
  });

  it('reports several problems together', () => {
    const found = problems({
      PORT: 'abc',
      LOG_LEVEL: 'loud',
      K8S_API_SERVER: 'http://127.0.0.1:8080',
      SUPERPOSITION_URL: 'not a url',
      INGRESS_HOST_TEMPLATE: '{service}.{cluster}',
      TRAFFIC_PROVIDER: 'gateway-api',
    });
    expect(found).toEqual([
      'PORT must be an integer from 0 to 65535 (got "abc")',
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
      'K8S_TOKEN is required when K8S_API_SERVER is set',
      'K8S_API_SERVER: an http:// server needs K8S_INSECURE_SKIP_TLS_VERIFY=true',
      'SUPERPOSITION_URL must be an http or https URL (got "not a url")',
      'INGRESS_HOST_TEMPLATE: unknown placeholder {cluster} (use {service} and {namespace})',
      'GATEWAY_NAME is required when TRAFFIC_PROVIDER=gateway-api',
    ]);
  });

  // Reported bug: the http:// check compares the raw text, so an upper-case scheme (which URL accepts
  // as http:) slips past it and an unencrypted, unverified connection is configured silently.
  it('refuses an upper-case HTTP:// server without K8S_INSECURE_SKIP_TLS_VERIFY', () => {
    expect(problems({ K8S_API_SERVER: 'HTTP://127.0.0.1:8080', K8S_TOKEN: 't' })).toEqual([
      'K8S_API_SERVER: an http:// server needs K8S_INSECURE_SKIP_TLS_VERIFY=true',
    ]);
  });
});

describe('closed by default (WEBHOOK_AUTH, WEBHOOK_TOKEN, METRICS_AUTH)', () => {
  it('refuses to start without WEBHOOK_TOKEN, naming it and the way out', () => {
    const [problem] = problems({ WEBHOOK_TOKEN: undefined });
    expect(problem).toMatch(/^WEBHOOK_TOKEN is required/);
    expect(problem).toContain('WEBHOOK_AUTH=none');
  });

  it('refuses a token shorter than 32 characters', () => {
    expect(problems({ WEBHOOK_TOKEN: 'x'.repeat(31) })).toEqual([
      expect.stringMatching(/^WEBHOOK_TOKEN is 31 characters long; it must have at least 32/),
    ]);
    expect(loadExactly({ WEBHOOK_TOKEN: 'x'.repeat(32) }).webhook.token).toBe('x'.repeat(32));
  });

  it('refuses every placeholder the repository ever shipped, whatever its length', () => {
    expect(problems({ WEBHOOK_TOKEN: 'change-me-to-a-long-random-string' })).toEqual([
      expect.stringMatching(/^WEBHOOK_TOKEN is a placeholder/),
    ]);
  });

  it('runs open only with WEBHOOK_AUTH=none, and never with a token at the same time', () => {
    expect(loadExactly({ WEBHOOK_AUTH: 'none' }).webhook).toMatchObject({ auth: 'none', token: undefined });
    expect(problems({ WEBHOOK_AUTH: 'none', WEBHOOK_TOKEN: TOKEN })).toEqual([
      'WEBHOOK_AUTH=none but WEBHOOK_TOKEN is set: unset one of them',
    ]);
    expect(problems({ WEBHOOK_AUTH: 'off' })[0]).toMatch(/^WEBHOOK_AUTH must be one of token, none/);
  });

  it('puts /metrics behind the token with METRICS_AUTH=token, which needs the token', () => {
    expect(loadMaydayConfig({ METRICS_AUTH: 'token' }).metrics).toEqual({ auth: 'token' });
    expect(problems({ WEBHOOK_AUTH: 'none', METRICS_AUTH: 'token' })).toEqual([
      expect.stringMatching(/^METRICS_AUTH=token needs WEBHOOK_TOKEN/),
    ]);
  });
});

describe('closing the loop (SUPERPOSITION_WRITE_BACK, AUTO_RAMP, AUTO_RAMP_INTERVAL_SECONDS)', () => {
  const url = { SUPERPOSITION_URL: 'http://superposition.example' };

  it('writes back by default when SUPERPOSITION_URL is set, and not without it', () => {
    expect(loadMaydayConfig(url).closedLoop.writeBack).toBe(true);
    expect(loadMaydayConfig({}).closedLoop.writeBack).toBe(false);
    expect(loadMaydayConfig({ ...url, SUPERPOSITION_WRITE_BACK: 'false' }).closedLoop.writeBack).toBe(false);
    expect(problems({ SUPERPOSITION_WRITE_BACK: 'true' })).toEqual([
      'SUPERPOSITION_WRITE_BACK=true needs SUPERPOSITION_URL (where to write)',
    ]);
    expect(problems({ ...url, SUPERPOSITION_WRITE_BACK: 'maybe' })).toEqual([
      'SUPERPOSITION_WRITE_BACK must be true or false (got "maybe")',
    ]);
  });

  it('reads the ramp steps per workspace and the interval', () => {
    const config = loadMaydayConfig({ ...url, AUTO_RAMP: ' checkout = 5, 10,25,50 ; other=1,100;', AUTO_RAMP_INTERVAL_SECONDS: '30' });
    expect(config.closedLoop).toEqual({
      writeBack: true,
      autoRamp: { checkout: [5, 10, 25, 50], other: [1, 100] },
      autoRampIntervalSeconds: 30,
    });
  });

  it.each([
    ['checkout', 'AUTO_RAMP: "checkout" is not workspace=step,step,... (e.g. checkout=5,10,25,50)'],
    ['checkout=5,10,10', 'AUTO_RAMP: the steps of workspace "checkout" (5,10,10) must increase'],
    ['checkout=10,5', 'AUTO_RAMP: the steps of workspace "checkout" (10,5) must increase'],
    ['checkout=0,5', 'AUTO_RAMP: step "0" of workspace "checkout" must be an integer from 1 to 100 (a per-variant traffic percentage)'],
    ['checkout=5,101', 'AUTO_RAMP: step "101" of workspace "checkout" must be an integer from 1 to 100 (a per-variant traffic percentage)'],
    ['checkout=5,7.5', 'AUTO_RAMP: step "7.5" of workspace "checkout" must be an integer from 1 to 100 (a per-variant traffic percentage)'],
    ['checkout=5,,10', 'AUTO_RAMP: step "" of workspace "checkout" must be an integer from 1 to 100 (a per-variant traffic percentage)'],
    ['checkout=5;checkout=10', 'AUTO_RAMP: workspace "checkout" is named twice or is not a workspace id'],
    ['__proto__=5', 'AUTO_RAMP: workspace "__proto__" is named twice or is not a workspace id'],
  ])('refuses AUTO_RAMP=%s', (value, problem) => {
    expect(problems({ ...url, AUTO_RAMP: value })).toEqual([problem]);
  });

  it('refuses an AUTO_RAMP workspace outside ALLOWED_WORKSPACES, or without write-back or the readiness gate', () => {
    expect(problems({ ...url, ALLOWED_WORKSPACES: 'a', AUTO_RAMP: 'b=5' })).toEqual([
      'AUTO_RAMP: workspace "b" is not in ALLOWED_WORKSPACES',
    ]);
    expect(problems({ AUTO_RAMP: 'a=5' })).toEqual(['AUTO_RAMP needs SUPERPOSITION_WRITE_BACK (a ramp is a write to Superposition)']);
    expect(problems({ ...url, AUTO_RAMP: 'a=5', CANARY_READINESS_GATE: 'false' })).toEqual([
      'AUTO_RAMP needs CANARY_READINESS_GATE=true (without it Mayday cannot tell a healthy canary)',
    ]);
    expect(problems({ ...url, AUTO_RAMP_INTERVAL_SECONDS: '0' })).toEqual([
      'AUTO_RAMP_INTERVAL_SECONDS must be an integer from 1 to 86400 (got "0")',
    ]);
  });
});

describe('canary analysis (ANALYSIS_*)', () => {
  const analysis = {
    ANALYSIS_PROMETHEUS_URL: 'http://prometheus.monitoring:9090/',
    ANALYSIS_QUERY: 'max(errors{namespace="{namespace}",variant="{variant}",svc="{service}",d="{deployment}"})',
    ANALYSIS_MAX: '0.05',
  };

  it('is off without ANALYSIS_PROMETHEUS_URL, and reads every setting with it', () => {
    expect(loadMaydayConfig({}).analysis).toBeUndefined();
    expect(loadMaydayConfig({ ...analysis, ANALYSIS_INTERVAL_SECONDS: '10', ANALYSIS_NO_DATA_FAILS_AFTER_SECONDS: '0' }).analysis).toEqual({
      prometheusUrl: 'http://prometheus.monitoring:9090',
      query: analysis.ANALYSIS_QUERY,
      max: 0.05,
      intervalSeconds: 10,
      noDataFailsAfterSeconds: 0,
    });
    expect(loadMaydayConfig(analysis).analysis).toMatchObject({ intervalSeconds: 30, noDataFailsAfterSeconds: 600 });
  });

  it('names what is missing or wrong', () => {
    expect(problems({ ANALYSIS_QUERY: 'x' })).toEqual(['ANALYSIS_QUERY is set but ANALYSIS_PROMETHEUS_URL is not']);
    expect(problems({ ...analysis, ANALYSIS_QUERY: '', ANALYSIS_MAX: 'high' })).toEqual([
      'ANALYSIS_QUERY is required when ANALYSIS_PROMETHEUS_URL is set (PromQL with {namespace}, {service}, {variant}, {deployment})',
      'ANALYSIS_MAX must be a number (the value above which a canary fails; got "high")',
    ]);
    expect(problems({ ...analysis, ANALYSIS_QUERY: 'x{a="{pod}"}' })).toEqual([
      'ANALYSIS_QUERY: unknown placeholder {pod} (use {namespace}, {service}, {variant}, {deployment})',
    ]);
    expect(problems({ ...analysis, CANARY_READINESS_GATE: 'false' })).toEqual([
      'ANALYSIS_PROMETHEUS_URL needs CANARY_READINESS_GATE=true (a failed analysis takes the canary out the same way)',
    ]);
    expect(problems({ ...analysis, ANALYSIS_PROMETHEUS_URL: 'ftp://x' })).toEqual([
      'ANALYSIS_PROMETHEUS_URL must be an http or https URL (got "ftp://x")',
      'ANALYSIS_QUERY is set but ANALYSIS_PROMETHEUS_URL is not',
    ]);
  });
});

describe("Mayday's namespace (MAYDAY_NAMESPACE, POD_NAMESPACE)", () => {
  it('is MAYDAY_NAMESPACE, else the downward API POD_NAMESPACE, else mayday-system', () => {
    expect(loadMaydayConfig({ MAYDAY_NAMESPACE: 'ops', POD_NAMESPACE: 'pod-ns' }).maydayNamespace).toBe('ops');
    expect(loadMaydayConfig({ POD_NAMESPACE: 'pod-ns' }).maydayNamespace).toBe('pod-ns');
    expect(loadMaydayConfig({}).maydayNamespace).toBe('mayday-system');
  });

  it('must be a namespace name', () => {
    expect(problems({ WEBHOOK_TOKEN: TOKEN, MAYDAY_NAMESPACE: 'Not_A_Namespace' })).toEqual([
      'MAYDAY_NAMESPACE: "Not_A_Namespace" is not a valid Kubernetes namespace name',
    ]);
  });

  it('reads MAX_REPLICAS (default 100)', () => {
    expect(loadMaydayConfig({ MAX_REPLICAS: '7' }).safety.maxReplicas).toBe(7);
    expect(problems({ WEBHOOK_TOKEN: TOKEN, MAX_REPLICAS: '0' })[0]).toMatch(/^MAX_REPLICAS must be an integer from 1 to 10000/);
  });
});

describe('notifications (NOTIFY_URL, NOTIFY_FORMAT, MAYDAY_PUBLIC_URL)', () => {
  it('are off by default, JSON when on, and link to the page on localhost unless told otherwise', () => {
    expect(loadMaydayConfig({}).notify).toEqual({ url: undefined, format: 'json', publicUrl: 'http://localhost:8090' });
    const config = loadMaydayConfig({
      NOTIFY_URL: 'https://hooks.example/T1/B2',
      NOTIFY_FORMAT: 'slack',
      MAYDAY_PUBLIC_URL: 'https://mayday.example/',
    });
    expect(config.notify).toEqual({ url: 'https://hooks.example/T1/B2', format: 'slack', publicUrl: 'https://mayday.example' });
  });

  it('names each bad variable, all at once', () => {
    expect(problems({ WEBHOOK_TOKEN: TOKEN, NOTIFY_URL: 'hooks.example', NOTIFY_FORMAT: 'teams', MAYDAY_PUBLIC_URL: 'ftp://x' })).toEqual([
      'NOTIFY_URL must be an http or https URL (got "hooks.example")',
      'NOTIFY_FORMAT must be one of json, slack (got "teams")',
      'MAYDAY_PUBLIC_URL must be an http or https URL (got "ftp://x")',
    ]);
  });
});

describe('leader election settings', () => {
  it("defaults to client-go's 15 / 10 / 2 s and names this replica after POD_NAME with a random suffix", () => {
    const config = loadMaydayConfig({ POD_NAME: 'mayday-7d9f-abcde' });
    expect(config.leaderElection).toMatchObject({ leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 });
    expect(config.leaderElection.identity).toMatch(/^mayday-7d9f-abcde_[0-9a-f]{8}$/);
    expect(loadMaydayConfig({ POD_NAME: 'same' }).leaderElection.identity).not.toBe(config.leaderElection.identity);
    expect(loadMaydayConfig({ LEADER_ELECTION: 'false' }).leaderElection.enabled).toBe(false);
  });

  it('refuses a renew deadline not under the lease duration, and a retry period not under the renew deadline', () => {
    expect(problems({ WEBHOOK_TOKEN: TOKEN, LEASE_DURATION_SECONDS: '10', RENEW_DEADLINE_SECONDS: '10' })).toEqual([
      'RENEW_DEADLINE_SECONDS (10) must be less than LEASE_DURATION_SECONDS (10)',
    ]);
    expect(problems({ WEBHOOK_TOKEN: TOKEN, RENEW_DEADLINE_SECONDS: '3', RETRY_PERIOD_SECONDS: '3' })).toEqual([
      'RETRY_PERIOD_SECONDS (3) must be less than RENEW_DEADLINE_SECONDS (3)',
    ]);
    expect(problems({ WEBHOOK_TOKEN: TOKEN, LEASE_DURATION_SECONDS: '1' })[0]).toMatch(/^LEASE_DURATION_SECONDS must be an integer from 2/);
    expect(
      loadMaydayConfig({ LEASE_DURATION_SECONDS: '4', RENEW_DEADLINE_SECONDS: '3', RETRY_PERIOD_SECONDS: '1' }).leaderElection,
    ).toMatchObject({
      leaseDurationSeconds: 4,
      renewDeadlineSeconds: 3,
      retryPeriodSeconds: 1,
    });
  });
});

describe('documentation of the configuration', () => {
  const source = readFileSync(join(__dirname, '../../src/config/mayday-config.ts'), 'utf8');
  const variables = [...new Set([...source.matchAll(/read\.\w+\('([A-Z0-9_]+)'/g)].map(([, name]) => name))];

  it('finds the variables the code reads', () => {
    expect(variables).toEqual(expect.arrayContaining(['PORT', 'SUPERPOSITION_URL', 'RECORD_RETENTION_HOURS']));
    expect(variables.length).toBeGreaterThan(20);
  });

  it.each(['.env.example', 'README.md'])('%s names every variable', (file) => {
    const text = readFileSync(join(__dirname, '../..', file), 'utf8');
    expect(variables.filter((name) => !new RegExp(`\\b${name}\\b`).test(text))).toEqual([]);
  });
});
