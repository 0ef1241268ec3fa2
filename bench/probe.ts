/**
 * A timing probe the benchmark loads into Mayday's production build from the outside
 * (`node --require .cache/bench/bench/probe.js dist/main.js`, with BENCH_PROBE_FILE set): nothing of it
 * is in src/ or in production. It wraps the methods of a few classes of dist/ (found by class name, so
 * that moving files does not break it) and, for every webhook request, writes one JSON line with the
 * request's start and end and the start and end of each wrapped call made on its behalf (an
 * AsyncLocalStorage set when the request starts keeps background work out). It also notes when each
 * informer's first complete list arrived, for the start-up time with every cache filled.
 *
 * BENCH_PROBE_MODE=lists notes the informers' lists only (no method is wrapped): the scale run's start-up.
 *
 * Span labels: pipe, process, report, record.read, record.write, observe, execute, resolve, group,
 * claim, events, notify, kube.<verb>:<Kind> (apply, update, create, delete, patch, read, list).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe } from 'node:diagnostics_channel';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';

interface RequestTrace {
  url: string;
  /** The bench's x-bench-transition header: which transition this request was. */
  transition?: string;
  start: number;
  spans: [string, number, number][];
}

type Labeller = string | ((args: unknown[]) => string);

const output = process.env.BENCH_PROBE_FILE;
const listsOnly = process.env.BENCH_PROBE_MODE === 'lists';
const traces = new AsyncLocalStorage<RequestTrace>();
const pending: string[] = [];

function flush(): void {
  if (!output || pending.length === 0) return;
  appendFileSync(output, pending.splice(0).join(''));
}

function emit(line: object): void {
  pending.push(`${JSON.stringify(line)}\n`);
}

function kindOf(args: unknown[]): string {
  const first = args[0] as { kind?: string } | undefined;
  return first?.kind ?? 'unknown';
}

const TARGETS: Record<string, Record<string, Labeller>> = {
  WebhookEventPipe: { transform: 'pipe' },
  ExperimentEventProcessor: { process: 'process', report: 'report' },
  ExperimentRecords: { readVersioned: 'record.read', write: 'record.write' },
  ExperimentService: { prepare: 'observe', execute: 'execute' },
  VariantConfigResolver: { settingsFor: 'resolve' },
  ExperimentGroups: { scalingGroupOf: 'group' },
  RouteClaims: { claim: 'claim' },
  KubeEventRecorder: { record: 'events' },
  Notifier: { notify: 'notify' },
  KubeResourcesService: {
    apply: (args) => `kube.apply:${kindOf(args)}`,
    createOrReplace: (args) =>
      `kube.${(args[0] as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion ? 'update' : 'create'}:${kindOf(args)}`,
    delete: (args) => `kube.delete:${kindOf(args)}`,
    mergeMetadata: (args) => `kube.patch:${kindOf(args)}`,
    replaceServiceSelector: () => 'kube.patch:Service',
    read: (args) => `kube.read:${kindOf(args)}`,
    list: (args) => `kube.list:${String(args[1])}`,
  },
};

/** Webhook requests between their start and the end of their answer. */
const inFlight = new Set<RequestTrace>();
/**
 * Where a request's context may have been lost on the way (a body parser's stream callbacks run in
 * the socket's context): these calls take the only webhook in flight, and run inside its context.
 */
const ENTRY_POINTS = new Set(['pipe', 'process']);

function wrap(prototype: Record<string, unknown>, method: string, labeller: Labeller): void {
  const original = prototype[method] as ((...args: unknown[]) => unknown) | undefined;
  if (typeof original !== 'function') return;
  prototype[method] = function (this: unknown, ...args: unknown[]): unknown {
    const label = typeof labeller === 'string' ? labeller : labeller(args);
    const entry = ENTRY_POINTS.has(label);
    const trace = traces.getStore() ?? (entry && inFlight.size === 1 ? [...inFlight][0] : undefined);
    if (!trace) return original.apply(this, args);
    const start = performance.now();
    const done = () => trace.spans.push([label, start, performance.now()]);
    let result: unknown;
    try {
      result = entry ? traces.run(trace, () => original.apply(this, args)) : original.apply(this, args);
    } catch (error) {
      done();
      throw error;
    }
    if (result instanceof Promise) {
      return result.then(
        (value: unknown) => {
          done();
          return value;
        },
        (error: unknown) => {
          done();
          throw error;
        },
      );
    }
    done();
    return result;
  };
}

function* javascriptFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* javascriptFiles(path);
    else if (entry.name.endsWith('.js') && entry.name !== 'main.js') yield path;
  }
}

function install(): void {
  const dist = dirname(process.argv[1] ?? '');
  // As main.js does first: decorators record their metadata only once reflect-metadata is loaded.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(require.resolve('reflect-metadata', { paths: [dist] }));
  const wanted = new Set(Object.keys(TARGETS));
  const stores = new WeakMap<object, number>();
  for (const file of javascriptFiles(dist)) {
    const text = readFileSync(file, 'utf8');
    const classes = listsOnly ? [] : [...wanted].filter((name) => text.includes(`class ${name} `));
    const needsStore = text.includes('class ObjectStore ');
    if (classes.length === 0 && !needsStore) continue;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const exports = require(file) as Record<string, { prototype: Record<string, unknown> } | undefined>;
    for (const name of classes) {
      const prototype = exports[name]?.prototype;
      if (!prototype) continue;
      wanted.delete(name);
      for (const [method, labeller] of Object.entries(TARGETS[name])) wrap(prototype, method, labeller);
    }
    const store = exports.ObjectStore?.prototype;
    if (needsStore && store && typeof store.replace === 'function') {
      const replace = store.replace as (this: object, items: unknown[], version?: string) => unknown;
      let next = 0;
      store.replace = function (this: object, items: unknown[], version?: string) {
        if (!stores.has(this)) stores.set(this, next++);
        emit({ type: 'list', store: stores.get(this), items: items.length, t: performance.now() });
        return replace.call(this, items, version);
      };
    }
  }
  if (wanted.size > 0 && !listsOnly) emit({ type: 'warning', missing: [...wanted] });
  process.on('exit', flush);
  setInterval(flush, 200).unref();
  if (listsOnly) return;

  const byRequest = new WeakMap<IncomingMessage, RequestTrace>();
  subscribe('http.server.request.start', (message) => {
    const { request } = message as { request: IncomingMessage };
    if (!request.url?.startsWith('/webhooks/')) return;
    const transition = request.headers['x-bench-transition'];
    const trace = {
      url: request.url,
      transition: typeof transition === 'string' ? transition : undefined,
      start: performance.now(),
      spans: [],
    };
    byRequest.set(request, trace);
    inFlight.add(trace);
    // Published just before the server emits 'request': the handler and everything it awaits run in this context.
    traces.enterWith(trace);
  });
  subscribe('http.server.response.finish', (message) => {
    const { request, response } = message as { request: IncomingMessage; response: ServerResponse };
    const trace = byRequest.get(request);
    if (!trace) return;
    inFlight.delete(trace);
    emit({ type: 'request', ...trace, status: response.statusCode, end: performance.now() });
  });
}

if (output) install();
