/**
 * `npm run bench:scale` (or `npm run bench -- --scale`): how Mayday's ramp latency, start-up and
 * memory grow with the number of experiments live at once. One local control plane (a bare API
 * server with a /20 Service range: 1000 experiments need 2000 cluster IPs); experiments are started
 * through Mayday (each: stable and canary Deployments, main and canary Services, main and canary
 * Ingresses, a record and a route claim), spread over BENCH_SCALE_NAMESPACES namespaces, up to each
 * level of BENCH_SCALE_LEVELS. At each level, BENCH_RUNS times: Mayday is restarted (start-up to
 * ready, and to every informer's first complete list), left at rest (resident memory), then
 * BENCH_SCALE_RAMPS ramps of live experiments, each timed against the floor at that level (the same
 * write, a canary Ingress's weight, issued directly over a kept-alive connection).
 *
 * Environment: BENCH_SCALE_LEVELS (10,100,500,1000), BENCH_RUNS (3), BENCH_SCALE_RAMPS (60),
 * BENCH_SCALE_NAMESPACES (20), BENCH_SCALE_PARALLEL (6: Started events in flight while filling up).
 */
import { CoreV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { experiment, webhook } from '../test/support/payloads';
import { SuperpositionStandIn } from '../test/support/superposition-stand-in';
import { ClusterChecker } from './checks';
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
import { Floor } from './floor';
import { freePort, MaydayProcess } from './mayday-process';
import { canaryIngress, type ExperimentIdentity } from './shapes';
import { fmt, fmtSpread, msSince, ratio, round, spread, summarize, table, type Spread, type Summary } from './stats';
import { lineChartsSvg } from './svg';

const LEVELS = (process.env.BENCH_SCALE_LEVELS || '10,100,500,1000').split(',').map((level) => {
  const value = Number(level.trim());
  if (!Number.isInteger(value) || value < 1 || value > 1500)
    throw new Error(`BENCH_SCALE_LEVELS: "${level}" is not a number from 1 to 1500`);
  return value;
});
const RUNS = intFromEnv('BENCH_RUNS', 3, 1);
const RAMPS = intFromEnv('BENCH_SCALE_RAMPS', 60, 5);
const NAMESPACES = intFromEnv('BENCH_SCALE_NAMESPACES', 20, 1);
const PARALLEL = intFromEnv('BENCH_SCALE_PARALLEL', 6, 1);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL || 'info';
/** 2 Services per experiment: a /20 holds 4094 cluster IPs. */
const SERVICE_CIDR = '10.0.0.0/20';
const RECORD_NAMESPACE = 'mayday-bench';
const FLOOR_NAMESPACE = 'scale-floor';
const FLOOR_ROUTES = 10;
/** Deployments, Services, ConfigMaps (records) and Ingresses: one informer each. */
const INFORMERS = 4;
const GOALS = { rampGrowth: 1.2, rssKbPerExperiment: 60, startupMs: 5000 };

let clock = Date.parse('2026-08-20T07:37:40.000Z');
const nextLastModified = () => new Date((clock += 1000)).toISOString().replace(/Z$/, '123Z');
const idStamp = String(Date.now()).slice(-9);

interface Live {
  id: ExperimentIdentity;
  traffic: number;
}

interface Round {
  run: number;
  readyMs: number;
  /** From the process's start to the last informer's first complete list (the probe's clock). */
  cachesFilledMs?: number;
  /**
   * From spawning Mayday until, as the new leader, it had converged every unfinished experiment once
   * (ExperimentReconciler.takeOver: one event per live experiment, counted by mayday_webhook_events_total{source="watch"}).
   */
  leaderCaughtUpMs?: number;
  rssAtRestMb?: number;
  vmHwmMb?: number;
  ramp?: Summary;
  floor?: Summary;
  ratio: { p50?: number; p95?: number };
}

interface Level {
  experiments: number;
  /** Kubernetes objects Mayday's informers hold (from the probe: items of each first list). */
  cachedObjects?: number;
  fillSeconds: number;
  rounds: Round[];
  readyMs?: Spread;
  cachesFilledMs?: Spread;
  leaderCaughtUpMs?: Spread;
  rssAtRestMb?: Spread;
  vmHwmMb?: Spread;
  rampP50?: Spread;
  rampP95?: Spread;
  floorP50?: Spread;
  floorP95?: Spread;
  ratioP50?: Spread;
  ratioP95?: Spread;
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const started = process.hrtime.bigint();
  if (!existsSync(join(root, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
  const dir = mkdtempSync(join(tmpdir(), 'mayday-bench-scale-'));
  setRunDir(dir);
  const machine = describeThisMachine();
  console.log(
    `bench --scale: levels ${LEVELS.join(', ')} live experiments over ${NAMESPACES} namespaces; at each, ${RUNS} restart(s) of Mayday ` +
      `and ${RAMPS} ramps against the floor; LOG_LEVEL=${LOG_LEVEL}`,
  );
  onCleanup('control plane', () => controlPlane('stop', dir));
  controlPlane('start', dir, { KUBE_SERVICE_CIDR: SERVICE_CIDR });
  const kubeconfig = readEnvFile(join(dir, 'env')).KUBECONFIG;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  machine.kubeApiserver = (await kc.makeApiClient(VersionApi).getCode()).gitVersion;
  const namespaces = Array.from({ length: NAMESPACES }, (_, index) => `scale-${index}`);
  for (const name of [...namespaces, FLOOR_NAMESPACE, RECORD_NAMESPACE]) await core.createNamespace({ body: { metadata: { name } } });
  const standIn = new SuperpositionStandIn();
  const superpositionUrl = await standIn.start();
  onCleanup('Superposition stand-in', () => standIn.stop());
  const checker = new ClusterChecker(kubeconfig);
  const floor = new Floor(kubeconfig, true);
  console.log(`machine: ${describeMachine(machine)}`);

  // The floor's routes: canary Ingresses of their own, whose weight a ramp of the floor rewrites.
  const floorRoutes = Array.from({ length: FLOOR_ROUTES }, (_, index) => ({
    id: identityFor(FLOOR_NAMESPACE, index, 'mayday-bench-floor'),
    weight: 10,
  }));
  for (const route of floorRoutes) await floor.apply(canaryIngress(route.id, route.id.canaryId, route.weight));

  let mayday: MaydayProcess | undefined;
  onCleanup('Mayday', () => mayday?.stop());
  let probeFile = '';
  const startMayday = async (name: string) => {
    probeFile = join(dir, `${name}.probe.jsonl`);
    const port = await freePort();
    const result = await MaydayProcess.start({
      root,
      cwd: dir,
      port,
      logPath: join(dir, `${name}.log`),
      probeFile,
      env: {
        BENCH_PROBE_MODE: 'lists',
        KUBECONFIG: kubeconfig,
        PORT: String(port),
        HOST: '127.0.0.1',
        MAYDAY_NAMESPACE: RECORD_NAMESPACE,
        POD_NAME: name,
        WEBHOOK_AUTH: 'none',
        SUPERPOSITION_URL: superpositionUrl,
        LOG_LEVEL,
        CANARY_READINESS_GATE: 'false',
        SCALE_DOWN_DELAY_SECONDS: '0',
        RESYNC_INTERVAL_SECONDS: '0',
        TRAFFIC_PROVIDER: 'nginx',
      },
    });
    mayday = result.mayday;
    return result.readyMs;
  };

  const live: Live[] = [];
  const failures: string[] = [];
  const deliver = async (target: Live, event: string, status: 'INPROGRESS', traffic: number): Promise<number | undefined> => {
    const payload = experiment({
      id: target.id.experimentId,
      context: { namespace: target.id.namespace },
      status,
      traffic,
      lastModified: nextLastModified(),
    });
    standIn.putExperiment(target.id.service, payload);
    try {
      const answer = await mayday!.deliver(JSON.stringify(webhook(event, target.id.service, payload)));
      if (answer.status === 200) return answer.ms;
      failures.push(`${event} ${target.id.experimentId}: HTTP ${answer.status} ${oneLine(answer.body)}`);
    } catch (error) {
      failures.push(`${event} ${target.id.experimentId}: ${oneLine((error as Error).message)}`);
    }
    return undefined;
  };

  await startMayday('mayday-fill');
  const levels: Level[] = [];
  for (const level of LEVELS) {
    // Fill up to the level, PARALLEL Started events at a time, through Mayday.
    const fillStart = process.hrtime.bigint();
    const toStart: Live[] = [];
    for (let index = live.length; index < level; index++) {
      const target = { id: identityFor(namespaces[index % NAMESPACES], index, 'mayday'), traffic: 10 };
      standIn.workspace(target.id.service, { replicas: 1, 'container.port': 80 });
      toStart.push(target);
    }
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < toStart.length && failures.length < 20) {
          const target = toStart[next++];
          if ((await deliver(target, 'ExperimentStarted', 'INPROGRESS', target.traffic)) !== undefined) live.push(target);
        }
      }),
    );
    if (failures.length > 0) break;
    const fillSeconds = round(msSince(fillStart) / 1000, 1);
    console.log(`\n${live.length} experiments live (filled in ${fmt(fillSeconds)} s; load average ${loadAverage().join(' / ')})`);

    const rounds: Round[] = [];
    let cachedObjects: number | undefined;
    for (let run = 1; run <= RUNS; run++) {
      await mayday!.stop();
      const spawned = process.hrtime.bigint();
      const readyMs = await startMayday(`mayday-${level}-run${run}`);
      const lists = await informerLists(probeFile, INFORMERS, 120_000);
      cachedObjects = lists.items;
      // The new leader converges every unfinished experiment once: the ramps are measured after that.
      const caughtUp = await leaderCaughtUp(mayday!, live.length, 300_000);
      const leaderCaughtUpMs = caughtUp ? msSince(spawned) : undefined;
      // At rest: caches filled, nothing to do for a moment.
      await sleep(2000);
      const rssAtRestMb = mayday!.memoryMb().vmRssMb;
      const rampSamples: number[] = [];
      const floorSamples: number[] = [];
      for (let index = 0; index < RAMPS; index++) {
        const target = live[Math.floor(Math.random() * live.length)];
        target.traffic = target.traffic === 30 ? 20 : 30;
        const ms = await deliver(target, 'ExperimentInprogress', 'INPROGRESS', target.traffic);
        if (ms === undefined) break;
        rampSamples.push(ms);
        const outcome = await checker.converged(target.id, { kind: 'rollout', weight: target.traffic });
        if (outcome.problem) failures.push(`ramp ${target.id.experimentId}: not converged: ${outcome.problem}`);
        const route = floorRoutes[index % floorRoutes.length];
        route.weight = route.weight === 30 ? 20 : 30;
        const timer = process.hrtime.bigint();
        await floor.apply(canaryIngress(route.id, route.id.canaryId, route.weight));
        floorSamples.push(msSince(timer));
        if (failures.length >= 20) break;
      }
      const ramp = summarize(rampSamples);
      const floorSummary = summarize(floorSamples);
      const roundResult: Round = {
        run,
        readyMs: round(readyMs),
        cachesFilledMs: lists.lastMs === undefined ? undefined : round(lists.lastMs),
        leaderCaughtUpMs: leaderCaughtUpMs === undefined ? undefined : round(leaderCaughtUpMs),
        rssAtRestMb,
        vmHwmMb: mayday!.memoryMb().vmHwmMb,
        ramp,
        floor: floorSummary,
        ratio: { p50: ratio(ramp?.p50, floorSummary?.p50), p95: ratio(ramp?.p95, floorSummary?.p95) },
      };
      rounds.push(roundResult);
      console.log(
        `  run ${run}: ready ${fmt(readyMs, 0)} ms, caches filled ${fmt(roundResult.cachesFilledMs, 0)} ms (${cachedObjects} objects), ` +
          `leader caught up ${fmt(roundResult.leaderCaughtUpMs, 0)} ms, ` +
          `RSS at rest ${fmt(rssAtRestMb)} MB, peak ${fmt(roundResult.vmHwmMb)} MB; ramp p50/p95 ${fmt(ramp?.p50)}/${fmt(ramp?.p95)} ms, ` +
          `floor ${fmt(floorSummary?.p50)}/${fmt(floorSummary?.p95)} ms`,
      );
      if (failures.length > 0) break;
    }
    levels.push({
      experiments: live.length,
      cachedObjects,
      fillSeconds,
      rounds,
      readyMs: spread(rounds.map((entry) => entry.readyMs)),
      cachesFilledMs: spread(rounds.map((entry) => entry.cachesFilledMs)),
      leaderCaughtUpMs: spread(rounds.map((entry) => entry.leaderCaughtUpMs)),
      rssAtRestMb: spread(rounds.map((entry) => entry.rssAtRestMb)),
      vmHwmMb: spread(rounds.map((entry) => entry.vmHwmMb)),
      rampP50: spread(rounds.map((entry) => entry.ramp?.p50)),
      rampP95: spread(rounds.map((entry) => entry.ramp?.p95)),
      floorP50: spread(rounds.map((entry) => entry.floor?.p50)),
      floorP95: spread(rounds.map((entry) => entry.floor?.p95)),
      ratioP50: spread(rounds.map((entry) => entry.ratio.p50)),
      ratioP95: spread(rounds.map((entry) => entry.ratio.p95)),
    });
    if (failures.length > 0) break;
  }
  machine.loadAverageAtEnd = loadAverage();

  const first = levels[0];
  const last = levels.at(-1);
  const rampGrowth = ratio(last?.rampP50?.median, first?.rampP50?.median);
  const rssKbPerExperiment =
    first && last && last.experiments > first.experiments && last.rssAtRestMb && first.rssAtRestMb
      ? round(((last.rssAtRestMb.median - first.rssAtRestMb.median) * 1024) / (last.experiments - first.experiments), 1)
      : undefined;
  const startupAtTop = last ? Math.max(last.readyMs?.median ?? 0, last.cachesFilledMs?.median ?? 0) : undefined;
  const goals = [
    {
      goal: `ramp p50 at ${last?.experiments} live experiments within ${GOALS.rampGrowth} x its value at ${first?.experiments}`,
      value: `${fmt(last?.rampP50?.median)} ms vs ${fmt(first?.rampP50?.median)} ms = ${fmt(rampGrowth, 2)} x`,
      met: rampGrowth !== undefined && rampGrowth <= GOALS.rampGrowth,
    },
    {
      goal: `RSS growth under ${GOALS.rssKbPerExperiment} KB per live experiment (at rest)`,
      value: `${fmt(rssKbPerExperiment)} KB`,
      met: rssKbPerExperiment !== undefined && rssKbPerExperiment < GOALS.rssKbPerExperiment,
    },
    {
      goal: `start-up (ready, and every cache filled) under ${GOALS.startupMs / 1000} s at ${last?.experiments}`,
      value: `${fmt(startupAtTop, 0)} ms`,
      met: startupAtTop !== undefined && startupAtTop < GOALS.startupMs,
    },
  ];
  const ok = failures.length === 0 && levels.length === LEVELS.length;
  const mayday_ = gitState();
  const result = {
    timestamp: startedAt.toISOString(),
    durationSeconds: round(msSince(started) / 1000, 1),
    ok,
    mayday: mayday_,
    machine,
    underLoad: machine.loadAverageAtStart[0] > machine.cores / 2 || (machine.loadAverageAtEnd?.[0] ?? 0) > machine.cores,
    settings: {
      levels: LEVELS,
      runs: RUNS,
      ramps: RAMPS,
      namespaces: NAMESPACES,
      parallel: PARALLEL,
      logLevel: LOG_LEVEL,
      serviceCidr: SERVICE_CIDR,
    },
    levels,
    growth: { rampP50: rampGrowth, rssKbPerExperiment, startupAtTopMs: startupAtTop },
    failures: failures.slice(0, 20),
    goals,
  };

  console.log('\nScale curve: median over the runs (min-max)\n');
  console.log(
    table(
      [
        'live experiments',
        'ramp p50 ms',
        'ramp p95 ms',
        'floor p50 ms',
        'ratio p50',
        'ratio p95',
        'ready ms',
        'caches filled ms',
        'leader caught up ms',
        'RSS at rest MB',
        'peak RSS MB',
      ],
      levels.map((entry) => [
        String(entry.experiments),
        fmtSpread(entry.rampP50),
        fmtSpread(entry.rampP95),
        fmtSpread(entry.floorP50),
        fmtSpread(entry.ratioP50, 2),
        fmtSpread(entry.ratioP95, 2),
        fmtSpread(entry.readyMs, 0),
        fmtSpread(entry.cachesFilledMs, 0),
        fmtSpread(entry.leaderCaughtUpMs, 0),
        fmtSpread(entry.rssAtRestMb),
        fmtSpread(entry.vmHwmMb),
      ]),
    ),
  );
  if (mayday_.commit) console.log(`\nMayday: commit ${mayday_.commit.slice(0, 12)}${mayday_.srcModified ? ' with src/ modified' : ''}`);
  console.log(`Machine: ${describeMachine(machine)}${result.underLoad ? ' (SHARED: other work ran on the machine)' : ''}`);
  console.log('\nGoals\n');
  console.log(
    table(
      ['goal', 'this run', 'met'],
      goals.map((goal) => [goal.goal, goal.value, goal.met ? 'yes' : 'NO']),
    ),
  );

  const resultsDir = join(root, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `scale-${startedAt.toISOString().replace(/:/g, '-')}.json`);
  const json = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(file, json);
  writeFileSync(join(resultsDir, 'scale-latest.json'), json);
  const svgPath = join(resultsDir, 'scale.svg');
  writeFileSync(svgPath, scaleSvg(levels, mayday_.commit, machine.cores));
  console.log(
    `\nresults: ${[file, join(resultsDir, 'scale-latest.json'), svgPath].map((path) => relative(process.cwd(), path)).join(', ')}`,
  );
  console.log(`took ${fmt(result.durationSeconds / 60, 1)} min`);
  if (!ok) {
    console.error(`\nFAILED: ${failures.length} failure(s):`);
    for (const failure of failures.slice(0, 10)) console.error(`  ${failure}`);
    return 1;
  }
  return 0;
}

