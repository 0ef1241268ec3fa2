import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelValue } from '../../src/naming/names';
import { Cluster } from '../support/cluster';
import { settled } from '../support/eventually';
import { startMayday, type RunningMayday } from '../support/mayday';
import { experiment, webhook } from '../support/payloads';
import { expectRefusal, send, WEBHOOK } from '../support/webhook-answers';

/**
 * A property-based fuzz run of malformed and hostile webhook deliveries, end to end against the
 * real kube-apiserver: every one must be refused with a JSON 4xx without touching the cluster.
 * (The webhook's other defences: test/e2e/webhook-security.e2e-spec.ts.)
 */

const MANAGED_SELECTOR = 'app.kubernetes.io/managed-by=mayday';
const WORKSPACE_LABEL = 'mayday.superposition.io/workspace';

const cluster = new Cluster();
/** Every namespace this file creates: the only ones whose Mayday objects it may compare. */
const ownNamespaces = new Set<string>();

async function newNamespace(prefix: string): Promise<string> {
  const namespace = await cluster.createNamespace(prefix);
  ownNamespaces.add(namespace);
  return namespace;
}

interface MaydayObject {
  key: string;
  namespace: string;
  resourceVersion: string;
  workspace?: string;
}

/** Every object labelled as Mayday's, cluster-wide, with its namespace, version and workspace label. */
async function maydayObjects(): Promise<MaydayObject[]> {
  const labelSelector = MANAGED_SELECTOR;
  const [deployments, services, ingresses, configMaps] = await Promise.all([
    cluster.apps.listDeploymentForAllNamespaces({ labelSelector }),
    cluster.core.listServiceForAllNamespaces({ labelSelector }),
    cluster.networking.listIngressForAllNamespaces({ labelSelector }),
    cluster.core.listConfigMapForAllNamespaces({ labelSelector }),
  ]);
  const objects: MaydayObject[] = [];
  for (const [kind, items] of [
    ['Deployment', deployments.items],
    ['Service', services.items],
    ['Ingress', ingresses.items],
    ['ConfigMap', configMaps.items],
  ] as const) {
    for (const item of items) {
      const metadata = item.metadata!;
      objects.push({
        key: `${kind}/${metadata.namespace}/${metadata.name}`,
        namespace: metadata.namespace!,
        resourceVersion: metadata.resourceVersion ?? '',
        workspace: metadata.labels?.[WORKSPACE_LABEL],
      });
    }
  }
  return objects.sort((a, b) => a.key.localeCompare(b.key));
}

/** Mayday's objects in this file's namespaces, keyed by kind/namespace/name, valued by resourceVersion. */
async function ownMaydayObjects(): Promise<Record<string, string>> {
  const objects = (await maydayObjects()).filter((object) => ownNamespaces.has(object.namespace));
  return Object.fromEntries(objects.map((object) => [object.key, object.resourceVersion]));
}

// ---------------------------------------------------------------------------------------------
// 4. Fuzz
// ---------------------------------------------------------------------------------------------

