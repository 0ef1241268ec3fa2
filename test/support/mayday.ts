import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { delimiter, join } from 'node:path';
import { controlPlane, maydayToken } from './control-plane';
import { AppModule } from '../../src/app.module';
import { configureApp, createApp } from '../../src/bootstrap';
import { MAYDAY_NAMESPACE } from './mayday-rbac';

export { MAYDAY_NAMESPACE };

export interface Reply {
  status: number;
  body: any;
  headers?: Headers;
}

export interface RunningMayday {
  app: INestApplication;
  url: string;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Reply>;
  get(path: string, headers?: Record<string, string>): Promise<Reply>;
  close(): Promise<void>;
}

export type Environment = Record<string, string | undefined>;

/**
 * Unless a test gives its own connection, Mayday talks to the test's API server as the ServiceAccount
 * of deploy/ (a token from the TokenRequest API, exactly deploy/'s RBAC), keeps its records in
 * mayday-system, and runs without webhook authentication unless the test sets WEBHOOK_TOKEN.
 */
function withDefaults(env: Environment): Environment {
  const plane = controlPlane();
  const ownConnection = env.KUBECONFIG !== undefined || env.K8S_API_SERVER !== undefined;
  return {
    ...(ownConnection
      ? {}
      : { K8S_API_SERVER: plane.apiServer, K8S_TOKEN: maydayToken(plane), K8S_CA_FILE: join(plane.runDir, 'certs', 'apiserver.crt') }),
    MAYDAY_NAMESPACE,
    WEBHOOK_AUTH: env.WEBHOOK_TOKEN === undefined ? 'none' : undefined,
    LOG_LEVEL: 'fatal',
    PORT: '0',
    HOST: '127.0.0.1',
    // The readiness gate is on (its default): the test cluster's controllers and hollow nodes make
    // Deployments available. Tests of the scale-down delay set their own; the others see the
    // promotion's deletions at once. Tests of the resync turn it on.
    SCALE_DOWN_DELAY_SECONDS: '0',
    RESYNC_INTERVAL_SECONDS: '0',
    // The shared 2-core test machine can be slow enough to pass the 8 s default; the deadline's own tests set theirs.
    EVENT_DEADLINE_MS: '30000',
    // Each in-process Mayday of a file is a whole installation with settings of its own (some files run
    // several at once, with different scopes): none waits for a Lease. test/e2e/replicas.e2e-spec.ts runs
    // real replicas (separate processes) that elect a leader.
    LEADER_ELECTION: 'false',
    ...env,
  };
}

/**
 * Mayday as main.ts starts it (same bootstrap), on a free loopback port, configured only by the
 * given environment (plus KUBECONFIG for the test's API server unless overridden).
 */
export async function startMayday(env: Environment = {}, options: { logDestination?: NodeJS.WritableStream } = {}): Promise<RunningMayday> {
  await ensureMaydayNamespace(env);
  return listen(await createApp({ env: withDefaults(env), logDestination: options.logDestination }));
}

/** The same, with providers overridden (fault injection); everything else as in production. */
export async function startMaydayWith(
  env: Environment,
  override: (builder: TestingModuleBuilder) => TestingModuleBuilder,
): Promise<RunningMayday> {
  await ensureMaydayNamespace(env);
  const moduleRef = await override(Test.createTestingModule({ imports: [AppModule.forRoot({ env: withDefaults(env) })] })).compile();
  // The options of createApp (src/bootstrap.ts) that matter here, shutdown included.
  const app = moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false, logger: false, return503OnClosing: true });
  return listen(configureApp(app));
}

/** A test that points Mayday at its own API server (as admin) gets Mayday's namespace created there. */
async function ensureMaydayNamespace(env: Environment): Promise<void> {
  if (!env.KUBECONFIG) return;
  const kubeConfig = new KubeConfig();
  try {
    kubeConfig.loadFromFile(env.KUBECONFIG.split(delimiter)[0]);
    await kubeConfig
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name: env.MAYDAY_NAMESPACE ?? MAYDAY_NAMESPACE } } })
      .catch(() => undefined);
  } catch {
    // an unreadable kubeconfig is the test's own business (Mayday will report it)
  }
}

async function listen(app: NestExpressApplication): Promise<RunningMayday> {
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
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
    return { status: response.status, body: parsed as any, headers: response.headers };
  };
  return {
    app,
    url,
    post: (path, body, headers) => call('POST', path, body, headers),
    get: (path, headers) => call('GET', path, undefined, headers),
    close: () => app.close(),
  };
}

/**
 * Delivers like Superposition does (docs/contract.md §1): any 2xx is delivered, anything else is
 * retried after 1 s, 2 s, 4 s ... up to 30 s, at most `maxRetries` times. Returns every answer.
 */
export async function deliverLikeSuperposition(send: () => Promise<Reply>, { maxRetries = 3, firstDelayMs = 1000 } = {}): Promise<Reply[]> {
  const answers: Reply[] = [];
  for (let attempt = 0; attempt <= maxRetries; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, firstDelayMs * 2 ** (attempt - 1))));
    const answer = await send().catch((error: Error) => ({ status: 0, body: error.message }));
    answers.push(answer);
    if (answer.status >= 200 && answer.status < 300) break;
  }
  return answers;
}
