import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { controlPlane } from '../support/control-plane';
import { eventually } from '../support/eventually';
import { experiment, experimentId, webhook } from '../support/payloads';
import { closedPort } from '../support/ports';

/**
 * The real Dockerfile, built and run: scripts/container-image.sh makes a local Debian bookworm base
 * with the pinned Node.js (no registry is reachable here), builds the Dockerfile on it with podman,
 * and runs the image's own Cmd as its User on a read-only root (chroot: `podman run` cannot work in
 * this sandbox). Runs in the `image` Vitest project, after the other e2e files (the build takes
 * minutes of both cores the first time).
 */
const ROOT = resolve(__dirname, '../..');
const SCRIPT = join(ROOT, 'scripts', 'container-image.sh');
const TAG = 'localhost/mayday:e2e';
const PINNED_NODE: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).devDependencies.node;

/** Runs the script to completion, its progress on our stderr; resolves with its standard output. */
function script(args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolvePromise(out.trim()) : reject(new Error(`container-image.sh ${args.join(' ')} exited ${code}`)),
    );
  });
}

/** The process running Mayday's main.js with the given PORT in its environment (the image's own process). */
function findImageProcess(port: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!cmdline.includes('dist/main.js')) continue;
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`PORT=${port}`)) return Number(entry);
    } catch {
      // the process ended meanwhile
    }
  }
  throw new Error(`no process of the image with PORT=${port}`);
}

describe('the container image (Dockerfile built with podman, run as its Cmd)', () => {
  const cluster = new Cluster();
  // Webhook authentication with a token as production would have it (>= 32 random characters).
  const token = randomBytes(32).toString('base64url');
  let namespace: string;
  let port: number;
  let url: string;
  let running: ChildProcess | undefined;
  let exited: Promise<number | null>;
  let output = '';

  beforeAll(async () => {
    const started = Date.now();
    await script(['build', TAG]);
    const size = Number(await script(['size', TAG]));
    process.stderr.write(`[image] ${TAG} built in ${((Date.now() - started) / 1000).toFixed(0)} s, ${(size / 1e6).toFixed(0)} MB\n`);

    namespace = await cluster.createNamespace('image');
    port = await closedPort();
    url = `http://127.0.0.1:${port}`;
    const plane = controlPlane();
    running = spawn(
      'bash',
      [
        SCRIPT,
        'run',
        TAG,
        `PORT=${port}`,
        'HOST=127.0.0.1',
        `K8S_API_SERVER=${plane.apiServer}`,
        `K8S_TOKEN=${plane.adminToken}`,
        'K8S_INSECURE_SKIP_TLS_VERIFY=true',
        `WEBHOOK_TOKEN=${token}`,
        `ALLOWED_NAMESPACES=${namespace}`,
        // The first answers only: the gate (tested elsewhere) would hold them for the hollow nodes.
        'CANARY_READINESS_GATE=false',
        'RESYNC_INTERVAL_SECONDS=0',
        'LOG_LEVEL=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    running.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    exited = new Promise((resolvePromise) => running!.on('exit', (code) => resolvePromise(code)));
    await eventually(async () => {
      if (running!.exitCode !== null) throw new Error(`the image exited with ${running!.exitCode}:\n${output}`);
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
      // Generous: on a 2-core machine shared with other suites, Node's start has taken up to a minute.
    }, 180_000);
  }, 45 * 60_000);

  afterAll(async () => {
    if (!running || running.exitCode !== null) return;
    running.kill('SIGTERM');
    await exited;
  }, 30_000);

  it('runs the Cmd of the image on the pinned Node.js, as uid 1000, on a read-only root', async () => {
    const pid = findImageProcess(port);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    expect(cmdline).toEqual(['node', '--max-semi-space-size=2', 'dist/main.js']);
    const uids = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1].split(/\s+/);
    expect(uids).toEqual(['1000', '1000', '1000', '1000']);
    const rootMount = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
      .split('\n')
      .map((line) => line.split(' '))
      .find((fields) => fields[4] === '/');
    expect(rootMount?.[5].split(',')).toContain('ro');
    // The image's Node.js, as the process reports it (prom-client's default metrics).
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain(`mayday_nodejs_version_info{version="v${PINNED_NODE}"`);
  });

  it('answers /health/live and /health/ready against the test cluster', async () => {
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    const ready = await eventually(async () => {
      const answer = await fetch(`${url}/health/ready`);
      expect(answer.status).toBe(200);
      return (await answer.json()) as any;
    }, 30_000);
    expect(ready.info.kubernetes.status).toBe('up');
  });

  it('applies a webhook sent with the token, and refuses one without it', async () => {
    const id = experimentId();
    const body = JSON.stringify(webhook('ExperimentStarted', 'imagesvc', experiment({ id, context: { namespace } })));
    const post = (headers: Record<string, string>) =>
      fetch(`${url}/webhooks/superposition`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

    expect((await post({})).status).toBe(401);
    const answer = await post({ authorization: `Bearer ${token}` });
    const summary = (await answer.json()) as any;
    expect(answer.status, JSON.stringify(summary)).toBe(200);
    expect(summary.result).toBe('applied');
    const canary = await cluster.apps.readNamespacedDeployment({ namespace, name: `imagesvc-dep-${id}-test1` });
    expect(canary.spec?.template.spec?.containers[0].image).toBe('nginx:1.27');
  });

  it('stops on SIGTERM: the signal reaches node itself (Nest shuts down, then re-raises it)', async () => {
    const pid = findImageProcess(port);
    running!.kill('SIGTERM');
    expect(await exited).toBe(128 + 15);
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