const EXPERIMENT_EVENTS = [
  'ExperimentCreated',
  'ExperimentStarted',
  'ExperimentInprogress',
  'ExperimentUpdated',
  'ExperimentConcluded',
  'ExperimentDiscarded',
  'ExperimentPaused',
];
const ALL_EVENTS = [...EXPERIMENT_EVENTS, 'ConfigChanged'];
const STATUSES = ['CREATED', 'INPROGRESS', 'PAUSED', 'CONCLUDED', 'DISCARDED'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'];
const DEFAULT_BODY_LIMIT = 1024 * 1024;

type Tree = Record<string, any>;
type Expected = 400 | 413 | 415 | 422;

interface FuzzContext {
  namespace: string;
  /** Unique to this run: every workspace id the fuzzer uses starts with `fuzz-<token>`. */
  token: string;
  workspaces: Set<string>;
}

/**
 * JSON text that a JS object cannot hold (an own `__proto__` key, Infinity, 50 000 levels of
 * nesting): placeholders in the tree, replaced by raw text after JSON.stringify.
 */
class RawJson {
  private readonly texts = new Map<string, string>();

  constructor(private readonly token: string) {}

  /** A placeholder string, usable as a value or as a key, that becomes `text` verbatim. */
  text(text: string): string {
    const placeholder = `@@raw-${this.token}-${this.texts.size}@@`;
    this.texts.set(placeholder, text);
    return placeholder;
  }

  stringify(tree: unknown): string {
    let json = JSON.stringify(tree);
    for (const [placeholder, text] of this.texts) json = json.split(JSON.stringify(placeholder)).join(text);
    return json;
  }
}

interface Outgoing {
  body: string | Uint8Array;
  contentType: string;
}

/** One way to make a valid body invalid, and the status that invalidity must get. */
interface Breaker {
  kind: string;
  expected: Expected;
  /** What the answer's message must say, when the status alone does not pin the reason down. */
  message?: RegExp;
  apply(tree: Tree, raw: RawJson, context: FuzzContext, contentType: string): Outgoing;
}

/** A breaker that edits the tree and sends it as JSON. */
function edit(
  kind: string,
  expected: Expected,
  change: (tree: Tree, raw: RawJson, context: FuzzContext) => void,
  message?: RegExp,
): Breaker {
  return {
    kind,
    expected,
    message,
    apply(tree, raw, context, contentType) {
      change(tree, raw, context);
      return { body: raw.stringify(tree), contentType };
    },
  };
}

/** A breaker that sends some text of its own, made from the valid body's JSON text. */
function text(
  kind: string,
  expected: Expected,
  make: (valid: string) => string | Uint8Array,
  contentType?: string,
  message?: RegExp,
): Breaker {
  return {
    kind,
    expected,
    message,
    apply(tree, raw, _context, defaultType) {
      return { body: make(raw.stringify(tree)), contentType: contentType ?? defaultType };
    },
  };
}

function parentOf(tree: Tree, path: string): [Tree, string] {
  const parts = path.split('.');
  const last = parts.pop()!;
  let node: any = tree;
  for (const part of parts) node = node[part];
  return [node, last];
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const [parent, key] = parentOf(tree, path);
  parent[key] = value;
}

function deletePath(tree: Tree, path: string): void {
  const [parent, key] = parentOf(tree, path);
  delete parent[key];
}

/** Every plain object in the tree (arrays are walked, not returned). */
function objectNodes(tree: unknown): Tree[] {
  const nodes: Tree[] = [];
  const walk = (value: unknown) => {
    if (value === null || typeof value !== 'object') return;
    if (!Array.isArray(value)) nodes.push(value as Tree);
    for (const child of Object.values(value)) walk(child);
  };
  walk(tree);
  return nodes;
}

function hasForbiddenKey(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  return Object.keys(value).some((key) => FORBIDDEN_KEYS.includes(key) || hasForbiddenKey((value as Tree)[key]));
}

/** An INPROGRESS event (ExperimentStarted or ExperimentInprogress), whatever the base was. */
function toInprogress(tree: Tree): void {
  if (tree.event_info.webhook_event === 'ExperimentConcluded') tree.event_info.webhook_event = 'ExperimentInprogress';
  tree.payload.status = 'INPROGRESS';
  tree.payload.chosen_variant = null;
}

// --- arbitraries: hostile text -----------------------------------------------------------------

const ODD_CHARACTERS = [
  '\u0000',
  '\u0001',
  '\u001f',
  '\u007f',
  '\u202e',
  '\u200f',
  '\u200b',
  '\u2028',
  '\ufeff',
  '\ufffd',
  '\ud800',
  '\udbff',
  '\udc00',
  '\udfff',
  '😀',
  '👩‍👩‍👧',
  '🇮🇳',
  'İ',
  'ß',
  'Ω',
  'ǅ',
  'ﬀ',
  '名',
  'ع',
  '\u0301',
  '_',
  '.',
  ' ',
  '\t',
  '\n',
  '\r',
  '"',
  '\\',
  '/',
  '%',
  '$',
  '{{SECRETS.MAYDAY_TOKEN}}',
  '<script>',
  "'",
  '`',
  '../',
  'A',
  'Z',
  'a',
  'z',
  '0',
  '9',
  '-',
];
const oddUnit = fc.oneof(
  { arbitrary: fc.constantFrom(...ODD_CHARACTERS), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 1 },
);
const oddString = (maxLength: number, minLength = 0) => fc.string({ unit: oddUnit, minLength, maxLength });
const jsonNoise = fc.jsonValue({ maxDepth: 2 }).filter((value) => !hasForbiddenKey(value));

/** Any JSON value, tagged with its JSON type, for "wrong type" mutations. */
type JsonType = 'string' | 'number' | 'boolean' | 'null' | 'array' | 'object';
const typedValue: fc.Arbitrary<{ type: JsonType; value: unknown }> = fc.oneof(
  fc
    .oneof(oddString(20), fc.constantFrom('10', 'INPROGRESS', 'ExperimentStarted', '{}', '[]', 'null'))
    .map((value) => ({ type: 'string' as const, value })),
  fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, 10, 7350102648234549248)).map((value) => ({
    type: 'number' as const,
    value,
  })),
  fc.boolean().map((value) => ({ type: 'boolean' as const, value })),
  fc.constant({ type: 'null' as const, value: null }),
  fc.array(jsonNoise, { maxLength: 3 }).map((value) => ({ type: 'array' as const, value })),
  fc
    .oneof(
      fc.constant({}),
      fc.dictionary(
        oddString(8).map((key) => `x_${key}`),
        jsonNoise,
        { maxKeys: 3 },
      ),
    )
    .map((value) => ({
      type: 'object' as const,
      value,
    })),
);

// --- arbitraries: the valid base and its noise -------------------------------------------------

interface BaseSpec {
  event: 'ExperimentStarted' | 'ExperimentInprogress' | 'ExperimentConcluded';
  idNumber: number;
  workspaceSuffix: string;
  controlSuffix: string;
  experimentalSuffix: string;
  traffic: number;
  experimentalWins: boolean;
}

const baseSpec: fc.Arbitrary<BaseSpec> = fc.record({
  event: fc.constantFrom('ExperimentStarted', 'ExperimentInprogress', 'ExperimentConcluded'),
  idNumber: fc.integer({ min: 0, max: 2 ** 48 }),
  // Workspace ids that are plain identifiers but not Kubernetes names (anything else is a 400, see badValue),
  // and variant ids with any text.
  workspaceSuffix: fc.oneof(
    fc.constant(''),
    fc.string({ unit: fc.constantFrom('A', 'Z', 'a', 'z', '0', '9', '_', '.', '-'), maxLength: 40 }).map((suffix) => `-${suffix}`),
  ),
  controlSuffix: oddString(60),
  experimentalSuffix: oddString(60),
  traffic: fc.integer({ min: 0, max: 100 }),
  experimentalWins: fc.boolean(),
});

