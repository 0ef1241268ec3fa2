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
}

/** The project's own script: etcd + kube-apiserver on free loopback ports, in a fresh run folder. */
export async function startControlPlane(): Promise<ControlPlane> {
  const cacheDir = process.env.MAYDAY_CACHE_DIR ?? join(homedir(), '.cache', 'mayday');
  const runDir = mkdtempSync(join(process.env.MAYDAY_RUN_ROOT ?? tmpdir(), 'mayday-kube-'));
  await script(['start', runDir], cacheDir);
  return readControlPlane(runDir);
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
function script(args: string[], cacheDir?: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [SCRIPT, ...args], {
      env: { ...process.env, ...(cacheDir ? { MAYDAY_CACHE_DIR: cacheDir } : {}) },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`kube-control-plane.sh ${args.join(' ')} exited with ${code}`)),
    );
  });
}
