/**
 * What `npm run bench` and its scale run share: the checkout, the local control plane, the clean-up
 * registry (also on failure and Ctrl-C), settings from the environment, and the description of the
 * build and the machine every result file carries.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { round } from './stats';

export function findRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts', 'kube-control-plane.sh'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no Mayday checkout above ${start}`);
  }
}

export const root = findRoot(__dirname);

export function intFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return value;
}

export function readEnvFile(path: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/**
 * Starts or stops the local control plane in `runDir`: a bare API server (KUBE_NODES=0, as every
 * figure of `npm run bench` was measured: the readiness gate is off there) unless KUBE_NODES says otherwise.
 */
export function controlPlane(action: 'start' | 'stop', runDir: string, env: Record<string, string> = {}): void {
  const script = join(root, 'scripts', 'kube-control-plane.sh');
  const result = spawnSync('bash', [script, action, runDir], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, KUBE_NODES: process.env.KUBE_NODES ?? '0', ...env },
  });
  if (result.status !== 0) throw new Error(`kube-control-plane.sh ${action} failed (exit ${result.status ?? result.signal})`);
}

/** Which Mayday was measured: the commit, and whether src/ differed from it. */
export function gitState(): { commit?: string; branch?: string; srcModified?: boolean } {
  const run = (args: string[]) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  const head = run(['rev-parse', 'HEAD']);
  if (head.status !== 0) return {};
  return {
    commit: head.stdout.trim(),
    branch: run(['rev-parse', '--abbrev-ref', 'HEAD']).stdout.trim(),
    srcModified: run(['status', '--porcelain', '--', 'src']).stdout.trim() !== '',
  };
}

export interface Machine {
  cpu: string;
  cores: number;
  totalMemoryGb: number;
  os: string;
  node: string;
  kubeApiserver?: string;
  /** 1, 5 and 15 minute load averages when the run started and when it ended: above ~0.5 x cores, others shared the machine. */
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
}

export function machine(kubeApiserver?: string): Machine {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    totalMemoryGb: round(totalmem() / 1024 ** 3, 1),
    os: `${platform()} ${release()}`,
    node: process.version,
    kubeApiserver,
    loadAverageAtStart: loadAverage(),
  };
}

export function loadAverage(): number[] {
  return loadavg().map((value) => round(value, 2));
}

export function describeMachine(m: Machine): string {
  const load = `load average ${m.loadAverageAtStart.join(' / ')} at start, ${m.loadAverageAtEnd?.join(' / ') ?? '-'} at end`;
  return `${m.cpu}, ${m.cores} cores, ${m.totalMemoryGb} GB, ${m.os}, Node ${m.node}, kube-apiserver ${m.kubeApiserver ?? '-'}; ${load}`;
}

// ---------------------------------------------------------------------------------------------
// Clean-up, also on failure and Ctrl-C

const cleanups: { name: string; run: () => void | Promise<void> }[] = [];
let cleaning: Promise<void> | undefined;
/** The folder with the control plane's state and Mayday's logs: removed after a successful run, kept (and named) otherwise. */
let keptDir: string | undefined;

export function onCleanup(name: string, run: () => void | Promise<void>): void {
  cleanups.push({ name, run });
}

export function setRunDir(dir: string): void {
  keptDir = dir;
}

/** Runs the registered clean-ups, last registered first (once; later calls wait for the first). */
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const step = cleanups.pop()!;
      try {
        await step.run();
      } catch (error) {
        console.error(`clean-up (${step.name}) failed: ${(error as Error).message}`);
      }
    }
  })();
  return cleaning;
}

export async function finish(code: number): Promise<never> {
  await cleanup();
  if (keptDir && code === 0) rmSync(keptDir, { recursive: true, force: true });
  else if (keptDir) console.error(`control-plane logs and Mayday's logs kept in ${keptDir}`);
  process.exit(code);
}

/** Runs `main`, cleaning up on its end, on failure and on SIGINT / SIGTERM. */
export function runMain(main: () => Promise<number>): void {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.on(signal, () => {
      console.error(`\n${signal}: stopping Mayday and the control plane`);
      void finish(code);
    });
  }
  main().then(finish, (error: unknown) => {
    console.error(`bench failed: ${(error as Error)?.stack ?? String(error)}`);
    return finish(1);
  });
}

/** One line, at most 300 characters (client-node's errors carry the whole answer, headers included). */
export function oneLine(text: string): string {
  const line = text
    .replace(/\s*\n\s*/g, ' ')
    .replace(/Headers: \{.*$/, '')
    .trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