interface Noise {
  extras: { where: 'event_info' | 'payload' | 'context' | 'metrics' | 'variant0' | 'variant1'; key: string; value: unknown }[];
  texts: { where: string; value: string }[];
  huge?: { where: string; pattern: string; bytes: number };
}

const noise: fc.Arbitrary<Noise> = fc.record({
  extras: fc.array(
    fc.record({
      where: fc.constantFrom(
        'event_info' as const,
        'payload' as const,
        'context' as const,
        'metrics' as const,
        'variant0' as const,
        'variant1' as const,
      ),
      key: oddString(12).map((key) => `x_${key}`),
      value: jsonNoise,
    }),
    { maxLength: 4 },
  ),
  texts: fc.array(
    fc.record({
      where: fc.constantFrom(
        'payload.name',
        'payload.description',
        'payload.change_reason',
        'payload.created_by',
        'event_info.time',
        'event_info.resource',
        'event_info.config_version',
      ),
      value: oddString(40),
    }),
    { maxLength: 3 },
  ),
  huge: fc.option(
    fc.record({
      where: fc.constantFrom('payload.description', 'payload.name', 'event_info.time', 'payload.x_blob', 'payload.variants.1.x_blob'),
      pattern: oddString(8, 1),
      bytes: fc.integer({ min: 10_000, max: 200_000 }),
    }),
    { nil: undefined, freq: 6 },
  ),
});

function buildBase(spec: BaseSpec, context: FuzzContext): Tree {
  const id = `7350${String(spec.idNumber).padStart(15, '0')}`;
  const status = spec.event === 'ExperimentConcluded' ? 'CONCLUDED' : 'INPROGRESS';
  const control = `c-${spec.controlSuffix}`;
  const canary = `e-${spec.experimentalSuffix}`;
  const payload = experiment({
    id,
    status,
    traffic: spec.traffic,
    context: { namespace: context.namespace },
    variants: [
      { suffix: control, type: 'CONTROL', overrides: { 'container.image': 'nginx:1.25', replicas: 1 } },
      { suffix: canary, type: 'EXPERIMENTAL', overrides: { 'container.image': 'nginx:1.27', 'env.GREETING': 'hello' } },
    ],
    chosen: status === 'CONCLUDED' ? (spec.experimentalWins ? canary : control) : null,
  });
  const workspace = `fuzz-${context.token}${spec.workspaceSuffix}`;
  context.workspaces.add(workspace);
  return webhook(spec.event, workspace, payload);
}

/** A string of about `bytes` bytes of JSON text, made of `pattern` repeated. */
function hugeString(pattern: string, bytes: number): string {
  let value = pattern.repeat(Math.ceil(bytes / pattern.length));
  while (Buffer.byteLength(JSON.stringify(value)) > bytes) value = value.slice(0, Math.floor(value.length * 0.8));
  return value;
}

function applyNoise(tree: Tree, extra: Noise): void {
  for (const { where, key, value } of extra.extras) {
    const target =
      where === 'event_info'
        ? tree.event_info
        : where === 'payload'
          ? tree.payload
          : where === 'context'
            ? tree.payload.context
            : where === 'metrics'
              ? tree.payload.metrics
              : tree.payload.variants[where === 'variant0' ? 0 : 1];
    target[key] = value;
  }
  for (const { where, value } of extra.texts) {
    // organisation_id is optional but must not be empty when present.
    setPath(tree, where, where === 'event_info.organisation_id' && value === '' ? 'org' : value);
  }
  if (extra.huge) setPath(tree, extra.huge.where, hugeString(extra.huge.pattern, extra.huge.bytes));
}

// --- arbitraries: breaking mutations -----------------------------------------------------------

/** A workspace id with characters no host can hold is refused (422) before the variants are looked at. */
const OR_HOST = String.raw`|host ".*" made from INGRESS_HOST_TEMPLATE`;
const VARIANT_CONFIG_MESSAGE = new RegExp(
  String.raw`variant ".*": config key "(container\.image|replicas|container\.port|env\..*)"${OR_HOST}`,
  's',
);
const WINNER_MESSAGE = new RegExp(String.raw`chosen_variant${OR_HOST}`, 's');
const CANARIES_MESSAGE = new RegExp(String.raw`cannot split traffic over \d experimental variants${OR_HOST}`, 's');

const REQUIRED: [string, JsonType][] = [
  ['event_info', 'object'],
  ['payload', 'object'],
  ['event_info.webhook_event', 'string'],
  ['event_info.workspace_id', 'string'],
  ['payload.id', 'string'],
  ['payload.status', 'string'],
  ['payload.traffic_percentage', 'number'],
  ['payload.context', 'object'],
  ['payload.variants', 'array'],
];

const missingField = fc.constantFrom(...REQUIRED).map(([path]) => edit(`missing ${path}`, 400, (tree) => deletePath(tree, path)));

