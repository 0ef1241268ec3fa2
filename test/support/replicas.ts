import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { controlPlane, maydayToken } from './control-plane';
import { eventually } from './eventually';
import { MAYDAY_NAMESPACE, type Environment, type Reply } from './mayday';
import { closedPort } from './ports';

const ROOT = resolve(__dirname, '../..');
/** Where this suite compiles Mayday (its own folder: `npm run build` or another test may be writing dist/ meanwhile). */
const BUILD = join(ROOT, '.cache', 'replicas-e2e');

/** Compiles src/ as the production build does (tsconfig.build.json, and nest-cli.json's assets), once per run of the file. */
export function buildMayday(): string {
  const result = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(BUILD, 'dist')],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 300_000,
    },
  );
  if (result.status !== 0) throw new Error(`tsc failed: ${result.stdout}\n${result.stderr}`);
  // The assets nest-cli.json copies at `npm run build` (the rollout page's files).
  cpSync(join(ROOT, 'src', 'ui', 'public'), join(BUILD, 'dist', 'ui', 'public'), { recursive: true });
  return join(BUILD, 'dist', 'main.js');
}

/** One Mayday process, as a pod runs it (`node dist/main.js`), that a test can SIGTERM or SIGKILL. */
export class MaydayProcess {
  private child?: ChildProcess;
  private exit?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private starts = 0;
  url = '';

  constructor(
    /** Its POD_NAME: the Lease names it (with a random suffix) while it leads. */
    readonly name: string,
    private readonly main: string,
    private readonly env: Environment,
  ) {}

  async start(): Promise<this> {
    const port = await closedPort();
    this.url = `http://127.0.0.1:${port}`;
    const plane = controlPlane();
    mkdirSync(BUILD, { recursive: true });
    // One log per test run: a restart of the same replica appends to it.
    const log = createWriteStream(this.logFile, { flags: this.starts++ === 0 ? 'w' : 'a' });
    const child = spawn(process.execPath, [this.main], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        K8S_API_SERVER: plane.apiServer,
        K8S_TOKEN: maydayToken(plane),
        K8S_CA_FILE: join(plane.runDir, 'certs', 'apiserver.crt'),
        MAYDAY_NAMESPACE,
        WEBHOOK_AUTH: 'none',
        LOG_LEVEL: 'info',
        HOST: '127.0.0.1',
        PORT: String(port),
        POD_NAME: this.name,
        SCALE_DOWN_DELAY_SECONDS: '0',
        RESYNC_INTERVAL_SECONDS: '0',
        EVENT_DEADLINE_MS: '30000',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    this.child = child;
    this.exit = new Promise((resolveExit) => child.on('exit', (code, signal) => resolveExit({ code, signal })));
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode}: see ${this.logFile}`);
      const ready = await this.get('/health/ready');
      if (ready.status !== 200) throw new Error(`${this.name} not ready: ${JSON.stringify(ready.body)}`);
    }, 180_000); // a loaded 2-core machine can take minutes to load the modules
    return this;
  }

  get logFile(): string {
    return join(BUILD, `${this.name}.log`);
  }

  /** The log lines this process wrote (JSON, one per line). */
  logLines(): Record<string, unknown>[] {
    return readFileSync(this.logFile, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends the signal and waits for the process to exit; resolves with how it ended. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return { code: this.child?.exitCode ?? null, signal: this.child?.signalCode ?? null };
    this.child!.kill(signal);
    return this.exit!;
  }

  post(path: string, body: unknown): Promise<Reply> {
    return this.call('POST', path, body);
  }

  get(path: string): Promise<Reply> {
    return this.call('GET', path);
  }

  private async call(method: string, path: string, body?: unknown): Promise<Reply> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep the text
    }
    return { status: response.status, body: parsed as any, headers: response.headers };
  }
}

/** The Lease mayday-leader as the API server has it (read as the test's admin). */
export async function leaderLease(): Promise<{ holder: string; transitions: number } | undefined> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(controlPlane().kubeconfig);
  try {
    const lease = await kubeConfig
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ namespace: MAYDAY_NAMESPACE, name: 'mayday-leader' });
    return { holder: lease.spec?.holderIdentity ?? '', transitions: lease.spec?.leaseTransitions ?? 0 };
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

/** Which of the processes holds the Lease now (its holderIdentity is POD_NAME and a suffix). */
export async function currentLeader(replicas: MaydayProcess[]): Promise<MaydayProcess | undefined> {
  const lease = await leaderLease();
  return replicas.find((replica) => lease?.holder.startsWith(`${replica.name}_`));
}
