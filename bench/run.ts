/**
 * `npm run bench`: Mayday's latency per transition against the direct Kubernetes writes it makes
 * (the floor, headline: over kept-alive connections), its throughput with experiments in parallel on
 * one replica and on several, start-up time and memory, BENCH_RUNS times against one local
 * kube-apiserver (min, median and max over the runs), then where the time of each transition goes (a
 * probe loaded into the production build from the outside). `npm run bench -- --scale` runs the scale
 * curve instead (bench/scale.ts). See bench/README.md.
 *
 * Environment: BENCH_RUNS (3), BENCH_EXPERIMENTS (100), BENCH_CONCURRENT (50), BENCH_WARMUP (5),
 * BENCH_NAMESPACES (10), BENCH_REPLICAS (3), BENCH_BREAKDOWN_EXPERIMENTS (40), BENCH_LOG_LEVEL (info).
 */
import { KubeConfig, CoreV1Api, VersionApi } from '@kubernetes/client-node';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { experiment, webhook } from '../test/support/payloads';
import { SuperpositionStandIn } from '../test/support/superposition-stand-in';
import { breakdown, type RequestTrace } from './breakdown';
import { ClusterChecker, type Expectation } from './checks';
import {
  controlPlane,
  describeMachine,
  gitState,
  intFromEnv,
  loadAverage,
  machine as describeThisMachine,
  onCleanup,
  oneLine,
  readEnvFile,
  root,
  runMain,
  setRunDir,
} from './common';
import { Floor, FLOOR_WRITES } from './floor';
import { freePort, MaydayProcess, type Metrics } from './mayday-process';
import type { ExperimentIdentity } from './shapes';
import { fmt, fmtSpread, msSince, ratio, round, spread, summarize, table, type Spread, type Summary } from './stats';
import { stackedBarsSvg } from './svg';

// ---------------------------------------------------------------------------------------------
// Settings

const RUNS = intFromEnv('BENCH_RUNS', 3, 1);
const EXPERIMENTS = intFromEnv('BENCH_EXPERIMENTS', 100, 1);
const CONCURRENT = intFromEnv('BENCH_CONCURRENT', 50, 1);
const WARMUP = intFromEnv('BENCH_WARMUP', 5, 1);
const NAMESPACES = intFromEnv('BENCH_NAMESPACES', 10, 1);
const REPLICAS = intFromEnv('BENCH_REPLICAS', 3, 0);
const BREAKDOWN_EXPERIMENTS = intFromEnv('BENCH_BREAKDOWN_EXPERIMENTS', 40, 0);
/** Production's default: the per-event log line and pino-http's request line are part of the cost. */
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL || 'info';
// The local control plane's Service range is a /24: 254 cluster IPs, 2 per running experiment.
if (CONCURRENT > 120)
  throw new Error(`BENCH_CONCURRENT=${CONCURRENT}: at most 120 (the local control plane has 254 Service IPs, 2 per experiment)`);
/** Issue 18's goals, against the keep-alive floor. */
const GOALS = { rampP50: 1.5, rampP95: 2, startConcludeP50: 1.5, startupMs: 2000, rssMb: 150 };

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
/** The ramp and the pause (one route write each): the 2x p95 goal is theirs. */
const RAMPS: TransitionName[] = ['Inprogress', 'Paused'];

const MAYDAY_NS = (index: number) => `bench-mayday-${index % NAMESPACES}`;
const FLOOR_NS = (index: number) => `bench-floor-${index % NAMESPACES}`;
const FLOOR_MANAGER = 'mayday-bench-floor';
const RECORD_NAMESPACE = 'mayday-bench';

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

interface Failure {
  run: number;
  phase: string;
  experiment: string;
  transition: string;
  problem: string;
}

/** What every phase needs: the cluster, the stand-in, the floors, the checks, and where failures go. */
interface Bench {
  dir: string;
  kubeconfig: string;
  standIn: SuperpositionStandIn;
  superpositionUrl: string;
  checker: ClusterChecker;
  floor: Floor;
  floorKeepAlive: Floor;
  failures: Failure[];
  checkStats: { total: number; converged: number; neededRetry: number };
}

interface ThroughputResult {
  replicas: number;
  experiments: number;
  events: number;
  wallMs: number;
  eventsPerSecond: number;
  errors: number;
  converged: number;
  /** Records written over a version another replica had moved (mayday_record_conflicts_total, all replicas). */
  recordConflicts?: number;
  latency: Record<TransitionName, Summary | undefined>;
}

interface RunResult {
  run: number;
  startup: { readyMs: number };
  memory: { vmHwmMb?: number; maxSampledRssMb: number; rssSamples: number; atReady: { vmRssMb?: number; vmHwmMb?: number } };
  transitions: Record<TransitionName, TransitionRun>;
  lifecycle: { mayday?: Summary; floorKeepAlive?: Summary; floor?: Summary };
  sequentialApi: {
    calls: Record<string, number>;
    meanCallMsByVerb: Record<string, number>;
    serverSideEventMs: Record<string, number>;
    superpositionRequests: Record<string, number>;
  };
  throughput: ThroughputResult;
  throughputReplicas?: ThroughputResult;
}