const wrongType = fc
  .tuple(fc.constantFrom(...REQUIRED), typedValue)
  .filter(([[, type], value]) => value.type !== type)
  .map(([[path], value]) => edit(`${path} as ${value.type}`, 400, (tree) => setPath(tree, path, value.value)));

/** Declared optional fields with a wrong type, and values of the right type that are out of bounds. */
const badValue = fc.oneof(
  fc
    .oneof(
      fc.constant(''),
      fc.integer({ min: 254, max: 400 }).map((length) => 'w'.repeat(length)),
    )
    .map((value) => edit(`workspace_id ${JSON.stringify(value).slice(0, 20)}`, 400, (tree) => (tree.event_info.workspace_id = value))),
  fc
    .constantFrom(
      '',
      '-1',
      '1-',
      '12 34',
      '../etc/passwd',
      'a'.repeat(64),
      '1'.repeat(64),
      '7350\u0000',
      '١٢٣',
      '73501 ',
      ' 73501',
      '7350/1',
    )
    .map((value) => edit(`payload.id ${JSON.stringify(value)}`, 400, (tree) => (tree.payload.id = value))),
  fc.constant(edit('organisation_id ""', 400, (tree) => (tree.event_info.organisation_id = ''))),
  // Workspace and organisation ids go into headers, labels and names: only plain identifiers are taken.
  fc
    .tuple(
      fc.constantFrom('event_info.workspace_id', 'event_info.organisation_id'),
      fc.constantFrom('\r\n', '\n', '\r', '/', '../', ' ', 'ö', '名', '😀', '\u0000', '\u202e', '%2F', '{{SECRETS.MAYDAY_TOKEN}}'),
      fc.boolean(),
    )
    .map(([path, odd, prefix]) =>
      edit(
        `${path} with ${JSON.stringify(odd)}`,
        400,
        (tree) => setPath(tree, path, prefix ? `${odd}shop` : `shop${odd}x`),
        /plain identifier/,
      ),
    ),
  fc
    .tuple(
      fc.constantFrom('event_info.time', 'event_info.organisation_id', 'payload.name', 'payload.chosen_variant', 'payload.last_modified'),
      typedValue.filter((value) => value.type !== 'string' && value.type !== 'null'),
    )
    .map(([path, value]) => edit(`${path} as ${value.type}`, 400, (tree) => setPath(tree, path, value.value))),
  fc
    .tuple(
      fc.constantFrom(0, 1),
      typedValue.filter((value) => value.type !== 'object' && value.type !== 'null'),
    )
    .map(([index, value]) =>
      edit(`variants.${index}.overrides as ${value.type}`, 400, (tree) => (tree.payload.variants[index].overrides = value.value)),
    ),
);

const trafficOutOfRange = fc
  .oneof(
    fc.integer({ min: 101, max: 2 ** 31 }).map((value) => ({ label: 'above 100', value: value as unknown })),
    fc.integer({ min: -(2 ** 31), max: -1 }).map((value) => ({ label: 'negative', value: value as unknown })),
    fc
      .double({ min: -1000, max: 1000, noNaN: true, noDefaultInfinity: true })
      .filter((value) => !Number.isInteger(value))
      .map((value) => ({ label: 'fractional', value: value as unknown })),
    fc.constantFrom(1e300, 2 ** 53 + 2).map((value) => ({ label: 'huge', value: value as unknown })),
    fc.constantFrom('1e400', '-1e400').map((value) => ({ label: 'infinite', raw: value })),
  )
  .map((choice) =>
    edit(`traffic_percentage ${choice.label}`, 400, (tree, raw) => {
      tree.payload.traffic_percentage = 'raw' in choice ? raw.text(choice.raw) : choice.value;
    }),
  );

const unknownStatus = fc
  .oneof(
    fc.constantFrom(
      'inprogress',
      'InProgress',
      'Inprogress',
      'IN_PROGRESS',
      'INPROGRESS ',
      ' INPROGRESS',
      'INPROGRESS\u0000',
      'concluded',
      'Concluded',
      'RUNNING',
      'STARTED',
      '',
      'İNPROGRESS',
      'CONCLUDED\u200f',
    ),
    oddString(16),
  )
  .filter((value) => !STATUSES.includes(value))
  .map((value) => edit(`status ${JSON.stringify(value)}`, 400, (tree) => (tree.payload.status = value)));

const unknownEvent = fc
  .oneof(
    fc.constantFrom(
      'ExperimentInProgress',
      'experimentstarted',
      'EXPERIMENTSTARTED',
      'Experimentstarted',
      'ExperimentStarted ',
      ' ExperimentStarted',
      'ExperimentStarted\u0000',
      'ExperimentFinished',
      'ExperimentConcluded\u200f',
      'configchanged',
      'Config_Changed',
      '',
    ),
    oddString(20),
  )
  .filter((value) => !ALL_EVENTS.includes(value))
  .map((value) => edit(`webhook_event ${JSON.stringify(value)}`, 400, (tree) => (tree.event_info.webhook_event = value)));

const nonObject = fc.oneof(
  fc.integer(),
  oddString(10),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.integer(), fc.string()), { maxLength: 3 }),
  // An array holding a well-formed variant is still not a variant.
  fc.constant('array holding a variant' as const),
);

