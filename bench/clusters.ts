/**
 * `npm run bench:clusters`: the latency of webhooks for cluster `a` while cluster `b` is up, and while
 * b's API server is stopped (README, "Several clusters"). Two bare local control planes (KUBE_NODES=0),
 * one kubeconfig with the contexts a and b, Mayday's production build with CLUSTERS=a,b (readiness gate
 * off: no nodes). Per phase, BENCH_CLUSTERS_SAMPLES ramps (ExperimentInprogress, each changes a canary's
 * weight) of experiments in a, one after another; next to each, a ramp of an experiment in b is sent
 * and not waited for, as Superposition keeps delivering b's events (and retrying them while b is down).
 * Repeated BENCH_RUNS times, each run on fresh clusters. Prints min / median / max per phase and run.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { experiment, webhook } from '../test/support/payloads';
import { controlPlane, gitState, intFromEnv, onCleanup, readEnvFile, root, runMain, setRunDir } from './common';
import { freePort, MaydayProcess } from './mayday-process';
import { fmt, summarize, table, type Summary } from './stats';

const SAMPLES = intFromEnv('BENCH_CLUSTERS_SAMPLES', 30, 1);
const RUNS = intFromEnv('BENCH_RUNS', 3, 1);
const NAMESPACE = 'mayday-bench';

interface RunResult {
  bUp: Summary;
  bDown: Summary;
  bUpAnswers: Record<string, number>;
  bDownAnswers: Record<string, number>;
}

/**
 * Stops or starts b's API server without blocking the event loop (a blocked loop would not see Mayday
 * close idle keep-alive connections, and the next request would find its socket closed).
 */
function runScript(action: 'stop-apiserver' | 'start-apiserver', runDir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(root, 'scripts', 'kube-control-plane.sh'), action, runDir], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kube-control-plane.sh ${action} failed (exit ${code})`))));
  });
}

/** One kubeconfig naming both clusters (as their admins) as the contexts a and b. */
function bothContexts(dirs: Record<string, string>, file: string): void {
  const clusters: unknown[] = [];
  const users: unknown[] = [];
  const contexts: unknown[] = [];
  for (const [name, dir] of Object.entries(dirs)) {
    const kc = new KubeConfig();
    kc.loadFromFile(readEnvFile(join(dir, 'env')).KUBECONFIG);
    const cluster = kc.getCurrentCluster()!;
    const user = kc.getCurrentUser()!;
    clusters.push({ name, cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } });
    users.push({ name, user: { token: user.token } });
    contexts.push({ name, context: { cluster: name, user: name } });
  }
  writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters, users, contexts, 'current-context': 'a' }));
}

async function oneRun(run: number, base: string): Promise<RunResult> {
  const dirs = { a: join(base, `run${run}-a`), b: join(base, `run${run}-b`) };
  for (const dir of Object.values(dirs)) {
    mkdirSync(dir, { recursive: true });
    onCleanup(`control plane ${dir}`, () => controlPlane('stop', dir));
    controlPlane('start', dir);
    const kc = new KubeConfig();
    kc.loadFromFile(readEnvFile(join(dir, 'env')).KUBECONFIG);
    const core = kc.makeApiClient(CoreV1Api);
    for (const name of [NAMESPACE, 'mayday-system']) await core.createNamespace({ body: { metadata: { name } } });
  }
  const kubeconfig = join(base, `run${run}-kubeconfig`);
  bothContexts(dirs, kubeconfig);
  const port = await freePort();
  const { mayday } = await MaydayProcess.start({
    root,
    cwd: base,
    port,
    logPath: join(base, `run${run}-mayday.log`),
    env: {
      KUBECONFIG: kubeconfig,
      CLUSTERS: 'a,b',
      PORT: String(port),
      HOST: '127.0.0.1',
      WEBHOOK_AUTH: 'none',
      LOG_LEVEL: 'warn',
      CANARY_READINESS_GATE: 'false',
      LEADER_ELECTION: 'false',
      RESYNC_INTERVAL_SECONDS: '0',
      MAYDAY_NAMESPACE: 'mayday-system',
    },
  });
  onCleanup(`Mayday run ${run}`, () => mayday.stop());

  const ids = { a: `7350102${String(run).padStart(2, '0')}00000000001`, b: `7350102${String(run).padStart(2, '0')}00000000002` };
  let step = 0;
  const body = (cluster: 'a' | 'b', event: string) => {
    step += 1;
    const spec = {
      id: ids[cluster],
      context: { cluster, namespace: NAMESPACE },
      traffic: event === 'ExperimentStarted' ? 10 : 10 + (step % 40),
      lastModified: new Date(Date.UTC(2026, 10, 29, 12, 0, 0, step)).toISOString(),
    };
    return JSON.stringify(webhook(event, `svc${cluster}`, experiment(spec)));
  };
  for (const cluster of ['a', 'b'] as const) {
    const started = await mayday.deliver(body(cluster, 'ExperimentStarted'));
    if (started.status !== 200) throw new Error(`start in ${cluster}: ${started.status} ${started.body}`);
  }

  const phase = async (expectB: boolean) => {
    const samples: number[] = [];
    const bAnswers: Promise<number>[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      bAnswers.push(
        mayday.deliver(body('b', 'ExperimentInprogress')).then(
          (answer) => answer.status,
          () => 0,
        ),
      );
      const answer = await mayday.deliver(body('a', 'ExperimentInprogress'));
      if (answer.status !== 200) throw new Error(`a ramp for cluster a answered ${answer.status}: ${answer.body}`);
      samples.push(answer.ms);
    }
    const statuses = await Promise.all(bAnswers);
    if (expectB && statuses.some((status) => status !== 200)) throw new Error(`b answered ${statuses.join(',')} while up`);
    return { summary: summarize(samples)!, statuses };
  };
  const up = await phase(true);
  await runScript('stop-apiserver', dirs.b);
  const down = await phase(false);
  await runScript('start-apiserver', dirs.b);
  await mayday.stop();
  // The next run starts fresh clusters: these go now (the clean-ups only repeat it after a failure).
  for (const dir of Object.values(dirs)) controlPlane('stop', dir);
  return { bUp: up.summary, bDown: down.summary, bUpAnswers: countOf(up.statuses), bDownAnswers: countOf(down.statuses) };
}

/** How many of b's answers had each status, e.g. {"503": 30}. */
function countOf(statuses: number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

async function main(): Promise<number> {
  const base = mkdtempSync(join(tmpdir(), 'mayday-bench-clusters-'));
  setRunDir(base);
  const results: RunResult[] = [];
  for (let run = 1; run <= RUNS; run++) results.push(await oneRun(run, base));
  const rows = results.flatMap((result, index) => [
    [`${index + 1}`, 'b up', fmt(result.bUp.min), fmt(result.bUp.p50), fmt(result.bUp.max), JSON.stringify(result.bUpAnswers)],
    [`${index + 1}`, 'b down', fmt(result.bDown.min), fmt(result.bDown.p50), fmt(result.bDown.max), JSON.stringify(result.bDownAnswers)],
  ]);
  console.log(`cluster a's webhook latency (ms), ${SAMPLES} ramps per phase, ${RUNS} run(s):`);
  console.log(table(['run', 'phase', 'min', 'median', 'max', "b's answers"], rows));
  const out = join(root, 'bench', 'results', 'clusters-latest.json');
  writeFileSync(out, `${JSON.stringify({ at: new Date().toISOString(), git: gitState(), samples: SAMPLES, runs: results }, null, 2)}\n`);
  console.log(`written to ${out}`);
  return 0;
}

runMain(main);