interface TransitionRun {
  mayday?: Summary;
  floorKeepAlive?: Summary;
  floor?: Summary;
  /** Headline: Mayday / the floor over kept-alive connections. */
  ratio: { p50?: number; p95?: number };
  /** Secondary: Mayday / the floor as client-node does it by default (a new TLS connection per request). */
  ratioNoKeepAlive: { p50?: number; p95?: number };
  recordWrite?: Summary;
  maydayKubeCalls?: Record<string, number>;
  maydayKubeCallsStable: boolean;
  maydayKubeCallsNotFound?: Record<string, number>;
  maydaySuperpositionRequests?: number;
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const started = process.hrtime.bigint();
  if (!existsSync(join(root, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
  const dir = mkdtempSync(join(tmpdir(), 'mayday-bench-'));
  setRunDir(dir);
  const machine = describeThisMachine();

  console.log(
    `bench: ${RUNS} run(s) of ${EXPERIMENTS} experiments one at a time and ${CONCURRENT} concurrent (1 replica, then ${REPLICAS || 'no'} replicas), ` +
      `${WARMUP} warm-up, ${NAMESPACES} namespaces per side, LOG_LEVEL=${LOG_LEVEL}; then ${BREAKDOWN_EXPERIMENTS} experiments with the timing probe`,
  );
  const controlPlaneStart = process.hrtime.bigint();
  onCleanup('control plane', () => controlPlane('stop', dir));
  controlPlane('start', dir);
  const controlPlaneMs = msSince(controlPlaneStart);
  const kubeconfig = readEnvFile(join(dir, 'env')).KUBECONFIG;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  machine.kubeApiserver = (await kc.makeApiClient(VersionApi).getCode()).gitVersion;
  for (let index = 0; index < NAMESPACES; index++) {
    for (const name of [MAYDAY_NS(index), FLOOR_NS(index)]) await core.createNamespace({ body: { metadata: { name } } });
  }
  // Mayday's own namespace, where its records live.
  await core.createNamespace({ body: { metadata: { name: RECORD_NAMESPACE } } });
  const standIn = new SuperpositionStandIn();
  const superpositionUrl = await standIn.start();
  onCleanup('Superposition stand-in', () => standIn.stop());
  console.log(`control plane up in ${fmt(controlPlaneMs / 1000)} s (${machine.kubeApiserver}); machine: ${describeMachine(machine)}`);

  const bench: Bench = {
    dir,
    kubeconfig,
    standIn,
    superpositionUrl,
    checker: new ClusterChecker(kubeconfig),
    floor: new Floor(kubeconfig),
    floorKeepAlive: new Floor(kubeconfig, true),
    failures: [],
    checkStats: { total: 0, converged: 0, neededRetry: 0 },
  };

  const runs: RunResult[] = [];
  for (let run = 1; run <= RUNS; run++) {
    console.log(`\nrun ${run} of ${RUNS} (load average ${loadAverage().join(' / ')})`);
    runs.push(await oneRun(bench, run));
    if (bench.failures.length >= MAX_FAILURES) break;
  }
  // A failed answer under load (a 503 past the deadline) does not cost the breakdown; a broken run does.
  const traces = BREAKDOWN_EXPERIMENTS > 0 && bench.failures.length < MAX_FAILURES ? await probeRun(bench) : [];
  machine.loadAverageAtEnd = loadAverage();

  // ---------------------------------------------------------------------------------------------
  // Report

  const summary = summarizeRuns(runs);
  const breakdownByTransition = Object.fromEntries(
    NAMES.map((name) => [name, breakdown(traces.filter((trace) => trace.transition === name && trace.status === 200))]),
  );
  const goals = evaluateGoals(summary);
  const ok = bench.failures.length === 0;
  const result = {
    timestamp: startedAt.toISOString(),
    durationSeconds: round(msSince(started) / 1000, 1),
    ok,
    mayday: gitState(),
    machine,
    underLoad: machine.loadAverageAtStart[0] > machine.cores / 2 || (machine.loadAverageAtEnd?.[0] ?? 0) > machine.cores,
    settings: {
      runs: RUNS,
      experiments: EXPERIMENTS,
      concurrent: CONCURRENT,
      replicas: REPLICAS,
      warmup: WARMUP,
      namespacesPerSide: NAMESPACES,
      breakdownExperiments: BREAKDOWN_EXPERIMENTS,
      logLevel: LOG_LEVEL,
      trafficProvider: 'nginx',
      nodeFlags: process.env.BENCH_NODE_FLAGS ?? '--max-semi-space-size=2',
    },
    controlPlaneMs: round(controlPlaneMs),
    summary,
    breakdown: breakdownByTransition,
    floorWrites: FLOOR_WRITES,
    runs,
    checks: bench.checkStats,
    failures: bench.failures.slice(0, 50),
    failureCount: bench.failures.length,
    goals,
  };

  print(result);

  const resultsDir = join(root, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${startedAt.toISOString().replace(/:/g, '-')}.json`);
  const json = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(file, json);
  writeFileSync(join(resultsDir, 'latest.json'), json);
  const written = [file, join(resultsDir, 'latest.json')];
  if (traces.length > 0) {
    const svgPath = join(resultsDir, 'breakdown.svg');
    writeFileSync(svgPath, breakdownSvg(breakdownByTransition, summary, result.mayday.commit, machine.cores));
    written.push(svgPath);
  }
  console.log(`\nresults: ${written.map((path) => relative(process.cwd(), path)).join(', ')}`);
  console.log(`took ${fmt(result.durationSeconds / 60, 1)} min`);

  if (!ok) {
    console.error(`\nFAILED: ${bench.failures.length} failure(s) (events not answered 200, or a cluster that did not converge):`);
    for (const failure of bench.failures.slice(0, 10))
      console.error(`  [run ${failure.run} ${failure.phase}] ${failure.experiment} ${failure.transition}: ${failure.problem}`);
    return 1;
  }
  return 0;
}

function maydayEnv(bench: Bench, port: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KUBECONFIG: bench.kubeconfig,
    PORT: String(port),
    HOST: '127.0.0.1',
    MAYDAY_NAMESPACE: RECORD_NAMESPACE,
    // The benchmark measures the Kubernetes work; the token check is a constant-time hash compare.
    WEBHOOK_AUTH: 'none',
    SUPERPOSITION_URL: bench.superpositionUrl,
    LOG_LEVEL,
    CANARY_READINESS_GATE: 'false',
    // The floor deletes what a conclusion retires at once; so does Mayday here (the production delay is 30 s).
    SCALE_DOWN_DELAY_SECONDS: '0',
    RESYNC_INTERVAL_SECONDS: '0',
    TRAFFIC_PROVIDER: 'nginx',
    ...extra,
  };
}

async function startMayday(bench: Bench, name: string, options: { probeFile?: string; env?: Record<string, string> } = {}) {
  const port = await freePort();
  const started = await MaydayProcess.start({
    root,
    cwd: bench.dir,
    port,
    logPath: join(bench.dir, `${name}.log`),
    env: maydayEnv(bench, port, { POD_NAME: name, ...options.env }),
    probeFile: options.probeFile,
  });
  return started;
}

/** One transition through a Mayday: deliver (timed); undefined (and a failure noted) unless answered 200. */
async function deliver(
  bench: Bench,
  mayday: MaydayProcess,
  where: { run: number; phase: string },
  id: ExperimentIdentity,
  transition: Transition,
): Promise<number | undefined> {
  const payload = experiment({
    id: id.experimentId,
    context: { namespace: id.namespace },
    status: transition.status,
    traffic: transition.traffic,
    chosen: transition.chosen,
    lastModified: nextLastModified(),
  });
  bench.standIn.putExperiment(id.service, payload);
  const body = JSON.stringify(webhook(transition.event, id.service, payload));
  const fail = (problem: string) =>
    bench.failures.push({ ...where, experiment: id.experimentId, transition: transition.name, problem: oneLine(problem) });
  try {
    const delivered = await mayday.deliver(body, transition.name);
    if (delivered.status === 200) return delivered.ms;
    fail(`HTTP ${delivered.status}: ${delivered.body}`);
  } catch (error) {
    fail(`no answer: ${(error as Error).message}`);
  }
  return undefined;
}

async function check(
  bench: Bench,
  where: { run: number; phase: string },
  id: ExperimentIdentity,
  transition: Transition,
): Promise<boolean> {
  const outcome = await bench.checker.converged(id, transition.expect);
  bench.checkStats.total += 1;
  if (outcome.attempts > 1) bench.checkStats.neededRetry += 1;
  if (outcome.problem) {
    bench.failures.push({
      ...where,
      experiment: id.experimentId,
      transition: transition.name,
      problem: `not converged: ${outcome.problem}`,
    });
    return false;
  }
  bench.checkStats.converged += 1;
  return true;
}

function newWorkspace(bench: Bench, id: ExperimentIdentity): void {
  bench.standIn.workspace(id.service, { replicas: 1, 'container.port': 80 });
}

/** Mayday's counters, once they stopped moving (Events may be written after the answer). */
async function settledMetrics(mayday: MaydayProcess, overhead: Metrics): Promise<Metrics> {
  let previous = await mayday.metrics();
  for (let attempt = 0; attempt < 10; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const next = await mayday.metrics();
    const moved = next.minus(previous).minus(overhead).by('mayday_kube_api_calls_total', 'verb');
    if (Object.values(moved).every((value) => value === 0)) return next;
    previous = next;
  }
  return previous;
}

async function oneRun(bench: Bench, run: number): Promise<RunResult> {
  const { mayday, readyMs } = await startMayday(bench, `mayday-run${run}`);
  let stopped = false;
  onCleanup(`Mayday (run ${run})`, () => (stopped ? undefined : mayday.stop()));
  const atReady = mayday.memoryMb();
  console.log(`  Mayday ready in ${fmt(readyMs)} ms (pid ${mayday.pid})`);
  const where = (phase: string) => ({ run, phase });

  // Warm-up (not timed): JIT, connections, client-node's API discovery on both sides; and, around
  // each transition, Mayday's Kubernetes API calls from its own counters.
  const scrapeA = await mayday.metrics();
  const scrapeB = await mayday.metrics();
  const scrapeOverhead = scrapeB.minus(scrapeA);
  const calls: Record<string, Record<string, number>[]> = Object.fromEntries(NAMES.map((name) => [name, []]));
  const notFound: Record<string, Record<string, number>[]> = Object.fromEntries(NAMES.map((name) => [name, []]));
  const superposition: Record<string, number[]> = Object.fromEntries(NAMES.map((name) => [name, []]));
  for (let index = 0; index < WARMUP; index++) {
    const id = identity(MAYDAY_NS(index), `warm${run}x${index}`);
    newWorkspace(bench, id);
    for (const transition of TRANSITIONS) {
      const before = await settledMetrics(mayday, scrapeOverhead);
      const ms = await deliver(bench, mayday, where('warm-up'), id, transition);
      const delta = (await settledMetrics(mayday, scrapeOverhead)).minus(before).minus(scrapeOverhead);
      if (ms === undefined) break;
      calls[transition.name].push(delta.by('mayday_kube_api_calls_total', 'verb'));
      notFound[transition.name].push(nonZero(delta.by('mayday_kube_api_calls_total', 'verb', { outcome: 'not_found' })));
      superposition[transition.name].push(sum(delta.by('mayday_superposition_requests_total', 'endpoint')));
      await check(bench, where('warm-up'), id, transition);
    }
    const floorId = identity(FLOOR_NS(index), `floorwarm${run}x${index}`, FLOOR_MANAGER);
    const floorKaId = identity(FLOOR_NS(index), `floorkawarm${run}x${index}`, FLOOR_MANAGER);
    for (const transition of TRANSITIONS) {
      await transition.floor(bench.floor, floorId);
      await transition.floor(bench.floorKeepAlive, floorKaId);
    }
    await Promise.all([id, floorId, floorKaId].map((done) => bench.checker.removeLeftovers(done)));
  }

  // Latency per transition, one experiment at a time; after each Mayday experiment the same writes
  // directly (the floor, over kept-alive connections and over new ones), so that all see the same cluster as it grows.
  const latency = {
    mayday: emptySamples(),
    floor: emptySamples(),
    floorKeepAlive: emptySamples(),
    record: emptySamples(),
    maydayLifecycle: [] as number[],
    floorLifecycle: [] as number[],
    floorKeepAliveLifecycle: [] as number[],
  };
  const phaseStart = await mayday.metrics();
  const sequentialStart = process.hrtime.bigint();
  for (let index = 0; index < EXPERIMENTS; index++) {
    const id = identity(MAYDAY_NS(index), `bench${run}x${index}`);
    newWorkspace(bench, id);
    let lifecycle = 0;
    let complete = true;
    for (const transition of TRANSITIONS) {
      const ms = await deliver(bench, mayday, where('sequential'), id, transition);
      if (ms === undefined || !(await check(bench, where('sequential'), id, transition))) {
        complete = false;
        break;
      }
      latency.mayday[transition.name].push(ms);
      lifecycle += ms;
    }
    if (complete) latency.maydayLifecycle.push(lifecycle);

    const floorId = identity(FLOOR_NS(index), `floor${run}x${index}`, FLOOR_MANAGER);
    const floorKaId = identity(FLOOR_NS(index), `floorka${run}x${index}`, FLOOR_MANAGER);
    let floorLifecycle = 0;
    let floorKaLifecycle = 0;
    for (const transition of TRANSITIONS) {
      try {
        let timer = process.hrtime.bigint();
        await transition.floor(bench.floorKeepAlive, floorKaId);
        const kaMs = msSince(timer);
        latency.floorKeepAlive[transition.name].push(kaMs);
        floorKaLifecycle += kaMs;

        timer = process.hrtime.bigint();
        await transition.floor(bench.floor, floorId);
        const ms = msSince(timer);
        latency.floor[transition.name].push(ms);
        floorLifecycle += ms;

        // Mayday's record for this transition, the same ConfigMap it writes (not part of the floor).
        timer = process.hrtime.bigint();
        await bench.floorKeepAlive.record(
          floorKaId,
          transition.status,
          transition.event,
          nextLastModified(),
          JSON.stringify(experiment({ id: floorKaId.experimentId })),
        );
        latency.record[transition.name].push(msSince(timer));
      } catch (error) {
        bench.failures.push({
          run,
          phase: 'floor',
          experiment: floorId.experimentId,
          transition: transition.name,
          problem: oneLine((error as Error).message),
        });
        break;
      }
    }
    latency.floorLifecycle.push(floorLifecycle);
    latency.floorKeepAliveLifecycle.push(floorKaLifecycle);
    await Promise.all([id, floorId, floorKaId].map((done) => bench.checker.removeLeftovers(done)));
    if (bench.failures.length >= MAX_FAILURES) {
      console.error(`  stopping the sequential phase: ${bench.failures.length} failures`);
      break;
    }
    if ((index + 1) % 50 === 0 || index + 1 === EXPERIMENTS) {
      console.log(`  sequential: ${index + 1}/${EXPERIMENTS} experiments (${fmt(msSince(sequentialStart) / 1000)} s)`);
    }
  }
  const sequentialDelta = (await mayday.metrics()).minus(phaseStart).minus(scrapeOverhead);

  const throughput = await throughputPhase(bench, run, [mayday], 'concurrent');
  const memory = {
    vmHwmMb: mayday.memoryMb().vmHwmMb,
    maxSampledRssMb: round(mayday.maxSampledRssKb / 1024, 1),
    rssSamples: mayday.rssSamples,
    atReady,
  };
  await mayday.stop();
  stopped = true;
  console.log(
    `  1 replica: ${throughput.events} events in ${fmt(throughput.wallMs / 1000, 2)} s = ${fmt(throughput.eventsPerSecond)} events/s, ` +
      `${throughput.errors} errors, ${throughput.converged}/${throughput.experiments} converged`,
  );

  let throughputReplicas: ThroughputResult | undefined;
  if (REPLICAS > 0) {
    const replicas = await Promise.all(
      Array.from({ length: REPLICAS }, (_, index) =>
        startMayday(bench, `mayday-run${run}-replica${index}`).then((started) => started.mayday),
      ),
    );
    let replicasStopped = false;
    onCleanup(`Mayday replicas (run ${run})`, () =>
      replicasStopped ? undefined : Promise.all(replicas.map((replica) => replica.stop())).then(() => undefined),
    );
    throughputReplicas = await throughputPhase(bench, run, replicas, `concurrent, ${REPLICAS} replicas`);
    await Promise.all(replicas.map((replica) => replica.stop()));
    replicasStopped = true;
    console.log(
      `  ${REPLICAS} replicas: ${throughputReplicas.events} events in ${fmt(throughputReplicas.wallMs / 1000, 2)} s = ${fmt(throughputReplicas.eventsPerSecond)} events/s, ` +
        `${throughputReplicas.errors} errors, ${throughputReplicas.converged}/${throughputReplicas.experiments} converged, ${throughputReplicas.recordConflicts ?? '-'} record conflicts`,
    );
  }

  const transitions = Object.fromEntries(
    TRANSITIONS.map((transition) => {
      const maydaySummary = summarize(latency.mayday[transition.name]);
      const floorSummary = summarize(latency.floor[transition.name]);
      const floorKaSummary = summarize(latency.floorKeepAlive[transition.name]);
      const observed = calls[transition.name];
      const report: TransitionRun = {
        mayday: maydaySummary,
        floorKeepAlive: floorKaSummary,
        floor: floorSummary,
        ratio: { p50: ratio(maydaySummary?.p50, floorKaSummary?.p50), p95: ratio(maydaySummary?.p95, floorKaSummary?.p95) },
        ratioNoKeepAlive: { p50: ratio(maydaySummary?.p50, floorSummary?.p50), p95: ratio(maydaySummary?.p95, floorSummary?.p95) },
        recordWrite: summarize(latency.record[transition.name]),
        maydayKubeCalls: observed.length > 0 ? withTotal(observed[observed.length - 1]) : undefined,
        maydayKubeCallsStable: observed.every((entry) => sameCounts(entry, observed[0])),
        maydayKubeCallsNotFound: notFound[transition.name].at(-1),
        maydaySuperpositionRequests: superposition[transition.name].at(-1),
      };
      return [transition.name, report];
    }),
  ) as Record<TransitionName, TransitionRun>;
  return {
    run,
    startup: { readyMs: round(readyMs) },
    memory,
    transitions,
    lifecycle: {
      mayday: summarize(latency.maydayLifecycle),
      floorKeepAlive: summarize(latency.floorKeepAliveLifecycle),
      floor: summarize(latency.floorLifecycle),
    },
    sequentialApi: {
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
    },
    throughput,
    throughputReplicas,
  };
}

/**
 * CONCURRENT experiments through their whole lifecycle at once (each experiment's events in order,
 * experiments in parallel), every event to the next replica in turn (as a Service spreads requests),
 * then every experiment checked as converged and its leftovers removed.
 */
async function throughputPhase(bench: Bench, run: number, replicas: MaydayProcess[], phase: string): Promise<ThroughputResult> {
  const conflictsBefore = await Promise.all(replicas.map((replica) => replica.metrics()));
  const ids = Array.from({ length: CONCURRENT }, (_, index) => identity(MAYDAY_NS(index), `c${replicas.length}r${run}x${index}`));
  ids.forEach((id) => newWorkspace(bench, id));
  const latency = emptySamples();
  let events = 0;
  let errors = 0;
  let turn = 0;
  const start = process.hrtime.bigint();
  const completed = await Promise.all(
    ids.map(async (id) => {
      for (const transition of TRANSITIONS) {
        const replica = replicas[turn++ % replicas.length];
        const ms = await deliver(bench, replica, { run, phase }, id, transition);
        events += 1;
        if (ms === undefined) {
          errors += 1;
          return false;
        }
        latency[transition.name].push(ms);
      }
      return true;
    }),
  );
  const wallMs = msSince(start);
  let converged = 0;
  for (const [index, id] of ids.entries()) {
    if (completed[index] && (await check(bench, { run, phase }, id, TRANSITIONS[3]))) converged += 1;
  }
  const conflictsAfter = await Promise.all(replicas.map((replica) => replica.metrics()));
  const recordConflicts = conflictsAfter.reduce(
    (total, after, index) => total + after.minus(conflictsBefore[index]).total('mayday_record_conflicts_total'),
    0,
  );
  await Promise.all(ids.map((id) => bench.checker.removeLeftovers(id)));
  return {
    replicas: replicas.length,
    experiments: CONCURRENT,
    events,
    wallMs: round(wallMs),
    eventsPerSecond: round((events / wallMs) * 1000),
    errors,
    converged,
    recordConflicts,
    latency: Object.fromEntries(NAMES.map((name) => [name, summarize(latency[name])])) as Record<TransitionName, Summary | undefined>,
  };
}

/** BREAKDOWN_EXPERIMENTS experiments, one at a time, through a Mayday with the timing probe: its traces. */
async function probeRun(bench: Bench): Promise<(RequestTrace & { transition?: string })[]> {
  const probeFile = join(bench.dir, 'probe.jsonl');
  console.log(`\nbreakdown: ${BREAKDOWN_EXPERIMENTS} experiments through Mayday with the timing probe (bench/probe.ts)`);
  const { mayday } = await startMayday(bench, 'mayday-probe', { probeFile });
  let stopped = false;
  onCleanup('Mayday (probe)', () => (stopped ? undefined : mayday.stop()));
  const where = { run: 0, phase: 'breakdown' };
  for (let index = 0; index < WARMUP + BREAKDOWN_EXPERIMENTS; index++) {
    const warm = index < WARMUP;
    const id = identity(MAYDAY_NS(index), `${warm ? 'probewarm' : 'probe'}${index}`);
    newWorkspace(bench, id);
    for (const transition of TRANSITIONS) {
      const labelled = warm ? { ...transition, name: `warm-up ${transition.name}` as TransitionName } : transition;
      if ((await deliver(bench, mayday, where, id, labelled)) === undefined) break;
      if (!(await check(bench, where, id, transition))) break;
    }
    await bench.checker.removeLeftovers(id);
  }
  await mayday.stop();
  stopped = true;
  const lines = existsSync(probeFile) ? readFileSync(probeFile, 'utf8').split('\n').filter(Boolean) : [];
  const parsed = lines.map((line) => JSON.parse(line) as { type: string; missing?: string[] } & RequestTrace);
  const warning = parsed.find((line) => line.type === 'warning');
  if (warning) console.error(`  the probe found no ${warning.missing?.join(', ')} in dist/: those steps are not broken out`);
  return parsed.filter((line) => line.type === 'request');
}

// ---------------------------------------------------------------------------------------------
// Over the runs

type Pair = { p50?: Spread; p95?: Spread };
const pair = (values: { p50?: number; p95?: number }[]): Pair => ({
  p50: spread(values.map((value) => value.p50)),
  p95: spread(values.map((value) => value.p95)),
});

function summarizeRuns(runs: RunResult[]) {
  const transitions = Object.fromEntries(
    NAMES.map((name) => {
      const of = runs.map((run) => run.transitions[name]);
      return [
        name,
        {
          mayday: pair(of.map((entry) => entry.mayday ?? {})),
          floorKeepAlive: pair(of.map((entry) => entry.floorKeepAlive ?? {})),
          ratio: pair(of.map((entry) => entry.ratio)),
          floor: pair(of.map((entry) => entry.floor ?? {})),
          ratioNoKeepAlive: pair(of.map((entry) => entry.ratioNoKeepAlive)),
          recordWrite: pair(of.map((entry) => entry.recordWrite ?? {})),
          floorWrites: FLOOR_WRITES[name],
          maydayKubeCalls: of[0]?.maydayKubeCalls,
          maydayKubeCallsStable: of.every(
            (entry) => entry.maydayKubeCallsStable && sameCounts(entry.maydayKubeCalls ?? {}, of[0].maydayKubeCalls ?? {}),
          ),
          maydayKubeCallsNotFound: of[0]?.maydayKubeCallsNotFound,
          maydaySuperpositionRequests: of[0]?.maydaySuperpositionRequests,
        },
      ];
    }),
  ) as Record<TransitionName, TransitionSummary>;
  const throughputOf = (pick: (run: RunResult) => ThroughputResult | undefined) => {
    const results = runs.map(pick).filter((value): value is ThroughputResult => value !== undefined);
    if (results.length === 0) return undefined;
    return {
      replicas: results[0].replicas,
      experiments: results[0].experiments,
      eventsPerSecond: spread(results.map((result) => result.eventsPerSecond)),
      errors: sum(Object.fromEntries(results.map((result, index) => [index, result.errors]))),
      converged: `${sum(Object.fromEntries(results.map((result, index) => [index, result.converged])))}/${results.length * results[0].experiments}`,
      recordConflicts: spread(results.map((result) => result.recordConflicts)),
    };
  };
  return {
    transitions,
    lifecycle: {
      mayday: pair(runs.map((run) => run.lifecycle.mayday ?? {})),
      floorKeepAlive: pair(runs.map((run) => run.lifecycle.floorKeepAlive ?? {})),
      floor: pair(runs.map((run) => run.lifecycle.floor ?? {})),
      ratio: pair(
        runs.map((run) => ({
          p50: ratio(run.lifecycle.mayday?.p50, run.lifecycle.floorKeepAlive?.p50),
          p95: ratio(run.lifecycle.mayday?.p95, run.lifecycle.floorKeepAlive?.p95),
        })),
      ),
    },
    throughput: throughputOf((run) => run.throughput),
    throughputReplicas: throughputOf((run) => run.throughputReplicas),
    startupReadyMs: spread(runs.map((run) => run.startup.readyMs)),
    memory: {
      vmHwmMb: spread(runs.map((run) => run.memory.vmHwmMb)),
      atReadyVmRssMb: spread(runs.map((run) => run.memory.atReady.vmRssMb)),
    },
  };
}

interface TransitionSummary {
  mayday: Pair;
  floorKeepAlive: Pair;
  ratio: Pair;
  floor: Pair;
  ratioNoKeepAlive: Pair;
  recordWrite: Pair;
  floorWrites: string;
  maydayKubeCalls?: Record<string, number>;
  maydayKubeCallsStable: boolean;
  maydayKubeCallsNotFound?: Record<string, number>;
  maydaySuperpositionRequests?: number;
}

type RunsSummary = ReturnType<typeof summarizeRuns>;

function evaluateGoals(summary: RunsSummary): { goal: string; value: string; met: boolean }[] {
  const at = (value: Spread | undefined) => value?.median;
  const goals = NAMES.map((name) => {
    const r = summary.transitions[name].ratio;
    const ramp = RAMPS.includes(name);
    const met =
      at(r.p50) !== undefined &&
      at(r.p50)! <= (ramp ? GOALS.rampP50 : GOALS.startConcludeP50) &&
      (!ramp || (at(r.p95) !== undefined && at(r.p95)! <= GOALS.rampP95));
    return {
      goal: ramp
        ? `${name}: at most ${GOALS.rampP50} x the keep-alive floor at p50 and ${GOALS.rampP95} x at p95`
        : `${name}: at most ${GOALS.startConcludeP50} x the keep-alive floor at p50`,
      value: `p50 ${fmtSpread(r.p50, 2)} x, p95 ${fmtSpread(r.p95, 2)} x`,
      met,
    };
  });
  const one = summary.throughput;
  const many = summary.throughputReplicas;
  return [
    ...goals,
    {
      goal: `zero errors at ${CONCURRENT} concurrent experiments, 1 replica${many ? ` and ${many.replicas} replicas` : ''}`,
      value: `1 replica: ${one?.errors ?? '-'} errors, ${one?.converged ?? '-'} converged${many ? `; ${many.replicas} replicas: ${many.errors} errors, ${many.converged} converged` : ''}`,
      met:
        one?.errors === 0 &&
        one.converged.split('/')[0] === one.converged.split('/')[1] &&
        (!many || (many.errors === 0 && many.converged.split('/')[0] === many.converged.split('/')[1])),
    },
    {
      goal: `start-up to ready under ${GOALS.startupMs} ms`,
      value: `${fmtSpread(summary.startupReadyMs, 0)} ms`,
      met: (at(summary.startupReadyMs) ?? Infinity) < GOALS.startupMs,
    },
    {
      goal: `peak RSS under ${GOALS.rssMb} MB`,
      value: `${fmtSpread(summary.memory.vmHwmMb)} MB`,
      met: (at(summary.memory.vmHwmMb) ?? Infinity) < GOALS.rssMb,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Output

function print(result: {
  mayday: { commit?: string; srcModified?: boolean };
  machine: Parameters<typeof describeMachine>[0];
  underLoad: boolean;
  settings: { runs: number; experiments: number; logLevel: string };
  summary: RunsSummary;
  breakdown: Record<string, ReturnType<typeof breakdown>>;
  runs: RunResult[];
  checks: { total: number; converged: number; neededRetry: number };
  goals: { goal: string; value: string; met: boolean }[];
}): void {
  const t = result.summary.transitions;
  const runs = result.settings.runs;
  console.log(
    `\nLatency per transition, ms: median over ${runs} run(s) of each run's p50 / p95, (min-max) over the runs; ` +
      `${result.settings.experiments} experiments one at a time per run\n`,
  );
  const s = (value: Spread | undefined, digits = 1) => fmtSpread(value, digits);
  console.log(
    table(
      [
        'transition',
        'Mayday p50',
        'Mayday p95',
        'floor (keep-alive) p50',
        'floor (keep-alive) p95',
        'RATIO p50',
        'RATIO p95',
        'no-keep-alive floor p50 (ratio)',
      ],
      [
        ...NAMES.map((name) => [
          name,
          s(t[name].mayday.p50),
          s(t[name].mayday.p95),
          s(t[name].floorKeepAlive.p50),
          s(t[name].floorKeepAlive.p95),
          s(t[name].ratio.p50, 2),
          s(t[name].ratio.p95, 2),
          `${fmt(t[name].floor.p50?.median)} (${fmt(t[name].ratioNoKeepAlive.p50?.median, 2)} x)`,
        ]),
        [
          'whole lifecycle',
          s(result.summary.lifecycle.mayday.p50),
          s(result.summary.lifecycle.mayday.p95),
          s(result.summary.lifecycle.floorKeepAlive.p50),
          s(result.summary.lifecycle.floorKeepAlive.p95),
          s(result.summary.lifecycle.ratio.p50, 2),
          s(result.summary.lifecycle.ratio.p95, 2),
          fmt(result.summary.lifecycle.floor.p50?.median),
        ],
      ],
    ),
  );
  console.log(
    `\nRATIO = Mayday / the floor: the same Kubernetes writes issued directly with client-node over kept-alive connections (bench/README.md lists them). ` +
      `The last column is the floor as client-node does it by default (a new TLS connection per request), for reference only.`,
  );

  console.log(`\nKubernetes API calls per transition (Mayday's mayday_kube_api_calls_total around each warm-up transition, run 1)\n`);
  const verbs = ['get', 'list', 'apply', 'create', 'update', 'patch', 'delete', 'event'];
  console.log(
    table(
      [
        'transition',
        ...verbs.map((verb) => `Mayday ${verb}`),
        'Mayday total',
        'Superposition',
        'floor writes',
        'record write p50 (keep-alive)',
      ],
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
          s(t[name].recordWrite.p50),
        ];
      }),
    ),
  );