const badVariants = fc.oneof(
  fc.constant(edit('variants: no CONTROL', 400, (tree) => tree.payload.variants.forEach((v: Tree) => (v.variant_type = 'EXPERIMENTAL')))),
  fc.constant(
    edit('variants: two CONTROL', 400, (tree) => {
      const [control] = tree.payload.variants;
      tree.payload.variants.push({ ...control, id: `${control.id}-second` });
    }),
  ),
  fc.constant(edit('variants: CONTROL and CONTROL, no EXPERIMENTAL', 400, (tree) => (tree.payload.variants[1].variant_type = 'CONTROL'))),
  fc.constant(edit('variants: only the CONTROL', 400, (tree) => tree.payload.variants.splice(1))),
  fc.constant(edit('variants: empty', 400, (tree) => (tree.payload.variants = []))),
  fc.constant(
    edit('variants: 65 of them', 400, (tree) => {
      const canary = tree.payload.variants[1];
      for (let index = 0; index < 63; index++) {
        tree.payload.variants.push({
          id: `${canary.id}-${index}`,
          variant_type: 'EXPERIMENTAL',
          overrides: { 'container.image': 'nginx:1.27' },
        });
      }
    }),
  ),
  fc.constant(edit('variants: duplicate id', 400, (tree) => (tree.payload.variants[1].id = tree.payload.variants[0].id))),
  fc.constant(edit('variants: a variant repeated', 400, (tree) => tree.payload.variants.push(structuredClone(tree.payload.variants[1])))),
  fc.tuple(nonObject, fc.boolean()).map(([choice, replace]) =>
    edit(
      `variants: a ${Array.isArray(choice) ? 'array' : choice === null ? 'null' : typeof choice} variant (${replace ? 'replacing' : 'added'})`,
      400,
      (tree) => {
        const canary = tree.payload.variants[1];
        const value =
          choice === 'array holding a variant'
            ? [{ id: `${canary.id}-hidden`, variant_type: 'EXPERIMENTAL', overrides: { 'container.image': 'nginx:1.29' } }]
            : choice;
        if (replace) tree.payload.variants[1] = value;
        else tree.payload.variants.push(value);
      },
    ),
  ),
  fc
    .tuple(
      fc.constantFrom(0, 1),
      fc.constantFrom<unknown>('experimental', 'control', 'Experimental', 'CANARY', '', null, 1, ['EXPERIMENTAL']),
    )
    .map(([index, value]) =>
      edit(`variants.${index}.variant_type ${JSON.stringify(value)}`, 400, (tree) => (tree.payload.variants[index].variant_type = value)),
    ),
  fc.constant(edit('variants.1.variant_type missing', 400, (tree) => delete tree.payload.variants[1].variant_type)),
  fc
    .tuple(fc.constantFrom(0, 1), fc.constantFrom<unknown>(undefined, '', 7350102648234549248, null, ['id'], 'v'.repeat(254)))
    .map(([index, value]) =>
      edit(`variants.${index}.id ${value === undefined ? 'missing' : JSON.stringify(value).slice(0, 12)}`, 400, (tree) => {
        if (value === undefined) delete tree.payload.variants[index].id;
        else tree.payload.variants[index].id = value;
      }),
    ),
);

const prototypeKey = fc
  .record({
    key: fc.constantFrom(...FORBIDDEN_KEYS),
    node: fc.nat(),
    wrap: fc.integer({ min: 0, max: 8 }),
    value: fc.oneof(
      fc.constant('pollute'),
      fc.constant('object'),
      fc.constant('prototype-chain'),
      jsonNoise.map((value) => JSON.stringify(value)),
    ),
  })
  .map(({ key, node, wrap, value }) => {
    const inject = edit(`"${key}" key at a random depth`, 400, (tree, raw, context) => {
      const nodes = objectNodes(tree);
      let target = nodes[node % nodes.length];
      for (let level = 0; level < wrap; level++) target = target[`x_wrap${level}`] = {};
      const polluted = JSON.stringify({ fuzzPolluted: context.token, isAdmin: true });
      const valueText =
        value === 'pollute'
          ? polluted
          : value === 'object'
            ? '{}'
            : value === 'prototype-chain'
              ? `{"prototype":${polluted},"__proto__":${polluted}}`
              : value;
      target[raw.text(JSON.stringify(key))] = raw.text(valueText);
    });
    // The key must really be in the JSON text (a JS object literal would not have made it an own key).
    return {
      ...inject,
      apply: (...args: Parameters<Breaker['apply']>): Outgoing => {
        const outgoing = inject.apply(...args);
        if (!String(outgoing.body).includes(`"${key}":`)) throw new Error(`the body lost its "${key}" key`);
        return outgoing;
      },
    };
  });

const deepNesting = fc
  .record({
    depth: fc.oneof(fc.integer({ min: 33, max: 100 }), fc.integer({ min: 100, max: 50_000 })),
    style: fc.constantFrom('array', 'object', 'mixed'),
    node: fc.nat(),
  })
  .map(({ depth, style, node }) =>
    edit(`nested ${style} ${depth > 100 ? '>100' : '33..100'} levels`, 400, (tree, raw) => {
      const nodes = objectNodes(tree);
      const half = Math.ceil(depth / 2);
      nodes[node % nodes.length].x_deep = raw.text(
        style === 'array'
          ? '['.repeat(depth) + ']'.repeat(depth)
          : style === 'object'
            ? '{"d":'.repeat(depth) + 'null' + '}'.repeat(depth)
            : '[{"d":'.repeat(half) + '1' + '}]'.repeat(half),
      );
    }),
  );

