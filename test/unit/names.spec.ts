import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canaryIngressName,
  canaryServiceName,
  deploymentName,
  kubeName,
  labelValue,
  mainRouteName,
  mainServiceName,
  MAX_NAME_LENGTH,
  SERVICE_PORT,
  shortHash,
} from '../../src/naming/names';

const DNS_1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** sha256 hex prefix computed here, independently of the module, so the suffix is checked and not echoed. */
const hash8 = (raw: string) => {
  const bytes = /\p{Surrogate}/u.test(raw) ? Buffer.concat([Buffer.from([0xff]), Buffer.from(raw, 'utf16le')]) : Buffer.from(raw, 'utf8');
  return createHash('sha256').update(bytes).digest('hex').slice(0, 8);
};

const isDns1123 = (name: string) => name.length <= 63 && DNS_1123.test(name);
const isDns1035 = (name: string) => name.length <= 63 && DNS_1035.test(name);
const isLabelValue = (value: string) => value.length <= 63 && LABEL_VALUE.test(value);

// --- arbitraries -------------------------------------------------------------------------------------
const awkwardChar = fc.constantFrom(
  ...'abcxyzABCXYZ0189-_. /:@ÄéßİK\u0130\u212a\u00a0\u0000😀'.split(''),
  '😀',
  'İ',
  'K', // Kelvin sign: lower-cases to ASCII "k"
);
/** Strings of any UTF-16 code units, lone surrogates included. */
const anyUnicode = fc.string({ unit: 'binary', maxLength: 80 });
/** Names close to valid ones: letters of both cases, digits, `-`, `_`, `.`, spaces, a few non-ASCII. */
const nearlyNames = fc.string({ unit: awkwardChar, maxLength: 90 });
/** Long strings, far over 63 characters. */
const longNames = fc.string({ unit: fc.constantFrom('a', 'B', '_', '-', '1', '.'), minLength: 55, maxLength: 400 });
/** Already valid DNS-1123 labels (these must come back unchanged). */
const validDns1123 = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
/** Seed-like variant ids: `<19 digits>-<what the user typed>`. */
const seedVariantIds = fc
  .tuple(fc.stringMatching(/^[1-9][0-9]{18}$/), fc.string({ unit: awkwardChar, minLength: 1, maxLength: 70 }))
  .map(([id, user]) => `${id}-${user}`);
const anyName = fc.oneof(anyUnicode, nearlyNames, longNames, validDns1123, seedVariantIds);

const RUNS = { numRuns: 400 };

describe('constants', () => {
  it('Services listen on port 80 and names are at most 63 characters', () => {
    expect(SERVICE_PORT).toBe(80);
    expect(MAX_NAME_LENGTH).toBe(63);
  });
});

describe('shortHash', () => {
  it('is the first 8 hex digits of the sha256 of the UTF-8 input', () => {
    expect(shortHash('My_Service')).toBe(hash8('My_Service'));
    expect(shortHash('')).toBe('e3b0c442');
    expect(shortHash('é')).toBe(hash8('é'));
    expect(shortHash('abc')).toMatch(/^[0-9a-f]{8}$/);
  });

  it('tells lone surrogates apart, which UTF-8 would turn into the same U+FFFD', () => {
    const loneSurrogates = ['\ude00', '\ud83d', '\ud83d\ud83d', 'a\udfff', '\ufffd'];
    expect(new Set(loneSurrogates.map(shortHash)).size).toBe(loneSurrogates.length);
    expect(new Set(loneSurrogates.map((raw) => kubeName(raw))).size).toBe(loneSurrogates.length);
    // the one the property test below found, from JSON such as `"\ud83d"`
    const found = ['\ude00', '\ud83d', '', '1000000000000000000-a'];
    expect(new Set(found.map((raw) => kubeName(raw))).size).toBe(4);
    const hashedAsUtf16 = createHash('sha256')
      .update(Buffer.from([0xff]))
      .update('\ud83d', 'utf16le')
      .digest('hex');
    expect(shortHash('\ud83d')).toBe(hashedAsUtf16.slice(0, 8));
  });
});

