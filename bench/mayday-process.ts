/**
 * Mayday's production build (`node dist/main.js`) as a child process: start-up to ready, resident
 * memory, webhook deliveries timed end to end, and its Prometheus counters.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { msSince } from './stats';

export interface Delivery {
  status: number;
  ms: number;
  body: string;
}

export class MaydayProcess {
  /** Highest VmRSS seen by the 100 ms sampler, in kB. */
  maxSampledRssKb = 0;
  rssSamples = 0;
  private sampler?: NodeJS.Timeout;
  private exited?: { code: number | null; signal: NodeJS.Signals | null };

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly logPath: string,
  ) {
    child.once('exit', (code, signal) => (this.exited = { code, signal }));
    this.sampler = setInterval(() => this.sample(), 100);
    this.sampler.unref();
  }

  /**
   * Spawns `node dist/main.js` with exactly `env` (plus PATH and HOME), in `cwd` (so that no `.env`
   * file of the checkout is read), and waits for the first 200 of GET /health/ready, polled every 10 ms.
   * The start-up time runs from just before spawn to that answer.
   */
  static async start(options: {
    root: string;
    cwd: string;
    env: Record<string, string>;
    port: number;
    logPath: string;
    /** Load the timing probe (bench/probe.ts) and have it write its traces here. */
    probeFile?: string;
  }): Promise<{
    mayday: MaydayProcess;
    readyMs: number;
  }> {
    const log = openSync(options.logPath, 'a');
    const started = process.hrtime.bigint();
    // The production command line (package.json start:prod, the Dockerfile's CMD).
    // BENCH_NODE_FLAGS replaces the flags, to try others (e.g. "--max-old-space-size=96").
    const flags = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? ['--max-semi-space-size=2'];
    const probe = options.probeFile ? ['--require', join(__dirname, 'probe.js')] : [];
    const child = spawn(process.execPath, [...flags, ...probe, join(options.root, 'dist', 'main.js')], {
      cwd: options.cwd,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/root',
        ...options.env,
        ...(options.probeFile ? { BENCH_PROBE_FILE: options.probeFile } : {}),
      },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    const mayday = new MaydayProcess(child, `http://127.0.0.1:${options.port}`, options.logPath);
    const readySeconds = Number(process.env.BENCH_READY_TIMEOUT_SECONDS ?? 60);
    const deadline = Date.now() + readySeconds * 1000;
    const failed = (why: string): Error => {
      child.kill('SIGKILL');
      const tail = readFileSync(options.logPath, 'utf8').trim().split('\n').slice(-5).join('\n');
      return new Error(`Mayday ${why}; last lines of ${options.logPath}:\n${tail}`);
    };
    for (;;) {
      if (mayday.exited) throw failed(`exited during start-up (${JSON.stringify(mayday.exited)})`);
      try {
        const answer = await fetch(`${mayday.url}/health/ready`, { signal: AbortSignal.timeout(2000) });
        await answer.arrayBuffer();
        if (answer.status === 200) return { mayday, readyMs: msSince(started) };
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw failed(`was not ready within ${readySeconds} s (BENCH_READY_TIMEOUT_SECONDS)`);
      await sleep(10);
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exited === undefined;
  }

  /** Peak resident set so far (VmHWM) and now (VmRSS), in MB. */
  memoryMb(): { vmRssMb?: number; vmHwmMb?: number } {
    const mb = (kb: number | undefined) => (kb === undefined ? undefined : Math.round((kb / 1024) * 10) / 10);
    return { vmRssMb: mb(this.procStatusKb('VmRSS')), vmHwmMb: mb(this.procStatusKb('VmHWM')) };
  }

  /** One webhook delivery, timed from just before the request to the complete answer. */
  async deliver(body: string, transition?: string): Promise<Delivery> {
    const started = process.hrtime.bigint();
    const answer = await fetch(`${this.url}/webhooks/superposition`, {
      method: 'POST',
      // The transition's name, for the probe's traces (bench/probe.ts); Mayday ignores the header.
      headers: { 'content-type': 'application/json', ...(transition ? { 'x-bench-transition': transition } : {}) },
      body,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await answer.text();
    return { status: answer.status, ms: msSince(started), body: text };
  }

  async metrics(): Promise<Metrics> {
    const answer = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
    if (answer.status !== 200) throw new Error(`GET /metrics answered ${answer.status}`);
    return Metrics.parse(await answer.text());
  }

  /** A line of /proc/<pid>/status in kB (VmHWM: peak resident set; VmRSS: current). */
  procStatusKb(field: 'VmHWM' | 'VmRSS'): number | undefined {
    try {
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return match ? Number(match[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  private sample(): void {
    const rss = this.procStatusKb('VmRSS');
    if (rss === undefined) return;
    this.rssSamples += 1;
    this.maxSampledRssKb = Math.max(this.maxSampledRssKb, rss);
  }

  async stop(): Promise<void> {
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = undefined;
    if (!this.running) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timedOut = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
    if (timedOut && this.running) {
      this.child.kill('SIGKILL');
      await exited;
    }
  }
}

/** Prometheus text format, flattened to `name{labels}` -> value. */
export class Metrics {
  private constructor(readonly values: Map<string, number>) {}

  static parse(text: string): Metrics {
    const values = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
      if (match) values.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
    }
    return new Metrics(values);
  }

  /** this - before, for every series (series absent before count as 0). */
  minus(before: Metrics): Metrics {
    const values = new Map<string, number>();
    for (const [key, value] of this.values) values.set(key, value - (before.values.get(key) ?? 0));
    return new Metrics(values);
  }

  /** The sum of every series of one metric (with or without labels). */
  total(metric: string): number {
    let total = 0;
    for (const [key, value] of this.values) if (key === metric || key.startsWith(`${metric}{`)) total += value;
    return total;
  }

  /** Sums of one metric grouped by one label (e.g. API calls by verb), optionally filtered by another label. */
  by(metric: string, label: string, where?: Record<string, string>): Record<string, number> {
    const totals: Record<string, number> = {};
    for (const [key, value] of this.values) {
      if (!key.startsWith(`${metric}{`)) continue;
      const labels = parseLabels(key.slice(metric.length));
      if (where && Object.entries(where).some(([name, wanted]) => labels[name] !== wanted)) continue;
      const group = labels[label] ?? '';
      totals[group] = (totals[group] ?? 0) + value;
    }
    return totals;
  }
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const match of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[match[1]] = match[2];
  return labels;
}

/** A free TCP port on loopback (asked from the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
