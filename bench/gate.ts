/**
 * `npm run bench:gate`: how fast the readiness gate and the two-step promotion follow the real
 * controllers, on the local cluster with kube-controller-manager, kube-scheduler and hollow nodes
 * (KUBE_NODES, default 2), Mayday's production build with its defaults (gate on).
 *
 * - pods Ready -> weight applied: an experiment starts (its canary waits); from the moment the
 *   canary's pod is reported Ready to the moment its canary Ingress carries the weight.
 * - winner fully available -> main Service switched: a conclusion arrives while the winner (3
 *   replicas) is still rolling out (pending); from the moment its Deployment reports all replicas
 *   of its generation available to the moment the main Service selects the winner's pods.
 *
 * Both ends are taken from the bench's own watches on the API server (when each change arrived),
 * so the watch delay is on both sides. Environment: BENCH_GATE_SAMPLES (10).
 */
import {
  KubeConfig,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type V1Deployment,
  type V1Ingress,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { experiment, webhook } from '../test/support/payloads';
import { SuperpositionStandIn } from '../test/support/superposition-stand-in';
import { freePort, MaydayProcess } from './mayday-process';
import { fmt, summarize, table, type Summary } from './stats';

const SAMPLES = Number(process.env.BENCH_GATE_SAMPLES ?? 10);
const root = findRoot(__dirname);

/** First time (ms, performance.now()) each watched condition was seen, by key. */
class Timeline {
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, () => void>();

  mark(key: string): void {
    if (this.seen.has(key)) return;
    this.seen.set(key, performance.now());
    this.waiters.get(key)?.();
  }

  async when(key: string, timeoutMs = 60_000): Promise<number> {
    if (!this.seen.has(key)) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${key} not seen within ${timeoutMs} ms`)), timeoutMs);
        this.waiters.set(key, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.seen.get(key)!;
  }
}

async function main(): Promise<void> {
  if (!existsSync(join(root, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
  const dir = mkdtempSync(join(tmpdir(), 'mayday-bench-gate-'));
  // Run in this order at the end: the control plane is stopped through the pid files in `dir`, then `dir` goes.
  const stops: (() => unknown)[] = [() => controlPlane('stop', dir), () => rmSync(dir, { recursive: true, force: true })];
  try {
    controlPlane('start', dir);
    const kubeconfig = readEnvFile(join(dir, 'env')).KUBECONFIG;
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const standIn = new SuperpositionStandIn();
    const superpositionUrl = await standIn.start();
    stops.unshift(() => standIn.stop());
    await core.createNamespace({ body: { metadata: { name: 'mayday-bench' } } });
    const port = await freePort();
    const { mayday } = await MaydayProcess.start({
      root,
      cwd: dir,
      port,
      logPath: join(dir, 'mayday.log'),
      env: {
        KUBECONFIG: kubeconfig,
        PORT: String(port),
        HOST: '127.0.0.1',
        MAYDAY_NAMESPACE: 'mayday-bench',
        // What is measured is the gate following the controllers; the token check is not on that path.
        WEBHOOK_AUTH: 'none',
        SUPERPOSITION_URL: superpositionUrl,
        LOG_LEVEL: 'warn',
      },
    });
    stops.unshift(() => mayday.stop());

    const timeline = new Timeline();
    const watch = new Watch(kc);
    const watches = await Promise.all([
      watch.watch(
        '/api/v1/pods',
        {},
        (_type, pod: V1Pod) => {
          const ready = pod.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True');
          if (ready) timeline.mark(`pod-ready ${pod.metadata?.namespace}/${pod.metadata?.labels?.app}`);
        },
        () => undefined,
      ),
      watch.watch(
        '/apis/apps/v1/deployments',
        {},
        (_type, deployment: V1Deployment) => {
          const { replicas = 0, updatedReplicas = 0, availableReplicas = 0, observedGeneration = 0 } = deployment.status ?? {};
          const desired = deployment.spec?.replicas ?? 1;
          const current = observedGeneration >= (deployment.metadata?.generation ?? 0);
          if (current && replicas === desired && updatedReplicas === desired && availableReplicas === desired) {
            timeline.mark(`fully-available ${deployment.metadata?.namespace}/${deployment.metadata?.name}`);
          }
        },
        () => undefined,
      ),
      watch.watch(
        '/apis/networking.k8s.io/v1/ingresses',
        {},
        (_type, ingress: V1Ingress) => {
          const weight = ingress.metadata?.annotations?.['nginx.ingress.kubernetes.io/canary-weight'];
          if (weight && weight !== '0') timeline.mark(`weight ${ingress.metadata?.namespace}/${ingress.metadata?.name}`);
        },
        () => undefined,
      ),
      watch.watch(
        '/api/v1/services',
        {},
        (_type, service: V1Service) => {
          const selects = service.spec?.selector?.app;
          if (selects) timeline.mark(`selects ${service.metadata?.namespace}/${service.metadata?.name} ${selects}`);
        },
        () => undefined,
      ),
    ]);
    stops.unshift(() => watches.forEach((request) => request.abort()));

    const readyToWeight: number[] = [];
    const availableToSwitch: number[] = [];
    for (let sample = 0; sample < SAMPLES; sample++) {
      const service = 'web';
      standIn.workspace(service, {});
      const variants = [
        { suffix: 'control', type: 'CONTROL' as const, overrides: { 'container.image': 'nginx:1.25' } },
        { suffix: 'test1', type: 'EXPERIMENTAL' as const, overrides: { 'container.image': 'nginx:1.27', replicas: 3 } },
      ];
      const send = async (namespace: string, id: string, event: string, status: 'INPROGRESS' | 'CONCLUDED') => {
        const chosen = status === 'CONCLUDED' ? 'test1' : undefined;
        const lastModified = status === 'CONCLUDED' ? '2026-08-20T07:41:00.000001Z' : '2026-08-20T07:40:00.000001Z';
        const payload = experiment({ id, context: { namespace }, status, traffic: 20, chosen, variants, lastModified });
        standIn.putExperiment(service, payload);
        const answer = await mayday.deliver(JSON.stringify(webhook(event, service, payload)));
        if (answer.status !== 200) throw new Error(`${event} answered ${answer.status}: ${answer.body}`);
        return JSON.parse(answer.body);
      };

      // 1. The canary waits, then its weight follows its first ready pod.
      const rampNamespace = `gate-ramp-${sample}`;
      await core.createNamespace({ body: { metadata: { name: rampNamespace } } });
      const rampId = `7${String(Date.now()).slice(-9)}${String(sample).padStart(9, '0')}`;
      const started = await send(rampNamespace, rampId, 'ExperimentStarted', 'INPROGRESS');
      if (started.canaries?.[0]?.weight !== 0) throw new Error(`the canary did not wait: ${JSON.stringify(started.canaries)}`);
      const podReady = await timeline.when(`pod-ready ${rampNamespace}/${service}-dep-${rampId}-test1`);
      const weighted = await timeline.when(`weight ${rampNamespace}/${service}-ingress-${rampId}-test1`);
      readyToWeight.push(weighted - podReady);

      // 2. A conclusion right after the start: pending until the winner's 3 replicas are available, then the switch.
      const switchNamespace = `gate-switch-${sample}`;
      await core.createNamespace({ body: { metadata: { name: switchNamespace } } });
      const switchId = `8${rampId.slice(1)}`;
      const winner = `${service}-dep-${switchId}-test1`;
      // Nodes cordoned until the conclusion is in, so that the winner cannot be available before it.
      await cordon(core, true);
      await send(switchNamespace, switchId, 'ExperimentStarted', 'INPROGRESS');
      const concluded = await send(switchNamespace, switchId, 'ExperimentConcluded', 'CONCLUDED');
      await cordon(core, false);
      if (concluded.result !== 'pending') throw new Error(`the conclusion did not wait for the winner: ${JSON.stringify(concluded)}`);
      const fullyAvailable = await timeline.when(`fully-available ${switchNamespace}/${winner}`);
      const switched = await timeline.when(`selects ${switchNamespace}/${service} ${winner}`);
      availableToSwitch.push(switched - fullyAvailable);
    }

    const results = {
      when: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
      nodes: Number(readEnvFile(join(dir, 'env')).KUBE_NODES ?? 0),
      podsReadyToWeightMs: summarize(readyToWeight),
      winnerAvailableToSwitchMs: summarize(availableToSwitch),
    };
    const row = (name: string, summary: Summary | undefined) =>
      summary ? [name, String(summary.n), fmt(summary.p50), fmt(summary.p95), fmt(summary.max)] : [name, '0', '', '', ''];
    console.log(
      table(
        ['latency (ms)', 'n', 'p50', 'p95', 'max'],
        [
          row('pods Ready -> weight applied', results.podsReadyToWeightMs),
          row('winner fully available -> main Service switched', results.winnerAvailableToSwitchMs),
        ],
      ),
    );
    const out = join(root, 'bench', 'results', 'gate-latest.json');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`written to bench/results/gate-latest.json`);
  } finally {
    for (const stop of stops) {
      try {
        await stop();
      } catch (error) {
        process.stderr.write(`cleanup: ${(error as Error).message}\n`);
      }
    }
  }
}

async function cordon(core: CoreV1Api, unschedulable: boolean): Promise<void> {
  for (const node of (await core.listNode()).items) {
    await core.patchNode(
      { name: node.metadata!.name!, body: { spec: { unschedulable } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
}

function controlPlane(action: 'start' | 'stop', runDir: string): void {
  const result = spawnSync('bash', [join(root, 'scripts', 'kube-control-plane.sh'), action, runDir], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, KUBE_NODES: process.env.KUBE_NODES ?? '2' },
  });
  if (result.status !== 0) throw new Error(`kube-control-plane.sh ${action} failed (exit ${result.status ?? result.signal})`);
}

function readEnvFile(path: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

function findRoot(start: string): string {
  for (let dir = start; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts', 'kube-control-plane.sh'))) return dir;
  }
  throw new Error('project root not found');
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench:gate failed: ${(error as Error).stack ?? error}`);
    process.exit(1);
  },
);
