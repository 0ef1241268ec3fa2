/**
 * Where a webhook's time goes, from the probe's traces (bench/probe.ts): every instant between the
 * request's start and the end of its answer is given to ONE step, the most specific of the calls
 * running at that instant (a write before the code around it, the record write before the Events
 * written alongside it). What runs in parallel with a step that is given the time costs nothing on
 * the critical path and does not show; the steps add up to the time Mayday's server spent.
 */
import { round } from './stats';

export type Span = [label: string, start: number, end: number];

export interface RequestTrace {
  url: string;
  transition?: string;
  status: number;
  start: number;
  end: number;
  spans: Span[];
}

/** The steps, most specific first, each with the probe labels it gathers. */
export const STEPS: { step: string; matches: (label: string) => boolean }[] = [
  { step: 'record write', matches: (label) => label === 'record.write' },
  { step: 'route claim', matches: (label) => label === 'claim' },
  { step: 'resolve (Superposition)', matches: (label) => label === 'resolve' },
  { step: 'write route', matches: (label) => /^kube\.(apply|patch|update|create):(Ingress|HTTPRoute)$/.test(label) },
  { step: 'write workloads', matches: (label) => /^kube\.(apply|patch|update|create):(Deployment|Service)$/.test(label) },
  { step: 'deletes', matches: (label) => label.startsWith('kube.delete:') },
  { step: 'other writes', matches: (label) => /^kube\.(apply|patch|update|create):/.test(label) },
  { step: 'Events', matches: (label) => label === 'events' },
  { step: 'record read', matches: (label) => label === 'record.read' },
  { step: 'reads (API server or cache)', matches: (label) => /^kube\.(read|list):/.test(label) },
  { step: 'experiment group', matches: (label) => label === 'group' },
  { step: 'metrics + log line', matches: (label) => label === 'report' },
  { step: 'notifications (queued)', matches: (label) => label === 'notify' },
  { step: 'observe (CPU)', matches: (label) => label === 'observe' },
  { step: 'plan + execute (CPU)', matches: (label) => label === 'execute' },
  { step: 'processor (CPU, awaits)', matches: (label) => label === 'process' },
  { step: 'validation (pipe)', matches: (label) => label === 'pipe' },
];

export const BEFORE_PROCESSING = 'HTTP in (parse, guard)';
export const AFTER_PROCESSING = 'answer out (serialize, request log)';

/** The order steps are shown in (roughly the order they happen). */
export const STEP_ORDER = [
  BEFORE_PROCESSING,
  'validation (pipe)',
  'record read',
  'reads (API server or cache)',
  'resolve (Superposition)',
  'experiment group',
  'observe (CPU)',
  'route claim',
  'plan + execute (CPU)',
  'write workloads',
  'write route',
  'other writes',
  'deletes',
  'record write',
  'Events',
  'notifications (queued)',
  'metrics + log line',
  'processor (CPU, awaits)',
  AFTER_PROCESSING,
];

function stepOf(label: string): string | undefined {
  return STEPS.find((candidate) => candidate.matches(label))?.step;
}

function rank(step: string): number {
  return STEPS.findIndex((candidate) => candidate.step === step);
}

/**
 * Milliseconds per step for one request: the interval [start, end] cut at every span boundary, each
 * piece given to the most specific step running then; pieces with no span go to the HTTP layer
 * (before the processor started, or after it finished) or, in between, to the processor.
 */
export function attribute(trace: RequestTrace): Record<string, number> {
  const spans = trace.spans
    .map(([label, start, end]) => ({ step: stepOf(label), start: Math.max(start, trace.start), end: Math.min(end, trace.end) }))
    .filter((span): span is { step: string; start: number; end: number } => span.step !== undefined && span.end > span.start);
  const processing = spans.filter((span) => span.step === 'processor (CPU, awaits)');
  const processStart = processing.length > 0 ? Math.min(...processing.map((span) => span.start)) : undefined;
  const processEnd = processing.length > 0 ? Math.max(...processing.map((span) => span.end)) : undefined;
  const cuts = [...new Set([trace.start, trace.end, ...spans.flatMap((span) => [span.start, span.end])])].sort((a, b) => a - b);
  const totals: Record<string, number> = {};
  for (let index = 0; index + 1 < cuts.length; index++) {
    const [from, to] = [cuts[index], cuts[index + 1]];
    if (from < trace.start || to > trace.end) continue;
    const active = spans.filter((span) => span.start <= from && span.end >= to);
    let step: string;
    if (active.length > 0) step = active.reduce((best, span) => (rank(span.step) < rank(best.step) ? span : best)).step;
    else if (processStart === undefined || from < processStart) step = BEFORE_PROCESSING;
    else if (processEnd !== undefined && from >= processEnd) step = AFTER_PROCESSING;
    else step = 'processor (CPU, awaits)';
    totals[step] = (totals[step] ?? 0) + (to - from);
  }
  return totals;
}

export interface StepFigure {
  step: string;
  /** Mean milliseconds per request on the critical path. */
  meanMs: number;
  /** Share of the server-side time. */
  share: number;
}

/** Mean milliseconds per step over requests, in STEP_ORDER, steps under 0.005 ms left out. */
export function breakdown(traces: RequestTrace[]): { requests: number; serverMs: number; steps: StepFigure[] } {
  if (traces.length === 0) return { requests: 0, serverMs: 0, steps: [] };
  const sums: Record<string, number> = {};
  for (const trace of traces) {
    for (const [step, ms] of Object.entries(attribute(trace))) sums[step] = (sums[step] ?? 0) + ms;
  }
  const serverMs = traces.reduce((total, trace) => total + (trace.end - trace.start), 0) / traces.length;
  const steps = Object.entries(sums)
    .map(([step, sum]) => ({ step, meanMs: round(sum / traces.length, 3), share: round(sum / traces.length / serverMs, 3) }))
    .filter((figure) => figure.meanMs >= 0.005)
    .sort((a, b) => order(a.step) - order(b.step));
  return { requests: traces.length, serverMs: round(serverMs, 3), steps };
}

function order(step: string): number {
  const index = STEP_ORDER.indexOf(step);
  return index === -1 ? STEP_ORDER.length : index;
}