function identityFor(namespace: string, index: number, managedBy: string): ExperimentIdentity {
  const experimentId = `7${idStamp}${managedBy === 'mayday' ? '0' : '1'}${String(index).padStart(8, '0')}`;
  return {
    namespace,
    service: `s${managedBy === 'mayday' ? '' : 'f'}${index}`,
    experimentId,
    controlId: `${experimentId}-control`,
    canaryId: `${experimentId}-test1`,
    managedBy,
  };
}

/**
 * Waits until the new leader has converged every unfinished experiment once (as many `watch` events as
 * live experiments), or its count stopped growing for 3 s; false when neither happened in time.
 */
async function leaderCaughtUp(mayday: MaydayProcess, unfinished: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const converged = (await mayday.metrics()).by('mayday_webhook_events_total', 'source').watch ?? 0;
    if (converged >= unfinished) return true;
    if (converged !== last) [last, since] = [converged, Date.now()];
    else if (converged > 0 && Date.now() - since > 3000) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

/** Waits for `count` informers' first complete lists in the probe's file: when the last arrived, and how many objects they held. */
async function informerLists(file: string, count: number, timeoutMs: number): Promise<{ lastMs?: number; items?: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const firsts = new Map<number, { t: number; items: number }>();
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { type: string; store?: number; t?: number; items?: number };
        if (entry.type === 'list' && entry.store !== undefined && !firsts.has(entry.store))
          firsts.set(entry.store, { t: entry.t!, items: entry.items! });
      }
    }
    if (firsts.size >= count) {
      const values = [...firsts.values()];
      return { lastMs: Math.max(...values.map((value) => value.t)), items: values.reduce((total, value) => total + value.items, 0) };
    }
    if (Date.now() > deadline) return {};
    await sleep(50);
  }
}