const notAnObject = fc
  .oneof(
    fc.constantFrom('[]', '[{}]', '[null]', 'null', ' null ', 'true', 'false', '0', '42', '-1.5e10', '""', '"ExperimentStarted"'),
    oddString(30).map((value) => JSON.stringify(value)),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((value) => JSON.stringify(value)),
    fc.constantFrom('array of the body', 'body as a string'),
  )
  .map((choice) =>
    text(`top-level ${choice.startsWith('array') ? 'array' : choice.startsWith('body') ? 'string' : 'non-object'}`, 400, (valid) =>
      choice === 'array of the body' ? `[${valid}]` : choice === 'body as a string' ? JSON.stringify(valid) : choice,
    ),
  );

const notJson = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((bytes) => text('random bytes', 400, () => bytes)),
  fc.nat().map((cut) => text('truncated JSON', 400, (valid) => valid.slice(0, cut % valid.length))),
  fc
    .string({ minLength: 1, maxLength: 10 })
    .filter((garbage) => garbage.trim() !== '')
    .map((garbage) => text('JSON followed by garbage', 400, (valid) => valid + garbage)),
  fc
    .constantFrom(
      "{'event_info': {}, 'payload': {}}",
      '{"event_info": {}, "payload": {},}',
      '{event_info: {}}',
      'NaN',
      'undefined',
      '/* comment */ {}',
      '{"a": 01}',
      '{"a": "\u0001"}',
      '{"a": "\\x41"}',
      '\u0000',
      '{"a":',
      '}{',
    )
    .map((body) => text('classic invalid JSON', 400, () => body)),
);

const badNamespace = fc
  .oneof(
    fc.constantFrom<unknown>(
      'Upper',
      'FUZZ',
      'fuzz_ns',
      'a'.repeat(64),
      'x'.repeat(300),
      'ñamespace',
      '名前空間',
      ' ',
      '   ',
      '\t',
      '\n',
      '\u200b',
      '\u00a0',
      '\u0000',
      '-a',
      'a-',
      'a.b',
      '.',
      '..',
      '😀',
      'default ',
      ' default',
      'kube-system\u0000',
    ),
    fc.constantFrom('own upper', 'own trailing space', 'own leading space', 'own underscore', 'own nul', 'own rtl', 'own twice 64'),
    oddString(70).filter((value) => value !== '' && !(value.length <= 63 && DNS_LABEL.test(value))),
    // Not a string at all: never a silent fallback to DEFAULT_NAMESPACE.
    fc
      .oneof(fc.integer(), fc.boolean(), fc.constant<unknown>([]), fc.constant<unknown>({}), fc.constant<unknown>(['own']))
      .map((value) => ({ value })),
  )
  .chain((value) => fc.tuple(fc.constant(value), fc.boolean()))
  .map(([choice, jsonLogic]) =>
    edit(
      `namespace not a Kubernetes name${jsonLogic ? ' (JSON-logic)' : ''}`,
      422,
      (tree, _raw, context) => {
        const ns = context.namespace;
        const own: Record<string, unknown> = {
          'own upper': ns.toUpperCase(),
          'own trailing space': `${ns} `,
          'own leading space': ` ${ns}`,
          'own underscore': ns.replace('-', '_'),
          'own nul': `${ns}\u0000`,
          'own rtl': `\u202e${ns}`,
          'own twice 64': `${ns}-${'x'.repeat(64)}`,
        };
        let value: unknown =
          typeof choice === 'object' && choice !== null && 'value' in choice
            ? (choice as { value: unknown }).value
            : typeof choice === 'string' && Object.hasOwn(own, choice)
              ? own[choice]
              : choice;
        if (Array.isArray(value) && value[0] === 'own') value = [ns];
        if (jsonLogic) tree.payload.context = { and: [{ '==': [{ var: 'namespace' }, value] }] };
        else tree.payload.context.namespace = value;
      },
      /namespace/,
    ),
  );

