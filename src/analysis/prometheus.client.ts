import { Injectable } from '@nestjs/common';
import { MaydayConfig } from '../config/mayday-config';
import { sampleOf } from './canary-analysis';

/** Prometheus's HTTP API, one instant query at a time (`GET /api/v1/query`). */
@Injectable()
export class PrometheusClient {
  constructor(private readonly config: MaydayConfig) {}

  /** The query's value (undefined: no data); throws when Prometheus gives no answer or an error. */
  async query(promql: string): Promise<number | undefined> {
    const base = this.config.analysis?.prometheusUrl;
    if (!base) throw new Error('ANALYSIS_PROMETHEUS_URL is not set');
    let response: Response;
    try {
      response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.config.superposition.timeoutMs),
      });
    } catch (error) {
      const failure = error as Error & { cause?: { code?: string } };
      throw new Error(`Prometheus unreachable at ${base}: ${failure.cause?.code ?? failure.message}`, { cause: error });
    }
    const text = await response.text().catch(() => '');
    let answer: { status?: unknown; error?: unknown } | undefined;
    try {
      answer = JSON.parse(text) as typeof answer;
    } catch {
      throw new Error(`Prometheus answered ${response.status} with a body that is not JSON`);
    }
    if (!response.ok || answer?.status !== 'success') {
      throw new Error(`Prometheus answered ${response.status}: ${typeof answer?.error === 'string' ? answer.error : text.slice(0, 300)}`);
    }
    return sampleOf(answer);
  }
}
