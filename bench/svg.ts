/**
 * Hand-written SVG charts for the benchmark's results (no dependency): line charts of the scale
 * curve and stacked bars of the per-transition breakdown. Pure functions from figures to SVG text.
 */

export type Scale = (value: number) => number;

/** Maps [d0, d1] onto [r0, r1] linearly (a flat domain maps to the middle of the range). */
export function linearScale([d0, d1]: [number, number], [r0, r1]: [number, number]): Scale {
  if (d1 === d0) return () => (r0 + r1) / 2;
  return (value) => r0 + ((value - d0) / (d1 - d0)) * (r1 - r0);
}

/** Maps [d0, d1] (both > 0) onto [r0, r1] on a log10 scale. */
export function logScale([d0, d1]: [number, number], [r0, r1]: [number, number]): Scale {
  if (d0 <= 0 || d1 <= 0) throw new Error(`a log scale needs a positive domain, got [${d0}, ${d1}]`);
  const linear = linearScale([Math.log10(d0), Math.log10(d1)], [r0, r1]);
  return (value) => linear(Math.log10(value));
}

/** About `count` round tick values (1, 2 or 5 times a power of ten apart) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (max === min) return [min];
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= raw)!;
  const ticks: number[] = [];
  // From the last round value at or below min to the first at or above max.
  for (let tick = Math.floor(min / step) * step; ; tick += step) {
    ticks.push(Number(tick.toFixed(10)));
    if (tick >= max - step * 1e-9) break;
  }
  return ticks;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export const COLORS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
  '#aec7e8',
  '#ffbb78',
  '#98df8a',
  '#ff9896',
  '#c5b0d5',
  '#c49c94',
  '#f7b6d2',
  '#393b79',
  '#dbdb8d',
  '#9edae5',
];

function text(x: number, y: number, content: string, extra = ''): string {
  // A size given in `extra` replaces the default one (an attribute twice makes the document invalid).
  const font = `font-family="sans-serif"${extra.includes('font-size=') ? '' : ' font-size="11"'}`;
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${font} ${extra}>${escapeXml(content)}</text>`;
}

export interface Series {
  name: string;
  points: [x: number, y: number][];
  dashed?: boolean;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Log scale on x (the live-experiment levels 10 to 1000). */
  logX?: boolean;
  /** The x values to label (default: every x of the series). */
  xTicks?: number[];
}

/** One line chart as an SVG group of `width` x `height` at (x, y). */
export function lineChartGroup(chart: LineChart, x: number, y: number, width: number, height: number): string {
  const margin = { left: 50, right: 10, top: 24, bottom: 64 };
  const xs = chart.series.flatMap((series) => series.points.map(([px]) => px));
  const ys = chart.series.flatMap((series) => series.points.map(([, py]) => py));
  const xDomain: [number, number] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [1, 10];
  const yTicks = niceTicks(0, ys.length ? Math.max(...ys) : 1, 5);
  const yMax = yTicks.at(-1) ?? 1;
  const plot = { left: x + margin.left, right: x + width - margin.right, top: y + margin.top, bottom: y + height - margin.bottom };
  const sx = (chart.logX ? logScale : linearScale)(xDomain, [plot.left, plot.right]);
  const sy = linearScale([0, yMax], [plot.bottom, plot.top]);
  const parts: string[] = [text(x + width / 2, y + 14, chart.title, 'text-anchor="middle" font-weight="bold"')];
  for (const tick of yTicks) {
    parts.push(`<line x1="${plot.left}" x2="${plot.right}" y1="${sy(tick).toFixed(1)}" y2="${sy(tick).toFixed(1)}" stroke="#e0e0e0"/>`);
    parts.push(text(plot.left - 4, sy(tick) + 4, String(tick), 'text-anchor="end"'));
  }
  for (const tick of chart.xTicks ?? [...new Set(xs)].sort((a, b) => a - b)) {
    parts.push(`<line x1="${sx(tick).toFixed(1)}" x2="${sx(tick).toFixed(1)}" y1="${plot.bottom}" y2="${plot.bottom + 4}" stroke="#333"/>`);
    parts.push(text(sx(tick), plot.bottom + 15, String(tick), 'text-anchor="middle"'));
  }
  parts.push(`<line x1="${plot.left}" x2="${plot.right}" y1="${plot.bottom}" y2="${plot.bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${plot.left}" x2="${plot.left}" y1="${plot.top}" y2="${plot.bottom}" stroke="#333"/>`);
  parts.push(text((plot.left + plot.right) / 2, plot.bottom + 29, chart.xLabel, 'text-anchor="middle"'));
  parts.push(
    text(
      x + 12,
      (plot.top + plot.bottom) / 2,
      chart.yLabel,
      `text-anchor="middle" transform="rotate(-90 ${x + 12} ${(plot.top + plot.bottom) / 2})"`,
    ),
  );
  chart.series.forEach((series, index) => {
    const color = COLORS[index % COLORS.length];
    const sorted = [...series.points].sort((a, b) => a[0] - b[0]);
    const path = sorted.map(([px, py], at) => `${at === 0 ? 'M' : 'L'}${sx(px).toFixed(1)},${sy(py).toFixed(1)}`).join(' ');
    if (sorted.length > 0)
      parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    for (const [px, py] of sorted) parts.push(`<circle cx="${sx(px).toFixed(1)}" cy="${sy(py).toFixed(1)}" r="3" fill="${color}"/>`);
    const legendY = plot.bottom + 44 + Math.floor(index / 2) * 13;
    const legendX = x + margin.left + (index % 2) * ((width - margin.left) / 2);
    parts.push(
      `<line x1="${legendX}" x2="${legendX + 16}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="5,3"' : ''}/>`,
    );
    parts.push(text(legendX + 20, legendY, series.name));
  });
  return `<g>${parts.join('')}</g>`;
}