describe('kubeName (DNS-1123, the default)', () => {
  it('keeps valid names exactly', () => {
    expect(kubeName('nginxservice-dep-7350102648234549248-test1')).toBe('nginxservice-dep-7350102648234549248-test1');
    expect(kubeName('a')).toBe('a');
    expect(kubeName('123')).toBe('123');
    expect(kubeName('0-a-9')).toBe('0-a-9');
    const sixtyThree = 'a'.repeat(63);
    expect(kubeName(sixtyThree)).toBe(sixtyThree);
  });

  it('lower-cases, replaces invalid characters with "-" and appends the hash of the raw input', () => {
    expect(kubeName('My_Service')).toBe(`my-service-${hash8('My_Service')}`);
    expect(kubeName('a.b')).toBe(`a-b-${hash8('a.b')}`);
    expect(kubeName('nginx service')).toBe(`nginx-service-${hash8('nginx service')}`);
    expect(kubeName('ÄBC')).toBe(`bc-${hash8('ÄBC')}`);
  });

  it('trims dashes at the ends of the readable part', () => {
    expect(kubeName('-abc-')).toBe(`abc-${hash8('-abc-')}`);
    expect(kubeName('__x__')).toBe(`x-${hash8('__x__')}`);
  });

  it('answers the bare hash when nothing readable is left', () => {
    expect(kubeName('')).toBe(hash8(''));
    expect(kubeName('___')).toBe(hash8('___'));
    expect(kubeName('😀')).toBe(hash8('😀'));
  });

  it('shortens a long name to 63 characters: the first 54 readable ones, "-", the hash', () => {
    const raw = 'x'.repeat(100);
    const name = kubeName(raw);
    expect(name).toHaveLength(63);
    expect(name).toBe(`${'x'.repeat(54)}-${hash8(raw)}`);
    expect(kubeName('a'.repeat(64))).toBe(`${'a'.repeat(54)}-${hash8('a'.repeat(64))}`);
  });

  it('does not leave a dash before the hash when the cut lands on one', () => {
    const raw = `${'a'.repeat(53)}-${'b'.repeat(20)}`;
    expect(kubeName(raw)).toBe(`${'a'.repeat(53)}-${hash8(raw)}`);
  });

  it('gives different names to inputs that sanitise alike', () => {
    const inputs = ['A_b', 'a-b', 'a_b', 'A-B', 'a.b', 'a b'];
    const names = inputs.map((input) => kubeName(input));
    expect(names[1]).toBe('a-b');
    expect(new Set(names).size).toBe(inputs.length);
  });

  it('gives different names to long inputs that differ only after the 54th character', () => {
    const a = kubeName(`${'x'.repeat(80)}1`);
    const b = kubeName(`${'x'.repeat(80)}2`);
    expect(a).not.toBe(b);
    expect(a.slice(0, 55)).toBe(b.slice(0, 55));
  });

  it('is DNS-1123 valid, at most 63 characters, for any input', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        expect(isDns1123(kubeName(raw))).toBe(true);
      }),
      RUNS,
    );
  });

  it('returns valid input unchanged and changes invalid input (with the raw input hash at the end)', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        const name = kubeName(raw);
        if (isDns1123(raw)) expect(name).toBe(raw);
        else {
          expect(name).not.toBe(raw);
          expect(name.endsWith(hash8(raw))).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('is deterministic', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        expect(kubeName(raw)).toBe(kubeName(raw));
        expect(kubeName(raw, 'dns1035')).toBe(kubeName(raw, 'dns1035'));
      }),
      RUNS,
    );
  });

  it('is idempotent: a name it made comes back unchanged', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        const name = kubeName(raw);
        expect(kubeName(name)).toBe(name);
      }),
      RUNS,
    );
  });

  it('is injective over sampled sets of distinct inputs', () => {
    fc.assert(
      fc.property(fc.uniqueArray(anyName, { minLength: 2, maxLength: 60 }), (inputs) => {
        const names = inputs.map((input) => kubeName(input));
        expect(new Set(names).size).toBe(inputs.length);
      }),
      { numRuns: 200 },
    );
  });

  it('is injective over inputs that differ only by case and separators', () => {
    const variants = fc.string({ unit: fc.constantFrom('a', 'A', '-', '_', '.'), minLength: 1, maxLength: 12 }).map((s) => `svc${s}x`);
    fc.assert(
      fc.property(fc.uniqueArray(variants, { minLength: 2, maxLength: 40 }), (inputs) => {
        expect(new Set(inputs.map((input) => kubeName(input))).size).toBe(inputs.length);
      }),
      { numRuns: 200 },
    );
  });
});

