/**
 * `npm run bench`: Mayday's latency per transition against the direct Kubernetes writes it makes
 * (the floor), its throughput with experiments in parallel, start-up time and memory, all in one run
 * against a local kube-apiserver. See bench/README.md.
 *
 * Environment: BENCH_EXPERIMENTS (200), BENCH_CONCURRENT (50), BENCH_WARMUP (5), BENCH_NAMESPACES (10).
 */
import { KubeConfig, CoreV1Api, VersionApi } from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { experiment, webhook } from '../test/support/payloads';
import { SuperpositionStandIn } from '../test/support/superposition-stand-in';
import { ClusterChecker, type Expectation } from './checks';
import { Floor, FLOOR_WRITES } from './floor';
import { freePort, MaydayProcess } from './mayday-process';
import type { ExperimentIdentity } from './shapes';
import { fmt, msSince, ratio, round, summarize, table, triple, type Summary } from './stats';

// ---------------------------------------------------------------------------------------------
// Settings

const EXPERIMENTS = intFromEnv('BENCH_EXPERIMENTS', 200, 1);
const CONCURRENT = intFromEnv('BENCH_CONCURRENT', 50, 1);
const WARMUP = intFromEnv('BENCH_WARMUP', 5, 1);
const NAMESPACES = intFromEnv('BENCH_NAMESPACES', 10, 1);
// The local control plane's Service range is a /24: 254 cluster IPs, 2 per running experiment.
if (CONCURRENT > 120)
  throw new Error(`BENCH_CONCURRENT=${CONCURRENT}: at most 120 (the local control plane has 254 Service IPs, 2 per experiment)`);
const GOALS = { ratio: 1.3, startupMs: 2000, rssMb: 150, concurrentErrors: 0 };

type TransitionName = 'Started' | 'Inprogress' | 'Paused' | 'Concluded';
interface Transition {
  name: TransitionName;
  event: string;
  status: 'INPROGRESS' | 'PAUSED' | 'CONCLUDED';
  traffic: number;
  chosen?: string;
  expect: Expectation;
  floor: (floor: Floor, id: ExperimentIdentity) => Promise<void>;
}

const TRANSITIONS: Transition[] = [
  {
    name: 'Started',
    event: 'ExperimentStarted',
    status: 'INPROGRESS',
    traffic: 10,
    expect: { kind: 'rollout', weight: 10 },
    floor: (f, id) => f.started(id),
  },
  {
    name: 'Inprogress',
    event: 'ExperimentInprogress',
    status: 'INPROGRESS',
    traffic: 30,
    expect: { kind: 'rollout', weight: 30 },
    floor: (f, id) => f.inprogress(id),
  },
  {
    name: 'Paused',
    event: 'ExperimentPaused',
    status: 'PAUSED',
    traffic: 30,
    expect: { kind: 'rollout', weight: 0 },
    floor: (f, id) => f.paused(id),
  },
  {
    name: 'Concluded',
    event: 'ExperimentConcluded',
    status: 'CONCLUDED',
    traffic: 30,
    chosen: 'test1',
    expect: { kind: 'promoted' },
    floor: (f, id) => f.concluded(id),
  },
];
const NAMES = TRANSITIONS.map((transition) => transition.name);

const MAYDAY_NS = (index: number) => `bench-mayday-${index % NAMESPACES}`;
const FLOOR_NS = (index: number) => `bench-floor-${index % NAMESPACES}`;
const FLOOR_MANAGER = 'mayday-bench-floor';

// ---------------------------------------------------------------------------------------------
// Clean-up, also on failure and Ctrl-C