/** Several line charts side by side in one SVG document. */
export function lineChartsSvg(charts: LineChart[], panelWidth = 320, panelHeight = 300, caption?: string): string {
  const extra = caption ? 18 : 0;
  const width = panelWidth * charts.length;
  const height = panelHeight + extra;
  const groups = charts.map((chart, index) => lineChartGroup(chart, index * panelWidth, 0, panelWidth, panelHeight));
  const note = caption ? text(6, panelHeight + 12, caption, 'fill="#555"') : '';
  return svgDocument(width, height, groups.join('') + note);
}

export interface StackedBar {
  label: string;
  segments: { name: string; value: number }[];
  /** A reference drawn as a thin bar under this one (the keep-alive floor). */
  reference?: { name: string; value: number };
}

/** Horizontal stacked bars (one per transition), one color per segment name, with a legend. */
export function stackedBarsSvg(title: string, unit: string, bars: StackedBar[], width = 900, caption?: string): string {
  const names = [...new Set(bars.flatMap((bar) => bar.segments.map((segment) => segment.name)))];
  const color = (name: string) => COLORS[names.indexOf(name) % COLORS.length];
  const rowHeight = 42;
  const left = 90;
  const right = width - 20;
  const top = 30;
  const totals = bars.map((bar) =>
    Math.max(
      bar.segments.reduce((sum, segment) => sum + segment.value, 0),
      bar.reference?.value ?? 0,
    ),
  );
  const ticks = niceTicks(0, Math.max(1, ...totals), 8);
  const sx = linearScale([0, ticks.at(-1) ?? 1], [left, right]);
  const parts: string[] = [text(width / 2, 16, title, 'text-anchor="middle" font-weight="bold"')];
  const axisY = top + bars.length * rowHeight;
  for (const tick of ticks) {
    parts.push(`<line x1="${sx(tick).toFixed(1)}" x2="${sx(tick).toFixed(1)}" y1="${top}" y2="${axisY}" stroke="#e0e0e0"/>`);
    parts.push(text(sx(tick), axisY + 14, String(tick), 'text-anchor="middle"'));
  }
  parts.push(text((left + right) / 2, axisY + 28, unit, 'text-anchor="middle"'));
  bars.forEach((bar, row) => {
    const y = top + row * rowHeight + 4;
    parts.push(text(left - 6, y + 14, bar.label, 'text-anchor="end"'));
    let at = 0;
    for (const segment of bar.segments) {
      if (segment.value <= 0) continue;
      const x0 = sx(at);
      const x1 = sx(at + segment.value);
      parts.push(
        `<rect x="${x0.toFixed(1)}" y="${y}" width="${Math.max(0.5, x1 - x0).toFixed(1)}" height="20" fill="${color(segment.name)}"><title>${escapeXml(`${segment.name}: ${segment.value.toFixed(2)} ${unit}`)}</title></rect>`,
      );
      at += segment.value;
    }
    parts.push(text(sx(at) + 4, y + 14, at.toFixed(1)));
    if (bar.reference) {
      const x1 = sx(bar.reference.value);
      parts.push(`<rect x="${left}" y="${y + 23}" width="${Math.max(0.5, x1 - left).toFixed(1)}" height="7" fill="#444"/>`);
      parts.push(text(x1 + 4, y + 31, `${bar.reference.name} ${bar.reference.value.toFixed(1)}`, 'font-size="10"'));
    }
  });
  const legendTop = axisY + 44;
  const perRow = 3;
  const columnWidth = (width - 20) / perRow;
  names.forEach((name, index) => {
    const x = 10 + (index % perRow) * columnWidth;
    const y = legendTop + Math.floor(index / perRow) * 15;
    parts.push(`<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${color(name)}"/>`);
    parts.push(text(x + 14, y, name));
  });
  const legendRows = Math.ceil(names.length / perRow);
  const noteY = legendTop + legendRows * 15 + 6;
  if (caption) parts.push(text(10, noteY, caption, 'fill="#555"'));
  return svgDocument(width, noteY + 10, parts.join(''));
}

function svgDocument(width: number, height: number, body: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${Math.ceil(height)}" viewBox="0 0 ${width} ${Math.ceil(height)}">` +
    `<rect width="100%" height="100%" fill="white"/>${body}</svg>\n`
  );
}
