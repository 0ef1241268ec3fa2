/**
 * Canary analysis with Prometheus (ANALYSIS_*): pure rules. A query per canary, from a template;
 * its value judged against ANALYSIS_MAX; no data (an empty answer or NaN) is "not yet healthy" and
 * becomes a failure only after ANALYSIS_NO_DATA_FAILS_AFTER_SECONDS.
 */

export interface CanaryTarget {
  namespace: string;
  /** The workspace id. */
  service: string;
  /** The full variant id. */
  variant: string;
  /** The canary Deployment's name. */
  deployment: string;
}

export type AnalysisVerdict =
  | { phase: 'passing'; value: number; at: string }
  | { phase: 'no-data'; since: string; reason: string }
  | { phase: 'failing'; value?: number; reason: string }
  /** Prometheus did not answer a value (unreachable, a query error): neither healthy nor failing. */
  | { phase: 'unavailable'; reason: string };

/**
 * The template with each placeholder replaced by its value, escaped for a PromQL string literal
 * (variant ids are typed by users: a quote in one must not end the label matcher).
 */
export function analysisQuery(template: string, target: CanaryTarget): string {
  return template.replace(/\{(namespace|service|variant|deployment)\}/g, (_, name: keyof CanaryTarget) => promqlEscape(target[name]));
}

function promqlEscape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * What one evaluation says: above `max` fails at once; a number at or below passes; no number keeps
 * the time no data started (from `previous`) and fails once that lasted `noDataFailsAfterMs` (0: never).
 */
export function judgeSample(
  sample: number | undefined,
  settings: { max: number; noDataFailsAfterMs: number },
  previous: AnalysisVerdict | undefined,
  now: number,
): AnalysisVerdict {
  if (sample !== undefined && Number.isFinite(sample)) {
    return sample > settings.max
      ? { phase: 'failing', value: sample, reason: `AnalysisFailed: ANALYSIS_QUERY gave ${sample}, above ANALYSIS_MAX=${settings.max}` }
      : { phase: 'passing', value: sample, at: new Date(now).toISOString() };
  }
  const since = previous?.phase === 'no-data' ? previous.since : new Date(now).toISOString();
  const seconds = Math.floor((now - Date.parse(since)) / 1000);
  if (settings.noDataFailsAfterMs > 0 && now - Date.parse(since) >= settings.noDataFailsAfterMs) {
    return {
      phase: 'failing',
      reason: `AnalysisFailed: ANALYSIS_QUERY gave no data for ${seconds} s (ANALYSIS_NO_DATA_FAILS_AFTER_SECONDS)`,
    };
  }
  return { phase: 'no-data', since, reason: `ANALYSIS_QUERY gave no data for ${seconds} s` };
}

/**
 * The value of a Prometheus instant-query answer (`/api/v1/query`): the largest sample of a vector
 * (NaN samples ignored), a scalar's value; undefined when there is none.
 */
export function sampleOf(answer: unknown): number | undefined {
  const data = (answer as { data?: { resultType?: unknown; result?: unknown } } | undefined)?.data;
  if (data?.resultType === 'scalar' && Array.isArray(data.result)) return finite(data.result[1]);
  if (data?.resultType !== 'vector' || !Array.isArray(data.result)) return undefined;
  const values = data.result.map((series) => finite((series as { value?: unknown[] })?.value?.[1])).filter((value) => value !== undefined);
  return values.length > 0 ? Math.max(...values) : undefined;
}

function finite(raw: unknown): number | undefined {
  const value = typeof raw === 'string' ? Number(raw) : NaN;
  return Number.isFinite(value) ? value : undefined;
}
