import { describe, expect, it } from 'vitest';
import { analysisQuery, judgeSample, sampleOf } from '../../src/analysis/canary-analysis';

const settings = { max: 0.1, noDataFailsAfterMs: 60_000 };
const T0 = Date.parse('2026-11-29T10:00:00.000Z');

describe('analysisQuery', () => {
  it('fills every placeholder, escaping the values for a PromQL string', () => {
    const query = analysisQuery('rate(x{ns="{namespace}",svc="{service}",v="{variant}",d="{deployment}"}[1m]) / {variant}', {
      namespace: 'mumbai',
      service: 'shop',
      variant: '7350-Te"st\\1',
      deployment: 'shop-dep-7350-te-st-1-abcd1234',
    });
    expect(query).toBe('rate(x{ns="mumbai",svc="shop",v="7350-Te\\"st\\\\1",d="shop-dep-7350-te-st-1-abcd1234"}[1m]) / 7350-Te\\"st\\\\1');
  });
});

describe('judgeSample', () => {
  it('passes at or below ANALYSIS_MAX and fails above it', () => {
    expect(judgeSample(0.1, settings, undefined, T0)).toEqual({ phase: 'passing', value: 0.1, at: new Date(T0).toISOString() });
    expect(judgeSample(0.5, settings, undefined, T0)).toEqual({
      phase: 'failing',
      value: 0.5,
      reason: 'AnalysisFailed: ANALYSIS_QUERY gave 0.5, above ANALYSIS_MAX=0.1',
    });
  });

  it('counts no data (none, NaN) as not yet healthy, failing only once it lasted ANALYSIS_NO_DATA_FAILS_AFTER_SECONDS', () => {
    const first = judgeSample(undefined, settings, undefined, T0);
    expect(first).toEqual({ phase: 'no-data', since: new Date(T0).toISOString(), reason: 'ANALYSIS_QUERY gave no data for 0 s' });
    const still = judgeSample(Number.NaN, settings, first, T0 + 59_999);
    expect(still).toMatchObject({ phase: 'no-data', since: new Date(T0).toISOString() });
    expect(judgeSample(undefined, settings, still, T0 + 60_000)).toEqual({
      phase: 'failing',
      reason: 'AnalysisFailed: ANALYSIS_QUERY gave no data for 60 s (ANALYSIS_NO_DATA_FAILS_AFTER_SECONDS)',
    });
    // Data in between starts the count again; 0 never fails for no data.
    const passing = judgeSample(0.01, settings, still, T0 + 30_000);
    expect(judgeSample(undefined, settings, passing, T0 + 70_000)).toMatchObject({
      phase: 'no-data',
      since: new Date(T0 + 70_000).toISOString(),
    });
    expect(judgeSample(undefined, { ...settings, noDataFailsAfterMs: 0 }, still, T0 + 10 ** 9)).toMatchObject({ phase: 'no-data' });
  });
});

describe('sampleOf (a Prometheus instant-query answer)', () => {
  const vector = (...values: string[]) => ({
    status: 'success',
    data: { resultType: 'vector', result: values.map((value, index) => ({ metric: { i: String(index) }, value: [1, value] })) },
  });

  it('takes the largest sample of a vector, ignoring NaN, and a scalar as it is', () => {
    expect(sampleOf(vector('0.2', 'NaN', '0.7'))).toBe(0.7);
    expect(sampleOf({ status: 'success', data: { resultType: 'scalar', result: [1, '3'] } })).toBe(3);
  });

  it('has no value for an empty vector, only NaN, or anything else', () => {
    expect(sampleOf(vector())).toBeUndefined();
    expect(sampleOf(vector('NaN', '+Inf'))).toBeUndefined();
    expect(sampleOf({ status: 'success', data: { resultType: 'matrix', result: [] } })).toBeUndefined();
    expect(sampleOf(null)).toBeUndefined();
  });
});