describe('kubeName (DNS-1035, for Services)', () => {
  it('keeps valid names exactly', () => {
    expect(kubeName('nginxservice', 'dns1035')).toBe('nginxservice');
    expect(kubeName('nginxservice-service-7350102648234549248-test1', 'dns1035')).toBe('nginxservice-service-7350102648234549248-test1');
    expect(kubeName('a1', 'dns1035')).toBe('a1');
  });

  it('makes a name that starts with a digit start with a letter', () => {
    expect(kubeName('1nginx', 'dns1035')).toBe(`nginx-${hash8('1nginx')}`);
    expect(kubeName('7350102648234549248-Test', 'dns1035')).toBe(`test-${hash8('7350102648234549248-Test')}`);
  });

  it('answers a name starting with a letter when nothing readable is left', () => {
    for (const raw of ['123', '0', '', '-', '9-9', '___']) {
      const name = kubeName(raw, 'dns1035');
      expect(name).toMatch(DNS_1035);
      expect(name).toContain(hash8(raw));
      expect(name === hash8(raw) || name === `x${hash8(raw)}`).toBe(true);
    }
  });

  it('prefixes "x" exactly when the bare hash starts with a digit', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9-]{0,20}$/), (raw) => {
        const hash = hash8(raw);
        expect(kubeName(raw, 'dns1035')).toBe(/^[0-9]/.test(hash) ? `x${hash}` : hash);
      }),
      { numRuns: 200 },
    );
  });

  it('is DNS-1035 valid (and so DNS-1123 valid), at most 63 characters, for any input', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        const name = kubeName(raw, 'dns1035');
        expect(isDns1035(name)).toBe(true);
        expect(isDns1123(name)).toBe(true);
      }),
      RUNS,
    );
  });

  it('returns valid input unchanged', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        if (isDns1035(raw)) expect(kubeName(raw, 'dns1035')).toBe(raw);
        else expect(kubeName(raw, 'dns1035')).not.toBe(raw);
      }),
      RUNS,
    );
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        const name = kubeName(raw, 'dns1035');
        expect(kubeName(name, 'dns1035')).toBe(name);
      }),
      RUNS,
    );
  });

  it('is injective over sampled sets of distinct inputs', () => {
    fc.assert(
      fc.property(fc.uniqueArray(anyName, { minLength: 2, maxLength: 60 }), (inputs) => {
        expect(new Set(inputs.map((input) => kubeName(input, 'dns1035'))).size).toBe(inputs.length);
      }),
      { numRuns: 200 },
    );
  });
});

describe('labelValue', () => {
  it('keeps valid label values exactly, case included', () => {
    expect(labelValue('7350102648234549248-Test_1')).toBe('7350102648234549248-Test_1');
    expect(labelValue('nginxservice')).toBe('nginxservice');
    expect(labelValue('a.b_c-D')).toBe('a.b_c-D');
    expect(labelValue('')).toBe('');
    expect(labelValue('Z'.repeat(63))).toBe('Z'.repeat(63));
  });

  it('replaces invalid characters with "-", trims non-alphanumeric ends and appends the hash', () => {
    expect(labelValue('a b')).toBe(`a-b-${hash8('a b')}`);
    expect(labelValue('_Abc.')).toBe(`Abc-${hash8('_Abc.')}`);
    expect(labelValue('x/y:z')).toBe(`x-y-z-${hash8('x/y:z')}`);
    expect(labelValue('😀')).toBe(hash8('😀'));
  });

  it('shortens long values to 63 characters', () => {
    const raw = 'Q'.repeat(64);
    expect(labelValue(raw)).toBe(`${'Q'.repeat(54)}-${hash8(raw)}`);
  });

  it('is a valid label value, deterministic and idempotent for any input', () => {
    fc.assert(
      fc.property(anyName, (raw) => {
        const value = labelValue(raw);
        expect(isLabelValue(value)).toBe(true);
        expect(labelValue(raw)).toBe(value);
        expect(labelValue(value)).toBe(value);
        if (isLabelValue(raw)) expect(value).toBe(raw);
      }),
      RUNS,
    );
  });

  it('is injective over sampled sets of distinct inputs', () => {
    fc.assert(
      fc.property(fc.uniqueArray(anyName, { minLength: 2, maxLength: 60 }), (inputs) => {
        expect(new Set(inputs.map(labelValue)).size).toBe(inputs.length);
      }),
      { numRuns: 200 },
    );
  });
});