const badImage = fc.constantFrom<unknown>(
  'missing',
  'no overrides',
  'null overrides',
  null,
  1,
  true,
  ['nginx:1.27'],
  { name: 'nginx' },
  '',
  ' ',
  '\t',
  'nginx :1.27',
  'nginx\u00a0:1.27',
  'nginx\u2003:1.27',
);
const badVariantConfig = fc.oneof(
  badImage.map((value) =>
    edit(
      `INPROGRESS: container.image ${typeof value === 'string' && value.includes(' ') === false && value.length > 4 ? value : JSON.stringify(value)}`,
      422,
      (tree) => {
        toInprogress(tree);
        const canary = tree.payload.variants[1];
        if (value === 'missing') delete canary.overrides['container.image'];
        else if (value === 'no overrides') delete canary.overrides;
        else if (value === 'null overrides') canary.overrides = null;
        else canary.overrides['container.image'] = value;
      },
      VARIANT_CONFIG_MESSAGE,
    ),
  ),
  fc
    .oneof(
      fc.integer({ min: -1_000_000, max: -1 }),
      fc.integer({ min: 10_001, max: 2 ** 31 }),
      fc.double({ min: 0, max: 100, noNaN: true }).filter((value) => !Number.isInteger(value)),
      fc.constantFrom<unknown>('3', '', true, [1], {}),
    )
    .map((value) =>
      edit(
        `INPROGRESS: replicas ${typeof value}`,
        422,
        (tree) => {
          toInprogress(tree);
          tree.payload.variants[1].overrides.replicas = value;
        },
        VARIANT_CONFIG_MESSAGE,
      ),
    ),
  fc.oneof(fc.constantFrom<unknown>(0, -80, 65536, 100000, 80.5, '80', true), fc.integer({ min: 65536, max: 2 ** 31 })).map((value) =>
    edit(
      `INPROGRESS: container.port ${typeof value}`,
      422,
      (tree) => {
        toInprogress(tree);
        tree.payload.variants[1].overrides['container.port'] = value;
      },
      VARIANT_CONFIG_MESSAGE,
    ),
  ),
  fc
    .oneof(
      fc.constantFrom('', '1ABC', 'A B', 'A=B', 'Ä', 'A\u0000', 'A/B', 'A:B', '$A', '😀', ' ', '\u202eA'),
      oddString(12).filter((name) => !ENV_NAME.test(name)),
    )
    .map((name) =>
      edit(
        'INPROGRESS: invalid env. name',
        422,
        (tree) => {
          toInprogress(tree);
          tree.payload.variants[1].overrides[`env.${name}`] = 'x';
        },
        VARIANT_CONFIG_MESSAGE,
      ),
    ),
  fc.constant(
    edit(
      'INPROGRESS: env value over 256 KiB',
      422,
      (tree) => {
        toInprogress(tree);
        tree.payload.variants[1].overrides['env.BIG'] = 'v'.repeat(256 * 1024 + 1);
      },
      VARIANT_CONFIG_MESSAGE,
    ),
  ),
);

const badWinner = fc
  .constantFrom(
    'missing',
    'null',
    'empty',
    'upper-cased control',
    'control with a space',
    'the experiment id',
    'an unknown variant',
    'random',
  )
  .chain((how) => fc.tuple(fc.constant(how), oddString(20)))
  .map(([how, random]) =>
    edit(
      `CONCLUDED: chosen_variant ${how}`,
      422,
      (tree) => {
        tree.event_info.webhook_event = 'ExperimentConcluded';
        tree.payload.status = 'CONCLUDED';
        const ids: string[] = tree.payload.variants.map((variant: Tree) => variant.id);
        const [control] = ids;
        const choices: Record<string, string | null | undefined> = {
          missing: undefined,
          null: null,
          empty: '',
          'upper-cased control': control.toUpperCase(),
          'control with a space': `${control} `,
          'the experiment id': tree.payload.id,
          'an unknown variant': `${tree.payload.id}-test1`,
          random: ids.includes(random) ? `${random}-not-a-variant` : random,
        };
        const chosen = choices[how];
        if (chosen === undefined) delete tree.payload.chosen_variant;
        else tree.payload.chosen_variant = chosen;
      },
      WINNER_MESSAGE,
    ),
  );

const manyCanaries = fc.integer({ min: 1, max: 4 }).map((more) =>
  edit(
    `INPROGRESS with ${more + 1} experimental variants`,
    422,
    (tree) => {
      toInprogress(tree);
      for (let index = 0; index < more; index++) {
        tree.payload.variants.push({
          id: `${tree.payload.id}-x${index}`,
          variant_type: 'EXPERIMENTAL',
          overrides: { 'container.image': `nginx:1.2${index}` },
        });
      }
    },
    CANARIES_MESSAGE,
  ),
);

const wrongMediaType = fc
  .constantFrom(
    'text/plain',
    'text/plain;charset=UTF-8',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=fuzz',
    'text/json',
    'application/jsonp',
    'application/json-patch+json',
    'application/ld+json',
    'application/xml',
    'application/octet-stream',
    'application/json; charset=latin1',
    'application/json; charset=iso-8859-1',
  )
  .map((type) => text(`Content-Type ${type}`, 415, (valid) => valid, type, /Content-Type must be application\/json|unsupported charset/));

const oversized = fc.integer({ min: DEFAULT_BODY_LIMIT + 1, max: DEFAULT_BODY_LIMIT + 300_000 }).map((bytes) =>
  edit(
    'over the default 1 MiB body limit',
    413,
    (tree) => {
      tree.payload.description = 'o'.repeat(bytes);
    },
    /WEBHOOK_MAX_BODY_BYTES/,
  ),
);

/** Each family of breaking mutations, by name (for the report), with its share of the runs. */
const FAMILIES: [string, fc.Arbitrary<Breaker>, number][] = [
  ['required field missing', missingField, 8],
  ['required field of the wrong JSON type', wrongType, 10],
  ['other field with a bad value or type', badValue, 5],
  ['traffic_percentage out of range or fractional', trafficOutOfRange, 4],
  ['unknown status', unknownStatus, 3],
  ['unknown webhook_event', unknownEvent, 3],
  ['bad variants', badVariants, 8],
  ['__proto__/constructor/prototype key', prototypeKey, 6],
  ['nesting deeper than 32', deepNesting, 4],
  ['top-level not an object', notAnObject, 3],
  ['not JSON at all', notJson, 5],
  ['namespace not a Kubernetes name', badNamespace, 8],
  ['INPROGRESS variant config unusable', badVariantConfig, 8],
  ['CONCLUDED without a valid chosen_variant', badWinner, 4],
  ['INPROGRESS with several experimental variants', manyCanaries, 3],
  ['wrong Content-Type', wrongMediaType, 2],
  ['body over 1 MiB', oversized, 2],
];

