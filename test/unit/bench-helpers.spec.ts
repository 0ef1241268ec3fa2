import { describe, expect, it } from 'vitest';
import { AFTER_PROCESSING, attribute, BEFORE_PROCESSING, breakdown, type RequestTrace } from '../../bench/breakdown';
import { spread, summarize } from '../../bench/stats';
import { escapeXml, lineChartsSvg, linearScale, logScale, niceTicks, stackedBarsSvg } from '../../bench/svg';

describe('bench statistics', () => {
  it('gives min, median and max over runs, the median of an even count being the mean of the middle two', () => {
    expect(spread([3, 1, 2])).toEqual({ runs: 3, min: 1, median: 2, max: 3 });
    expect(spread([4, 1, 3, 2])).toEqual({ runs: 4, min: 1, median: 2.5, max: 4 });
    expect(spread([undefined, 5, Number.NaN])).toEqual({ runs: 1, min: 5, median: 5, max: 5 });
    expect(spread([])).toBeUndefined();
  });

  it('takes nearest-rank percentiles', () => {
    const samples = Array.from({ length: 100 }, (_, index) => index + 1);
    expect(summarize(samples)).toMatchObject({ n: 100, p50: 50, p95: 95, p99: 99, min: 1, max: 100 });
  });
});

describe('bench SVG scales', () => {
  it('maps a linear domain onto a range, also reversed (y grows downwards in SVG)', () => {
    const x = linearScale([0, 10], [50, 150]);
    expect(x(0)).toBe(50);
    expect(x(5)).toBe(100);
    const y = linearScale([0, 100], [300, 0]);
    expect(y(25)).toBe(225);
    expect(linearScale([3, 3], [0, 10])(3)).toBe(5);
  });

  it('maps 10, 100 and 1000 evenly on a log scale, and refuses a domain that is not positive', () => {
    const x = logScale([10, 1000], [0, 200]);
    expect(x(10)).toBeCloseTo(0);
    expect(x(100)).toBeCloseTo(100);
    expect(x(1000)).toBeCloseTo(200);
    expect(() => logScale([0, 10], [0, 1])).toThrow(/positive/);
  });

  it('picks round ticks that cover the data', () => {
    expect(niceTicks(0, 47, 5)).toEqual([0, 10, 20, 30, 40, 50]);
    expect(niceTicks(0, 1.3, 5)).toEqual([0, 0.5, 1, 1.5]);
    expect(niceTicks(0, 0, 5)).toEqual([0]);
  });

  it('escapes text and draws one circle per point and one rect per segment', () => {
    expect(escapeXml('a<b & "c">')).toBe('a&lt;b &amp; &quot;c&quot;&gt;');
    const lines = lineChartsSvg([
      {
        title: 'Ramp <latency>',
        xLabel: 'live experiments',
        yLabel: 'ms',
        logX: true,
        series: [
          {
            name: 'p50',
            points: [
              [10, 5],
              [100, 6],
              [1000, 7],
            ],
          },
        ],
      },
    ]);
    expect(lines.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(lines.match(/<circle /g)).toHaveLength(3);
    expect(lines).toContain('Ramp &lt;latency&gt;');
    const bars = stackedBarsSvg('t', 'ms', [
      {
        label: 'Inprogress',
        segments: [
          { name: 'a', value: 2 },
          { name: 'b', value: 3 },
          { name: 'c', value: 0 },
        ],
        reference: { name: 'floor', value: 4 },
      },
    ]);
    // Two segments (the empty one is left out), the reference bar, the background and two legend swatches... per name.
    expect(bars.match(/<rect x="[\d.]+" y="\d+" width="[\d.]+" height="20"/g)).toHaveLength(2);
    expect(bars).toContain('floor 4.0');
    // Well-formed: no element carries an attribute twice (browsers refuse to draw such a document).
    for (const tag of [...lines.matchAll(/<[a-z]+ [^>]*>/g), ...bars.matchAll(/<[a-z]+ [^>]*>/g)].map((match) => match[0])) {
      const names = [...tag.matchAll(/ ([a-z-]+)="/g)].map((match) => match[1]);
      expect(new Set(names).size, tag).toBe(names.length);
    }
  });
});

describe('where the time goes (bench/breakdown.ts)', () => {
  const trace = (spans: RequestTrace['spans']): RequestTrace => ({ url: '/webhooks/superposition', status: 200, start: 0, end: 20, spans });

  it('gives every instant to the most specific step running then, so the steps add up to the server time', () => {
    const totals = attribute(
      trace([
        ['pipe', 1, 2],
        ['process', 2, 18],
        ['record.read', 2, 3],
        ['observe', 2, 4],
        ['execute', 4, 9],
        ['kube.apply:Ingress', 5, 9],
        // The record write and the Events in parallel: the record write has the time while both run.
        ['record.write', 9, 14],
        ['events', 9, 15],
        ['report', 15, 16],
      ]),
    );
    expect(totals).toEqual({
      [BEFORE_PROCESSING]: 1,
      'validation (pipe)': 1,
      'record read': 1,
      'observe (CPU)': 1,
      'plan + execute (CPU)': 1,
      'write route': 4,
      'record write': 5,
      Events: 1,
      'metrics + log line': 1,
      'processor (CPU, awaits)': 2,
      [AFTER_PROCESSING]: 2,
    });
    expect(Object.values(totals).reduce((sum, value) => sum + value, 0)).toBe(20);
  });

  it('clips spans to the request and ignores labels it does not know', () => {
    const totals = attribute(
      trace([
        ['kube.apply:Deployment', -5, 3],
        ['something else', 0, 20],
      ]),
    );
    expect(totals).toEqual({ 'write workloads': 3, [BEFORE_PROCESSING]: 17 });
  });

  it('averages per request, in the order the steps happen', () => {
    const result = breakdown([
      trace([
        ['process', 0, 20],
        ['record.write', 10, 20],
      ]),
      trace([
        ['process', 0, 20],
        ['record.write', 14, 20],
      ]),
    ]);
    expect(result.requests).toBe(2);
    expect(result.serverMs).toBe(20);
    expect(result.steps).toEqual([
      { step: 'record write', meanMs: 8, share: 0.4 },
      { step: 'processor (CPU, awaits)', meanMs: 12, share: 0.6 },
    ]);
  });
});