describe('object names (docs/contract.md §6)', () => {
  const variant = '7350102648234549248-test1';

  it('keeps the seed names for valid workspace and variant ids', () => {
    expect(deploymentName('nginxservice', variant)).toBe('nginxservice-dep-7350102648234549248-test1');
    expect(canaryServiceName('nginxservice', variant)).toBe('nginxservice-service-7350102648234549248-test1');
    expect(canaryIngressName('nginxservice', variant)).toBe('nginxservice-ingress-7350102648234549248-test1');
    expect(mainServiceName('nginxservice')).toBe('nginxservice');
    expect(mainRouteName('nginxservice')).toBe('nginxservice');
  });

  it('sanitises a variant id with upper case and "_" (hashing the whole raw name)', () => {
    const raw = 'nginxservice-dep-7350102648234549248-Test_1';
    expect(deploymentName('nginxservice', '7350102648234549248-Test_1')).toBe(`nginxservice-dep-7350102648234549248-test-1-${hash8(raw)}`);
    expect(canaryServiceName('nginxservice', '7350102648234549248-Test_1')).toBe(
      `nginxservice-service-7350102648234549248-test-1-${hash8('nginxservice-service-7350102648234549248-Test_1')}`,
    );
  });

  it('keeps names of very long variant ids at 63 characters and apart', () => {
    const a = `7350102648234549248-${'long'.repeat(20)}a`;
    const b = `7350102648234549248-${'long'.repeat(20)}b`;
    for (const make of [deploymentName, canaryServiceName, canaryIngressName]) {
      expect(make('nginxservice', a)).toHaveLength(63);
      expect(make('nginxservice', a)).not.toBe(make('nginxservice', b));
    }
    expect(deploymentName('nginxservice', a).startsWith('nginxservice-dep-7350102648234549248-long')).toBe(true);
  });

  it('makes the main Service name start with a letter (DNS-1035) while the main route keeps DNS-1123', () => {
    expect(mainServiceName('1nginx')).toBe(`nginx-${hash8('1nginx')}`);
    expect(mainRouteName('1nginx')).toBe('1nginx');
    expect(canaryServiceName('1nginx', variant)).toBe(`nginx-service-${variant}-${hash8(`1nginx-service-${variant}`)}`);
  });

  it('gives the Deployment, Service and Ingress of one variant different names', () => {
    const names = [
      deploymentName('nginxservice', variant),
      canaryServiceName('nginxservice', variant),
      canaryIngressName('nginxservice', variant),
    ];
    expect(new Set(names).size).toBe(3);
  });

  it('are valid for any workspace and variant id', () => {
    fc.assert(
      fc.property(anyName, seedVariantIds, (service, variantId) => {
        expect(isDns1123(deploymentName(service, variantId))).toBe(true);
        expect(isDns1035(canaryServiceName(service, variantId))).toBe(true);
        expect(isDns1123(canaryIngressName(service, variantId))).toBe(true);
        expect(isDns1035(mainServiceName(service))).toBe(true);
        expect(isDns1123(mainRouteName(service))).toBe(true);
      }),
      RUNS,
    );
  });

  it('give distinct Deployment and Service names to distinct variants of one workspace', () => {
    fc.assert(
      fc.property(fc.uniqueArray(seedVariantIds, { minLength: 2, maxLength: 30 }), (variantIds) => {
        expect(new Set(variantIds.map((v) => deploymentName('nginxservice', v))).size).toBe(variantIds.length);
        expect(new Set(variantIds.map((v) => canaryServiceName('nginxservice', v))).size).toBe(variantIds.length);
        expect(new Set(variantIds.map((v) => canaryIngressName('nginxservice', v))).size).toBe(variantIds.length);
      }),
      { numRuns: 200 },
    );
  });
});