const breaker: fc.Arbitrary<Breaker & { family: string }> = fc.oneof(
  ...FAMILIES.map(([family, arbitrary, weight]) => ({ arbitrary: arbitrary.map((broken) => ({ ...broken, family })), weight })),
);

const sample = fc.record({
  base: baseSpec,
  noise,
  breaker,
  contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8'),
});

describe('webhook fuzz: malformed and hostile deliveries', () => {
  const RUNS = 520;
  let mayday: RunningMayday;
  let namespace: string;
  const token = randomBytes(4).toString('hex');

  beforeAll(async () => {
    namespace = await newNamespace('sec-fuzz');
    mayday = await startMayday();
  });
  afterAll(() => mayday?.close());

  it(
    `refuses ${RUNS} invalid webhooks with a JSON 4xx, keeps answering, and changes nothing in the cluster`,
    { timeout: 300_000 },
    async () => {
      const context: FuzzContext = { namespace, token, workspaces: new Set() };
      const snapshotBefore = await cluster.snapshot(namespace);
      // Whatever Mayday still converges in this file's namespaces settles first (then nothing may change).
      const ownBefore = await settled(ownMaydayObjects);
      const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
      const statuses = new Map<number, number>();
      const families = new Map<string, Map<number, number>>();
      let sent = 0;
      let largest = 0;
      const started = performance.now();

      await fc.assert(
        fc.asyncProperty(sample, async ({ base, noise: extra, breaker: broken, contentType }) => {
          const tree = buildBase(base, context);
          applyNoise(tree, extra);
          const raw = new RawJson(`${token}-${sent}`);
          const outgoing = broken.apply(tree, raw, context, contentType);
          const bytes = typeof outgoing.body === 'string' ? Buffer.byteLength(outgoing.body) : outgoing.body.byteLength;
          largest = Math.max(largest, bytes);
          // Noise alone never crosses the body limit: only the oversized mutation does.
          if (broken.expected !== 413) expect(bytes, broken.kind).toBeLessThanOrEqual(DEFAULT_BODY_LIMIT);
          else expect(bytes).toBeGreaterThan(DEFAULT_BODY_LIMIT);

          const answer = await send(mayday.url, WEBHOOK, outgoing.body, { 'content-type': outgoing.contentType });
          sent++;
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          const byFamily = families.get(broken.family) ?? new Map<number, number>();
          byFamily.set(answer.status, (byFamily.get(answer.status) ?? 0) + 1);
          families.set(broken.family, byFamily);

          const what = `${broken.kind}\nrequest (${bytes} bytes): ${typeof outgoing.body === 'string' ? outgoing.body.slice(0, 600) : `<${bytes} random bytes>`}`;
          expect([400, 413, 415, 422], `${what}\nanswer: ${answer.status} ${answer.text.slice(0, 400)}`).toContain(answer.status);
          expectRefusal(answer, broken.expected, what);
          if (broken.message) expect(answer.json.message, what).toMatch(broken.message);

          if (sent % 40 === 0) {
            const live = await send(mayday.url, '/health/live', undefined, {}, 'GET');
            expect(live.status, `liveness after ${sent} requests`).toBe(200);
          }
        }),
        { numRuns: RUNS },
      );
      const elapsed = Math.round(performance.now() - started);

      expect(sent).toBeGreaterThanOrEqual(500);
      expect((await send(mayday.url, '/health/live', undefined, {}, 'GET')).status).toBe(200);
      expect((await send(mayday.url, '/health/ready', undefined, {}, 'GET')).status).toBe(200);

      // Nothing changed: the fuzz namespace, Mayday's objects in this file's namespaces, and nowhere
      // in the cluster is there an object for a workspace the fuzzer used.
      expect(await cluster.snapshot(namespace)).toEqual(snapshotBefore);
      expect(await ownMaydayObjects()).toEqual(ownBefore);
      const fuzzLabels = new Set([...context.workspaces].map((workspace) => labelValue(workspace)));
      const leaked = (await maydayObjects()).filter(
        (object) => object.workspace !== undefined && (fuzzLabels.has(object.workspace) || object.workspace.includes(`fuzz-${token}`)),
      );
      expect(leaked).toEqual([]);
      // Mayday runs in this process: no prototype-pollution payload reached Object.prototype.
      expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
      expect(({} as Record<string, unknown>).fuzzPolluted).toBeUndefined();
      expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();

      const distribution = Object.fromEntries([...statuses].sort(([a], [b]) => a - b));
      const perFamily = FAMILIES.map(([family]) => `  ${family}: ${JSON.stringify(Object.fromEntries(families.get(family) ?? []))}`);
      console.log(
        `[webhook fuzz] ${sent} requests in ${elapsed} ms, largest ${largest} bytes, ${context.workspaces.size} workspaces; statuses ${JSON.stringify(distribution)}\n` +
          perFamily.join('\n'),
      );
    },
  );
});
