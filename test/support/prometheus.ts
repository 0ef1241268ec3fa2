import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './eventually';
import { closedPort } from './ports';
import { testTools } from './test-tools';

/**
 * A real Prometheus server (Debian's package, installed once by scripts/test-tools.sh)
 * scraping, every second, a small exporter of per-variant error rates that the test sets:
 * `mayday_test_error_rate{namespace, variant}`.
 */
export class TestPrometheus {
  private readonly rates = new Map<string, { namespace: string; variant: string; value: number }>();
  private exporter?: Server;
  private child?: ChildProcess;
  private dir?: string;
  url = '';

  async start(): Promise<string> {
    const binary = testTools().prometheus;
    this.exporter = createServer((request, response) => {
      const lines = ['# TYPE mayday_test_error_rate gauge'];
      for (const { namespace, variant, value } of this.rates.values()) {
        lines.push(`mayday_test_error_rate{namespace="${namespace}",variant="${variant}"} ${value}`);
      }
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`${lines.join('\n')}\n`);
    });
    await new Promise<void>((resolve) => this.exporter!.listen(0, '127.0.0.1', resolve));
    const exporterPort = (this.exporter.address() as AddressInfo).port;

    this.dir = mkdtempSync(join(tmpdir(), 'mayday-prometheus-'));
    const config = join(this.dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: canaries',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${exporterPort}']`,
        '',
      ].join('\n'),
    );
    const port = await closedPort();
    this.url = `http://127.0.0.1:${port}`;
    this.child = spawn(
      binary,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        // A series that stops being exported is gone from queries after 5 s, not the default 5 min.
        '--query.lookback-delta=5s',
      ],
      { stdio: 'ignore' },
    );
    await eventually(
      async () => {
        const ready = await fetch(`${this.url}/-/ready`);
        if (!ready.ok) throw new Error(`Prometheus not ready: ${ready.status}`);
      },
      30_000,
      200,
    );
    return this.url;
  }

  /** The error rate the exporter reports for one variant (Prometheus sees it at its next scrape). */
  setErrorRate(namespace: string, variant: string, value: number): void {
    this.rates.set(`${namespace}/${variant}`, { namespace, variant, value });
  }

  /** Waits until Prometheus answers this value for the query. */
  async untilQueried(promql: string, value: number): Promise<void> {
    await eventually(
      async () => {
        const answer = (await (await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`)).json()) as {
          data: { result: { value: [number, string] }[] };
        };
        if (Number(answer.data.result[0]?.value[1]) !== value) throw new Error(`Prometheus answers ${JSON.stringify(answer.data.result)}`);
      },
      30_000,
      200,
    );
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child!.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    if (this.exporter) {
      this.exporter.closeAllConnections();
      await new Promise((resolve) => this.exporter!.close(resolve));
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