const cleanups: { name: string; run: () => void | Promise<void> }[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
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
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping Mayday and the control plane`);
    void finish(code);
  });
}

// ---------------------------------------------------------------------------------------------

const root = findRoot(__dirname);
/** Control-plane state and Mayday's log: removed after a successful run, kept (and named) otherwise. */
let runDir: string | undefined;
let seq = 0;
const idStamp = String(Date.now()).slice(-9);
/** A unique 19-digit experiment id (never a JS number). */
const nextExperimentId = () => `7${idStamp}${String(seq++).padStart(9, '0')}`;
let clock = Date.parse('2026-08-20T07:37:40.000Z');
/** Strictly increasing `last_modified` values (microsecond precision, as Superposition writes them). */
const nextLastModified = () => new Date((clock += 1000)).toISOString().replace(/Z$/, '123Z');

function identity(namespace: string, service: string, managedBy = 'mayday'): ExperimentIdentity {
  const experimentId = nextExperimentId();
  return { namespace, service, experimentId, controlId: `${experimentId}-control`, canaryId: `${experimentId}-test1`, managedBy };
}

/** Stop a phase early once this many things failed (a broken run should not take minutes of retries). */
const MAX_FAILURES = 20;

/** One line, at most 300 characters (client-node's errors carry the whole answer, headers included). */
function oneLine(text: string): string {
  const line = text
    .replace(/\s*\n\s*/g, ' ')
    .replace(/Headers: \{.*$/, '')
    .trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

interface Failure {
  phase: string;
  experiment: string;
  transition: string;
  problem: string;
}

async function main(): Promise<number> {
  const startedAt = new Date();
  if (!existsSync(join(root, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
  const dir = mkdtempSync(join(tmpdir(), 'mayday-bench-'));
  runDir = dir;

  // 1. Control plane, namespaces, Superposition stand-in, Mayday.
  console.log(
    `bench: ${EXPERIMENTS} experiments sequential, ${CONCURRENT} concurrent, ${WARMUP} warm-up, ${NAMESPACES} namespaces per side`,
  );
  const controlPlaneStart = process.hrtime.bigint();
  cleanups.push({ name: 'control plane', run: () => controlPlane('stop', dir) });
  controlPlane('start', dir);
  const controlPlaneMs = msSince(controlPlaneStart);
  const cluster = readEnvFile(join(dir, 'env'));
  const kubeconfig = cluster.KUBECONFIG;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const apiserverVersion = (await kc.makeApiClient(VersionApi).getCode()).gitVersion;
  for (let index = 0; index < NAMESPACES; index++) {
    for (const name of [MAYDAY_NS(index), FLOOR_NS(index)]) await core.createNamespace({ body: { metadata: { name } } });
  }
  // Mayday's own namespace, where its records live.
  await core.createNamespace({ body: { metadata: { name: 'mayday-bench' } } });

  const standIn = new SuperpositionStandIn();
  const superpositionUrl = await standIn.start();
  cleanups.push({ name: 'Superposition stand-in', run: () => standIn.stop() });

  const port = await freePort();
  const { mayday, readyMs } = await MaydayProcess.start({
    root,
    cwd: dir,
    port,
    logPath: join(dir, 'mayday.log'),
    env: {
      KUBECONFIG: kubeconfig,
      PORT: String(port),
      HOST: '127.0.0.1',
      MAYDAY_NAMESPACE: 'mayday-bench',
      // The benchmark measures the Kubernetes work; the token check is a constant-time hash compare.
      WEBHOOK_AUTH: 'none',
      SUPERPOSITION_URL: superpositionUrl,
      LOG_LEVEL: 'warn',
      CANARY_READINESS_GATE: 'false',
      // The floor deletes what a conclusion retires at once; so does Mayday here (the production delay is 30 s).
      SCALE_DOWN_DELAY_SECONDS: '0',
      RESYNC_INTERVAL_SECONDS: '0',
      TRAFFIC_PROVIDER: 'nginx',
    },
  });
  cleanups.push({ name: 'Mayday', run: () => mayday.stop() });
  const atReady = { vmRssKb: mayday.procStatusKb('VmRSS'), vmHwmKb: mayday.procStatusKb('VmHWM') };
  console.log(
    `control plane up in ${fmt(controlPlaneMs / 1000)} s (${apiserverVersion}); Mayday ready in ${fmt(readyMs)} ms (pid ${mayday.pid})`,
  );

  const checker = new ClusterChecker(kubeconfig);
  const floor = new Floor(kubeconfig);
  const floorKeepAlive = new Floor(kubeconfig, true);
  const failures: Failure[] = [];
  const checkStats = { total: 0, converged: 0, neededRetry: 0 };

  /** One transition through Mayday: deliver (timed), then check the cluster (not timed). */
  async function maydayTransition(phase: string, id: ExperimentIdentity, transition: Transition): Promise<number | undefined> {
    const payload = experiment({
      id: id.experimentId,
      context: { namespace: id.namespace },
      status: transition.status,
      traffic: transition.traffic,
      chosen: transition.chosen,
      lastModified: nextLastModified(),
    });
    standIn.putExperiment(id.service, payload);
    const body = JSON.stringify(webhook(transition.event, id.service, payload));
    let delivered: Awaited<ReturnType<MaydayProcess['deliver']>>;
    try {
      delivered = await mayday.deliver(body);
    } catch (error) {
      failures.push({
        phase,
        experiment: id.experimentId,
        transition: transition.name,
        problem: oneLine(`no answer: ${(error as Error).message}`),
      });
      return undefined;
    }
    if (delivered.status !== 200) {
      failures.push({
        phase,
        experiment: id.experimentId,
        transition: transition.name,
        problem: oneLine(`HTTP ${delivered.status}: ${delivered.body}`),
      });
      return undefined;
    }
    return delivered.ms;
  }

  async function check(phase: string, id: ExperimentIdentity, transition: Transition): Promise<boolean> {
    const outcome = await checker.converged(id, transition.expect);
    checkStats.total += 1;
    if (outcome.attempts > 1) checkStats.neededRetry += 1;
    if (outcome.problem) {
      failures.push({ phase, experiment: id.experimentId, transition: transition.name, problem: `not converged: ${outcome.problem}` });
      return false;
    }
    checkStats.converged += 1;
    return true;
  }

  function newWorkspace(id: ExperimentIdentity): void {
    standIn.workspace(id.service, { replicas: 1, 'container.port': 80 });
  }

  // 2a. Warm-up (not timed): JIT, connections, client-node's API discovery on both sides; and, around
  // each transition, Mayday's Kubernetes API calls from its own counters.
  const scrapeA = await mayday.metrics();
  const scrapeB = await mayday.metrics();
  const scrapeOverhead = scrapeB.minus(scrapeA);
  const callsPerTransition: Record<string, Record<string, number>[]> = Object.fromEntries(NAMES.map((name) => [name, []]));
  const notFound: Record<string, Record<string, number>[]> = Object.fromEntries(NAMES.map((name) => [name, []]));
  const superpositionPerTransition: Record<string, number[]> = Object.fromEntries(NAMES.map((name) => [name, []]));
  for (let index = 0; index < WARMUP; index++) {
    const id = identity(MAYDAY_NS(index), `warm${index}`);
    newWorkspace(id);
    for (const transition of TRANSITIONS) {
      const before = await mayday.metrics();
      const ms = await maydayTransition('warm-up', id, transition);
      const delta = (await mayday.metrics()).minus(before).minus(scrapeOverhead);
      if (ms === undefined) break;
      callsPerTransition[transition.name].push(delta.by('mayday_kube_api_calls_total', 'verb'));
      notFound[transition.name].push(nonZero(delta.by('mayday_kube_api_calls_total', 'verb', { outcome: 'not_found' })));
      superpositionPerTransition[transition.name].push(sum(delta.by('mayday_superposition_requests_total', 'endpoint')));
      await check('warm-up', id, transition);
    }
    const floorId = identity(FLOOR_NS(index), `floorwarm${index}`, FLOOR_MANAGER);
    const floorKaId = identity(FLOOR_NS(index), `floorkawarm${index}`, FLOOR_MANAGER);
    for (const transition of TRANSITIONS) {
      await transition.floor(floor, floorId);
      await transition.floor(floorKeepAlive, floorKaId);
    }
    await Promise.all([id, floorId, floorKaId].map((done) => checker.removeLeftovers(done)));
  }

  // 2b + 3. Latency per transition, one experiment at a time; after each Mayday experiment the same
  // writes directly (the floor), so that both see the same cluster as it grows.
  const latency = {
    mayday: emptySamples(),
    floor: emptySamples(),
    floorKeepAlive: emptySamples(),
    record: emptySamples(),
    maydayLifecycle: [] as number[],
    floorLifecycle: [] as number[],
  };
  const phaseStart = await mayday.metrics();
  const sequentialStart = process.hrtime.bigint();
  for (let index = 0; index < EXPERIMENTS; index++) {
    const id = identity(MAYDAY_NS(index), `bench${index}`);
    newWorkspace(id);
    let lifecycle = 0;
    let complete = true;
    for (const transition of TRANSITIONS) {
      const ms = await maydayTransition('sequential', id, transition);
      if (ms === undefined) {
        complete = false;
        break;
      }
      latency.mayday[transition.name].push(ms);
      lifecycle += ms;
      if (!(await check('sequential', id, transition))) {
        complete = false;
        break;
      }
    }
    if (complete) latency.maydayLifecycle.push(lifecycle);

    const floorId = identity(FLOOR_NS(index), `floor${index}`, FLOOR_MANAGER);
    const floorKaId = identity(FLOOR_NS(index), `floorka${index}`, FLOOR_MANAGER);
    let floorLifecycle = 0;
    for (const transition of TRANSITIONS) {
      try {
        let started = process.hrtime.bigint();
        await transition.floor(floor, floorId);
        const ms = msSince(started);
        latency.floor[transition.name].push(ms);
        floorLifecycle += ms;

        started = process.hrtime.bigint();
        await transition.floor(floorKeepAlive, floorKaId);
        latency.floorKeepAlive[transition.name].push(msSince(started));

        // Mayday's record for this transition, the same ConfigMap it writes (not part of the floor).
        started = process.hrtime.bigint();
        await floor.record(
          floorId,
          transition.status,
          transition.event,
          nextLastModified(),
          JSON.stringify(experiment({ id: floorId.experimentId })),
        );
        latency.record[transition.name].push(msSince(started));
      } catch (error) {
        failures.push({
          phase: 'floor',
          experiment: floorId.experimentId,
          transition: transition.name,
          problem: oneLine((error as Error).message),
        });
        break;
      }
    }
    latency.floorLifecycle.push(floorLifecycle);
    await Promise.all([id, floorId, floorKaId].map((done) => checker.removeLeftovers(done)));
    if (failures.length >= MAX_FAILURES) {
      console.error(`  stopping the sequential phase: ${failures.length} failures`);
      break;
    }
    if ((index + 1) % 50 === 0 || index + 1 === EXPERIMENTS) {
      console.log(`  sequential: ${index + 1}/${EXPERIMENTS} experiments (${fmt(msSince(sequentialStart) / 1000)} s)`);
    }
  }
  const sequentialDelta = (await mayday.metrics()).minus(phaseStart).minus(scrapeOverhead);

  // 4. Throughput: whole lifecycles of CONCURRENT experiments in parallel.
  const concurrentIds = Array.from({ length: CONCURRENT }, (_, index) => identity(MAYDAY_NS(index), `benchc${index}`));
  concurrentIds.forEach(newWorkspace);
  const concurrentLatency = emptySamples();
  let concurrentEvents = 0;
  let concurrentErrors = 0;
  const failuresBefore = failures.length;
  const throughputStart = process.hrtime.bigint();
  const completed = await Promise.all(
    concurrentIds.map(async (id) => {
      for (const transition of TRANSITIONS) {
        const ms = await maydayTransition('concurrent', id, transition);
        concurrentEvents += 1;
        if (ms === undefined) {
          concurrentErrors += 1;
          return false;
        }
        concurrentLatency[transition.name].push(ms);
      }
      return true;
    }),
  );
  const throughputMs = msSince(throughputStart);
  let concurrentConverged = 0;
  for (const [index, id] of concurrentIds.entries()) {
    if (completed[index] && (await check('concurrent', id, TRANSITIONS[3]))) concurrentConverged += 1;
  }
  const concurrentFailures = failures.length - failuresBefore;

  // 5. Memory at the end, then stop everything.
  const vmHwmKb = mayday.procStatusKb('VmHWM');
  const maxSampledRssKb = mayday.maxSampledRssKb;
  const rssSamples = mayday.rssSamples;
  await cleanup();

  // ---------------------------------------------------------------------------------------------
  // Report

  const perTransition = Object.fromEntries(
    TRANSITIONS.map((transition) => {
      const maydaySummary = summarize(latency.mayday[transition.name]);
      const floorSummary = summarize(latency.floor[transition.name]);
      const floorKaSummary = summarize(latency.floorKeepAlive[transition.name]);
      const calls = callsPerTransition[transition.name];
      return [
        transition.name,
        {
          event: transition.event,
          mayday: maydaySummary,
          floor: floorSummary,
          ratio: { p50: ratio(maydaySummary?.p50, floorSummary?.p50), p95: ratio(maydaySummary?.p95, floorSummary?.p95) },
          floorKeepAlive: floorKaSummary,
          ratioToKeepAliveFloor: {
            p50: ratio(maydaySummary?.p50, floorKaSummary?.p50),
            p95: ratio(maydaySummary?.p95, floorKaSummary?.p95),
          },
          recordWrite: summarize(latency.record[transition.name]),
          floorWrites: FLOOR_WRITES[transition.name],
          maydayKubeCalls: calls.length > 0 ? withTotal(calls[calls.length - 1]) : undefined,
          maydayKubeCallsStable: calls.every((entry) => sameCounts(entry, calls[0])),
          maydayKubeCallsNotFound: notFound[transition.name].at(-1),
          maydayKubeCallsPerWarmup: calls.map(withTotal),
          maydaySuperpositionRequests: superpositionPerTransition[transition.name].at(-1),
          concurrent: summarize(concurrentLatency[transition.name]),
        },
      ];
    }),
  ) as Record<TransitionName, TransitionReport>;

  const lifecycle = {
    mayday: summarize(latency.maydayLifecycle),
    floor: summarize(latency.floorLifecycle),
  };
  const sequentialApi = {
    calls: withTotal(nonZero(sequentialDelta.by('mayday_kube_api_calls_total', 'verb'))),
    meanCallMsByVerb: meanMs(
      sequentialDelta.by('mayday_kube_api_call_duration_seconds_sum', 'verb'),
      sequentialDelta.by('mayday_kube_api_call_duration_seconds_count', 'verb'),
    ),
    serverSideEventMs: meanMs(
      sequentialDelta.by('mayday_event_duration_seconds_sum', 'event'),
      sequentialDelta.by('mayday_event_duration_seconds_count', 'event'),
    ),
    superpositionRequests: nonZero(sequentialDelta.by('mayday_superposition_requests_total', 'endpoint')),
  };
  const throughput = {
    experiments: CONCURRENT,
    events: concurrentEvents,
    wallMs: round(throughputMs),
    eventsPerSecond: round((concurrentEvents / throughputMs) * 1000),
    errors: concurrentErrors,
    converged: concurrentConverged,
  };
  const memory = {
    vmHwmMb: mb(vmHwmKb),
    maxSampledRssMb: round(maxSampledRssKb / 1024, 1),
    rssSamples,
    atReady: { vmRssMb: mb(atReady.vmRssKb), vmHwmMb: mb(atReady.vmHwmKb) },
  };
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    totalMemoryGb: round(totalmem() / 1024 ** 3, 1),
    os: `${platform()} ${release()}`,
    node: process.version,
    kubeApiserver: apiserverVersion,
  };
  const build = gitState();
  const goals = [
    ...TRANSITIONS.map((transition) => {
      const value = perTransition[transition.name].ratio;
      return {
        goal: `${transition.name}: Mayday at most ${GOALS.ratio} x the direct writes (p50 and p95)`,
        value: `p50 ${fmt(value.p50, 2)} x, p95 ${fmt(value.p95, 2)} x`,
        met: value.p50 !== undefined && value.p95 !== undefined && value.p50 <= GOALS.ratio && value.p95 <= GOALS.ratio,
      };
    }),
    {
      goal: `zero errors at ${CONCURRENT} concurrent experiments`,
      value: `${concurrentErrors} errors, ${concurrentConverged}/${CONCURRENT} converged`,
      met: concurrentErrors === 0 && concurrentFailures === 0 && concurrentConverged === CONCURRENT,
    },
    { goal: `start-up to ready under ${GOALS.startupMs} ms`, value: `${fmt(readyMs)} ms`, met: readyMs < GOALS.startupMs },
    {
      goal: `peak RSS under ${GOALS.rssMb} MB`,
      value: `${fmt(memory.vmHwmMb)} MB`,
      met: memory.vmHwmMb !== undefined && memory.vmHwmMb < GOALS.rssMb,
    },
  ];
  const ok = failures.length === 0;
  const result = {
    timestamp: startedAt.toISOString(),
    ok,
    mayday: build,
    settings: { experiments: EXPERIMENTS, concurrent: CONCURRENT, warmup: WARMUP, namespacesPerSide: NAMESPACES, trafficProvider: 'nginx' },
    machine,
    startup: { readyMs: round(readyMs), controlPlaneMs: round(controlPlaneMs) },
    memory,
    transitions: perTransition,
    lifecycle,
    sequentialApi,
    throughput,
    checks: checkStats,
    failures: failures.slice(0, 50),
    failureCount: failures.length,
    goals,
  };

  print(result);

  const resultsDir = join(root, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${startedAt.toISOString().replace(/:/g, '-')}.json`);
  const json = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(file, json);
  writeFileSync(join(resultsDir, 'latest.json'), json);
  console.log(`\nresults: ${relative(process.cwd(), file)} and ${relative(process.cwd(), join(resultsDir, 'latest.json'))}`);

  if (!ok) {
    console.error(`\nFAILED: ${failures.length} failure(s) (events not answered 200, or a cluster that did not converge):`);
    for (const failure of failures.slice(0, 10))
      console.error(`  [${failure.phase}] ${failure.experiment} ${failure.transition}: ${failure.problem}`);
    return 1;
  }
  return 0;
}