  console.log(
    `\nWhere the time goes (server side, mean ms per event, critical path only; ${BREAKDOWN_EXPERIMENTS} experiments with the probe)\n`,
  );
  const steps = [...new Set(Object.values(result.breakdown).flatMap((entry) => entry.steps.map((step) => step.step)))];
  if (steps.length > 0) {
    console.log(
      table(
        ['step', ...NAMES],
        [
          ...steps.map((step) => [
            step,
            ...NAMES.map((name) => fmt(result.breakdown[name]?.steps.find((entry) => entry.step === step)?.meanMs, 2)),
          ]),
          ['= server total', ...NAMES.map((name) => fmt(result.breakdown[name]?.serverMs, 2))],
          ['keep-alive floor p50', ...NAMES.map((name) => fmt(t[name].floorKeepAlive.p50?.median, 2))],
        ],
      ),
    );
  }

  const one = result.summary.throughput;
  const many = result.summary.throughputReplicas;
  console.log(
    `\nThroughput, ${one?.experiments ?? '-'} experiments concurrently, events/s: 1 replica ${s(one?.eventsPerSecond)}` +
      ` (${one?.errors ?? '-'} errors, ${one?.converged ?? '-'} converged)` +
      (many
        ? `; ${many.replicas} replicas (leader election, events round-robin) ${s(many.eventsPerSecond)} (${many.errors} errors, ${many.converged} converged, record conflicts ${s(many.recordConflicts, 0)})`
        : ''),
  );
  console.log(
    `Start-up to ready: ${s(result.summary.startupReadyMs, 0)} ms. Peak RSS (VmHWM): ${s(result.summary.memory.vmHwmMb)} MB; at ready ${s(result.summary.memory.atReadyVmRssMb)} MB`,
  );
  if (result.mayday.commit)
    console.log(`Mayday: commit ${result.mayday.commit.slice(0, 12)}${result.mayday.srcModified ? ' with src/ modified' : ''}`);
  console.log(`Machine: ${describeMachine(result.machine)}${result.underLoad ? ' (SHARED: other work ran on the machine)' : ''}`);
  console.log(`Checks: ${result.checks.converged}/${result.checks.total} converged (${result.checks.neededRetry} needed a second look)`);
  console.log('\nGoals (median over the runs)\n');
  console.log(
    table(
      ['goal', 'this run: median (min-max)', 'met'],
      result.goals.map((goal) => [goal.goal, goal.value, goal.met ? 'yes' : 'NO']),
    ),
  );
}

