import { createHash } from 'node:crypto';

/** The port every Service Mayday makes listens on (docs/contract.md §6), whatever the container port. */
export const SERVICE_PORT = 80;

/** Longest name (and label value) Kubernetes takes for the objects Mayday makes. */
export const MAX_NAME_LENGTH = 63;
const HASH_LENGTH = 8;

const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export type NameRule = 'dns1123' | 'dns1035';

/** An experiment id as a label value (it labels every object of the experiment): 1 to 63 characters. */
export const LABEL_VALUE_ID = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Whether `value` is a DNS-1123 label, as a namespace name must be. */
export function isDnsLabel(value: string): boolean {
  return value.length <= MAX_NAME_LENGTH && DNS_1123_LABEL.test(value);
}

/** Whether `value` is a DNS-1123 subdomain (a host name): 253 characters at most, dot-separated labels. */
export function isDnsSubdomain(value: string): boolean {
  return value.length <= 253 && value.split('.').every(isDnsLabel);
}

/**
 * A valid Kubernetes name for `raw`. Valid input comes back unchanged (so the seed's names hold);
 * anything else is lower-cased, invalid characters become `-`, and a hash of the raw input is
 * appended, shortening the readable part to fit 63 characters. The hash makes two different
 * inputs land on different names even when they sanitise alike (`A_b` and `a-b`).
 */
export function kubeName(raw: string, rule: NameRule = 'dns1123'): string {
  const valid = rule === 'dns1035' ? DNS_1035_LABEL : DNS_1123_LABEL;
  if (raw.length <= MAX_NAME_LENGTH && valid.test(raw)) return raw;
  let readable = raw.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  if (rule === 'dns1035') readable = readable.replace(/^[^a-z]+/, '');
  const name = withHash(readable, raw, (text) => text.replace(/^-+|-+$/g, ''));
  // A DNS-1035 name must start with a letter; only a bare hash can still start with a digit here.
  return rule === 'dns1035' && !/^[a-z]/.test(name) ? `x${name}` : name;
}

/** A valid label value for `raw` (63 characters, alphanumeric ends, `-_.` inside), by the same rules. */
export function labelValue(raw: string): string {
  if (raw.length <= MAX_NAME_LENGTH && LABEL_VALUE.test(raw)) return raw;
  const readable = raw.replace(/[^A-Za-z0-9_.-]/g, '-');
  return withHash(readable, raw, (text) => text.replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, ''));
}

/**
 * The first 8 hex digits of the sha256 of `raw` in UTF-8. UTF-8 cannot carry a lone surrogate (JSON
 * can: `"\ud83d"`), and encoding one would turn every such string into U+FFFD and make them collide;
 * those strings are hashed as a 0xff byte (never found in UTF-8) followed by their UTF-16 code units.
 */
export function shortHash(raw: string): string {
  const hash = createHash('sha256');
  if (raw.isWellFormed()) hash.update(raw, 'utf8');
  else hash.update(NOT_UTF8).update(raw, 'utf16le');
  return hash.digest('hex').slice(0, HASH_LENGTH);
}

const NOT_UTF8 = Buffer.from([0xff]);

function withHash(readable: string, raw: string, trimEnds: (text: string) => string): string {
  const hash = shortHash(raw);
  const room = MAX_NAME_LENGTH - HASH_LENGTH - 1;
  const head = trimEnds(readable.slice(0, room));
  return head ? `${head}-${hash}` : hash;
}

/** The names docs/contract.md §6 gives, per service (workspace) and variant. */
export function deploymentName(service: string, variantId: string): string {
  return kubeName(`${service}-dep-${variantId}`);
}

export function canaryServiceName(service: string, variantId: string): string {
  return kubeName(`${service}-service-${variantId}`, 'dns1035');
}

export function canaryIngressName(service: string, variantId: string): string {
  return kubeName(`${service}-ingress-${variantId}`);
}

/** The main Service, main Ingress and HTTPRoute are all named after the service itself. */
export function mainServiceName(service: string): string {
  return kubeName(service, 'dns1035');
}

export function mainRouteName(service: string): string {
  return kubeName(service);
}