interface TransitionReport {
  event: string;
  mayday?: Summary;
  floor?: Summary;
  ratio: { p50?: number; p95?: number };
  floorKeepAlive?: Summary;
  ratioToKeepAliveFloor: { p50?: number; p95?: number };
  recordWrite?: Summary;
  floorWrites: string;
  maydayKubeCalls?: Record<string, number>;
  maydayKubeCallsStable: boolean;
  maydayKubeCallsNotFound?: Record<string, number>;
  maydayKubeCallsPerWarmup: Record<string, number>[];
  maydaySuperpositionRequests?: number;
  concurrent?: Summary;
}

function print(result: {
  mayday: { commit?: string; srcModified?: boolean };
  machine: Record<string, unknown>;
  startup: { readyMs: number; controlPlaneMs: number };
  memory: { vmHwmMb?: number; maxSampledRssMb: number; rssSamples: number; atReady: { vmRssMb?: number; vmHwmMb?: number } };
  transitions: Record<TransitionName, TransitionReport>;
  lifecycle: { mayday?: Summary; floor?: Summary };
  sequentialApi: { calls: Record<string, number>; meanCallMsByVerb: Record<string, number>; serverSideEventMs: Record<string, number> };
  throughput: { experiments: number; events: number; wallMs: number; eventsPerSecond: number; errors: number; converged: number };
  checks: { total: number; converged: number; neededRetry: number };
  goals: { goal: string; value: string; met: boolean }[];
  settings: { experiments: number };
}): void {
  const t = result.transitions;
  console.log(`\nLatency per transition, ms (${result.settings.experiments} experiments, one at a time)\n`);
  console.log(
    table(
      ['transition', 'Mayday p50 / p95 / p99', 'floor p50 / p95 / p99', 'ratio p50 / p95'],
      [
        ...NAMES.map((name) => [
          name,
          triple(t[name].mayday),
          triple(t[name].floor),
          `${fmt(t[name].ratio.p50, 2)} / ${fmt(t[name].ratio.p95, 2)}`,
        ]),
        [
          'whole lifecycle',
          triple(result.lifecycle.mayday),
          triple(result.lifecycle.floor),
          `${fmt(ratio(result.lifecycle.mayday?.p50, result.lifecycle.floor?.p50), 2)} / ${fmt(ratio(result.lifecycle.mayday?.p95, result.lifecycle.floor?.p95), 2)}`,
        ],
      ],
    ),
  );
  console.log(
    `\nKubernetes API calls per transition (Mayday's mayday_kube_api_calls_total around each transition of the warm-up experiments; floor = its writes)\n`,
  );
  const verbs = ['get', 'list', 'apply', 'patch', 'delete', 'event'];
  console.log(
    table(
      ['transition', ...verbs.map((verb) => `Mayday ${verb}`), 'Mayday total', 'Superposition', 'floor writes', 'record write p50 / p95'],
      NAMES.map((name) => {
        const calls = t[name].maydayKubeCalls ?? {};
        return [
          name,
          ...verbs.map((verb) => {
            const missing = t[name].maydayKubeCallsNotFound?.[verb];
            return `${calls[verb] ?? 0}${missing ? ` (${missing} x 404)` : ''}`;
          }),
          `${calls.total ?? '-'}${t[name].maydayKubeCallsStable ? '' : ' (varied)'}`,
          String(t[name].maydaySuperpositionRequests ?? '-'),
          t[name].floorWrites,
          `${fmt(t[name].recordWrite?.p50)} / ${fmt(t[name].recordWrite?.p95)}`,
        ];
      }),
    ),
  );
  const meanCalls = Object.entries(result.sequentialApi.meanCallMsByVerb)
    .map(([verb, ms]) => `${verb} ${fmt(ms, 2)}`)
    .join(', ');
  console.log(`\nMayday's mean Kubernetes call, ms (sequential phase): ${meanCalls}`);
  const serverSide = Object.entries(result.sequentialApi.serverSideEventMs)
    .map(([event, ms]) => `${event.replace('Experiment', '')} ${fmt(ms, 1)}`)
    .join(', ');
  console.log(`Mayday's server-side event time, mean ms: ${serverSide}`);
  console.log(
    `Floor over one keep-alive connection (reference; client-node's default opens a TLS connection per request), p50 / p95 ms: ` +
      NAMES.map(
        (name) =>
          `${name} ${fmt(t[name].floorKeepAlive?.p50)} / ${fmt(t[name].floorKeepAlive?.p95)} (Mayday ${fmt(t[name].ratioToKeepAliveFloor.p50, 2)} x / ${fmt(t[name].ratioToKeepAliveFloor.p95, 2)} x)`,
      ).join('; '),
  );

  const tp = result.throughput;
  console.log(
    `\nThroughput: ${tp.experiments} experiments concurrently, ${tp.events} events in ${fmt(tp.wallMs / 1000, 2)} s = ${fmt(tp.eventsPerSecond)} events/s, ` +
      `${tp.errors} errors, ${tp.converged}/${tp.experiments} converged` +
      ` (latency under load p50/p95 ms: ${NAMES.map((name) => `${name} ${fmt(t[name].concurrent?.p50)}/${fmt(t[name].concurrent?.p95)}`).join(', ')})`,
  );
  console.log(`Start-up to ready: ${fmt(result.startup.readyMs)} ms (control plane: ${fmt(result.startup.controlPlaneMs / 1000)} s)`);
  console.log(
    `Peak RSS: ${fmt(result.memory.vmHwmMb)} MB VmHWM at the end (max of ${result.memory.rssSamples} VmRSS samples every 100 ms: ` +
      `${fmt(result.memory.maxSampledRssMb)} MB; at ready: VmRSS ${fmt(result.memory.atReady.vmRssMb)} MB, VmHWM ${fmt(result.memory.atReady.vmHwmMb)} MB)`,
  );
  const m = result.machine;
  if (result.mayday.commit)
    console.log(`Mayday: commit ${result.mayday.commit.slice(0, 12)}${result.mayday.srcModified ? ' with src/ modified' : ''}`);
  console.log(`Machine: ${m.cpu}, ${m.cores} cores, ${m.totalMemoryGb} GB, ${m.os}, Node ${m.node}, kube-apiserver ${m.kubeApiserver}`);
  console.log(`Checks: ${result.checks.converged}/${result.checks.total} converged (${result.checks.neededRetry} needed a second look)`);
  console.log('\nGoals\n');
  console.log(
    table(
      ['goal', 'this run', 'met'],
      result.goals.map((goal) => [goal.goal, goal.value, goal.met ? 'yes' : 'NO']),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Helpers

function controlPlane(action: 'start' | 'stop', runDir: string): void {
  const script = join(root, 'scripts', 'kube-control-plane.sh');
  // A bare API server (KUBE_NODES=0), as the figures below were always measured: the gate is off here.
  const env = { ...process.env, KUBE_NODES: process.env.KUBE_NODES ?? '0' };
  const result = spawnSync('bash', [script, action, runDir], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (result.status !== 0) throw new Error(`kube-control-plane.sh ${action} failed (exit ${result.status ?? result.signal})`);
}

/** Which Mayday was measured: the commit, and whether src/ differed from it. */
function gitState(): { commit?: string; srcModified?: boolean } {
  const run = (args: string[]) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  const head = run(['rev-parse', 'HEAD']);
  if (head.status !== 0) return {};
  return { commit: head.stdout.trim(), srcModified: run(['status', '--porcelain', '--', 'src']).stdout.trim() !== '' };
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
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts', 'kube-control-plane.sh'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no Mayday checkout above ${start}`);
  }
}

function intFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return value;
}

function emptySamples(): Record<TransitionName, number[]> {
  return { Started: [], Inprogress: [], Paused: [], Concluded: [] };
}

function mb(kb: number | undefined): number | undefined {
  return kb === undefined ? undefined : round(kb / 1024, 1);
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const canonical = (values: Record<string, number>) =>
    JSON.stringify(Object.entries(nonZero(values)).sort(([x], [y]) => x.localeCompare(y)));
  return canonical(a) === canonical(b);
}

function sum(values: Record<string, number>): number {
  return Object.values(values).reduce((total, value) => total + value, 0);
}

function nonZero(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== 0));
}

function withTotal(values: Record<string, number>): Record<string, number> {
  const clean = nonZero(values);
  return { ...clean, total: sum(clean) };
}

function meanMs(sums: Record<string, number>, counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(counts)
      .filter(([, count]) => count > 0)
      .map(([key, count]) => [key, round(((sums[key] ?? 0) / count) * 1000, 2)]),
  );
}

async function finish(code: number): Promise<never> {
  await cleanup();
  if (runDir && code === 0) rmSync(runDir, { recursive: true, force: true });
  else if (runDir) console.error(`control-plane logs and Mayday's log (mayday.log) kept in ${runDir}`);
  process.exit(code);
}

main().then(finish, (error: unknown) => {
  console.error(`bench failed: ${(error as Error)?.stack ?? String(error)}`);
  return finish(1);
});