function breakdownSvg(
  byTransition: Record<string, ReturnType<typeof breakdown>>,
  summary: RunsSummary,
  commit: string | undefined,
  cores: number,
): string {
  const bars = NAMES.map((name) => ({
    label: name,
    segments: (byTransition[name]?.steps ?? []).map((step) => ({ name: step.step, value: step.meanMs })),
    reference: summary.transitions[name].floorKeepAlive.p50
      ? { name: 'keep-alive floor p50', value: summary.transitions[name].floorKeepAlive.p50!.median }
      : undefined,
  }));
  return stackedBarsSvg(
    "Where a transition's time goes in Mayday (server side, mean ms, critical path)",
    'ms',
    bars,
    900,
    `npm run bench; commit ${commit?.slice(0, 12) ?? '?'}; ${cores} cores; thin bar: the same writes issued directly (keep-alive floor, p50)`,
  );
}

// ---------------------------------------------------------------------------------------------
// Helpers

function emptySamples(): Record<TransitionName, number[]> {
  return { Started: [], Inprogress: [], Paused: [], Concluded: [] };
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const canonical = (values: Record<string, number>) =>
    JSON.stringify(
      Object.entries(nonZero(values))
        .filter(([key]) => key !== 'total')
        .sort(([x], [y]) => x.localeCompare(y)),
    );
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

if (process.argv.includes('--scale')) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('./scale');
} else {
  runMain(main);
}