function scaleSvg(levels: Level[], commit: string | undefined, cores: number): string {
  const points = (pick: (level: Level) => number | undefined): [number, number][] =>
    levels.flatMap((level) => {
      const value = pick(level);
      return value === undefined ? [] : [[level.experiments, value] as [number, number]];
    });
  const xTicks = levels.map((level) => level.experiments);
  return lineChartsSvg(
    [
      {
        title: 'Ramp latency',
        xLabel: 'live experiments',
        yLabel: 'ms',
        logX: true,
        xTicks,
        series: [
          { name: 'Mayday p50', points: points((level) => level.rampP50?.median) },
          { name: 'Mayday p95', points: points((level) => level.rampP95?.median) },
          { name: 'floor p50', points: points((level) => level.floorP50?.median), dashed: true },
          { name: 'floor p95', points: points((level) => level.floorP95?.median), dashed: true },
        ],
      },
      {
        title: 'Resident memory',
        xLabel: 'live experiments',
        yLabel: 'MB',
        logX: true,
        xTicks,
        series: [
          { name: 'at rest (VmRSS)', points: points((level) => level.rssAtRestMb?.median) },
          { name: 'peak (VmHWM)', points: points((level) => level.vmHwmMb?.median) },
        ],
      },
      {
        title: 'Start-up',
        xLabel: 'live experiments',
        yLabel: 'ms',
        logX: true,
        xTicks,
        series: [
          { name: 'ready', points: points((level) => level.readyMs?.median) },
          { name: 'caches filled', points: points((level) => level.cachesFilledMs?.median) },
          { name: 'leader caught up', points: points((level) => level.leaderCaughtUpMs?.median) },
        ],
      },
    ],
    320,
    300,
    `npm run bench:scale; medians over the runs; commit ${commit?.slice(0, 12) ?? '?'}; ${cores} cores`,
  );
}

runMain(main);
