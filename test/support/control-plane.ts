import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
const SCRIPT = resolve(__dirname, '../../scripts/kube-control-plane.sh');

export interface ControlPlane {
  runDir: string;
  kubeconfig: string;
  apiServer: string;
  adminToken: string;
  limitedToken: string;
  /** A token of the ServiceAccount deploy/ installs, with exactly deploy/'s RBAC (set by file-cluster.ts): how e2e Maydays log in. */
  maydayToken?: string;
}

/** Simulated nodes a test cluster gets (the script's KUBE_NODES), unless the test asks otherwise. */
export const TEST_NODES = 2;

/**
 * The project's own script, in a fresh run folder: etcd, kube-apiserver, and (unless `nodes` is 0)
 * kube-controller-manager, kube-scheduler and `nodes` hollow nodes, on free loopback ports.
 */
export async function startControlPlane(options: { nodes?: number } = {}): Promise<ControlPlane> {
  const cacheDir = process.env.MAYDAY_CACHE_DIR ?? join(homedir(), '.cache', 'mayday');
  const runDir = mkdtempSync(join(process.env.MAYDAY_RUN_ROOT ?? tmpdir(), 'mayday-kube-'));
  await script(['start', runDir], cacheDir, { KUBE_NODES: String(options.nodes ?? TEST_NODES) });
  return readControlPlane(runDir);
}

const CURRENT = Symbol.for('mayday.e2e.controlPlane');

/** The cluster this test file runs against (started by test/support/file-cluster.ts). */
export function controlPlane(): ControlPlane {
  const plane = (globalThis as Record<symbol, ControlPlane | undefined>)[CURRENT];
  if (!plane) throw new Error('no control plane: e2e files run with test/support/file-cluster.ts as a setup file');
  return plane;
}

/** The token e2e Maydays log in with: deploy/'s ServiceAccount, installed in every file's cluster. */
export function maydayToken(plane: ControlPlane = controlPlane()): string {
  if (!plane.maydayToken) throw new Error("no Mayday ServiceAccount token: file-cluster.ts installs deploy/'s RBAC");
  return plane.maydayToken;
}

export function setControlPlane(plane: ControlPlane | undefined): void {
  (globalThis as Record<symbol, ControlPlane | undefined>)[CURRENT] = plane;
}

export function readControlPlane(runDir: string): ControlPlane {
  const env = Object.fromEntries(
    readFileSync(join(runDir, 'env'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  return {
    runDir,
    kubeconfig: env.KUBECONFIG,
    apiServer: env.API_SERVER,
    adminToken: env.ADMIN_TOKEN,
    limitedToken: env.LIMITED_TOKEN,
  };
}

export async function stopControlPlane(plane: ControlPlane): Promise<void> {
  await script(['stop', plane.runDir]);
  rmSync(plane.runDir, { recursive: true, force: true });
}

/** Fault injection: the API server goes away while etcd keeps the data. */
export async function stopApiServer(plane: ControlPlane): Promise<void> {
  await script(['stop-apiserver', plane.runDir]);
}

export async function startApiServer(plane: ControlPlane): Promise<void> {
  await script(['start-apiserver', plane.runDir]);
}

/** Runs the script with its progress on our stderr (a first build takes minutes and should show). */
function script(args: string[], cacheDir?: string, env: Record<string, string> = {}): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [SCRIPT, ...args], {
      env: { ...process.env, ...(cacheDir ? { MAYDAY_CACHE_DIR: cacheDir } : {}), ...env },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`kube-control-plane.sh ${args.join(' ')} exited with ${code}`)),
    );
  });
}
