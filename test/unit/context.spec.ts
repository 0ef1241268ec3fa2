import { describe, expect, it } from 'vitest';
import { PayloadValidationError } from '../../src/common/validation';
import { ContextError, contextDimensions, namespaceOf } from '../../src/contract/context';

const eq = (name: string, value: unknown) => ({ '==': [{ var: name }, value] });

describe('contextDimensions: map form (current Superposition)', () => {
  it('returns the flat map as is', () => {
    expect(contextDimensions({ namespace: 'mumbai' })).toEqual({ namespace: 'mumbai' });
    expect(contextDimensions({ namespace: 'mumbai', region: 'in', tier: 3 })).toEqual({
      namespace: 'mumbai',
      region: 'in',
      tier: 3,
    });
    expect(contextDimensions({})).toEqual({});
  });

  it('returns a copy, so changing the result leaves the context alone', () => {
    const context = { namespace: 'mumbai' };
    const dimensions = contextDimensions(context);
    dimensions.namespace = 'delhi';
    expect(context).toEqual({ namespace: 'mumbai' });
  });

  it('does not mistake a dimension whose value is a string for JSON-logic', () => {
    expect(contextDimensions({ and: 'x' })).toEqual({ and: 'x' });
  });
});

describe('contextDimensions: JSON-logic form (Superposition before v0.97)', () => {
  it('reads the seed form {"and":[{"==":[{"var":"namespace"},"mumbai"]}]}', () => {
    expect(contextDimensions(JSON.parse('{"and":[{"==":[{"var":"namespace"},"mumbai"]}]}'))).toEqual({
      namespace: 'mumbai',
    });
  });

  it('reads a single "==" without "and"', () => {
    expect(contextDimensions(eq('namespace', 'mumbai'))).toEqual({ namespace: 'mumbai' });
  });

  it('reads the reversed operand order', () => {
    expect(contextDimensions({ '==': ['mumbai', { var: 'namespace' }] })).toEqual({ namespace: 'mumbai' });
    expect(contextDimensions({ and: [{ '==': ['in', { var: 'region' }] }] })).toEqual({ region: 'in' });
  });

  it('reads several dimensions, of any JSON type, and nested "and"', () => {
    expect(
      contextDimensions({
        and: [eq('namespace', 'mumbai'), { '==': [7, { var: 'tier' }] }, { and: [eq('beta', true)] }],
      }),
    ).toEqual({ namespace: 'mumbai', tier: 7, beta: true });
  });

  it('refuses other JSON-logic with a ContextError', () => {
    const unsupported: Record<string, unknown>[] = [
      { or: [eq('namespace', 'mumbai'), eq('namespace', 'delhi')] },
      { in: ['mumbai', { var: 'namespace' }] },
      { '!=': [{ var: 'namespace' }, 'mumbai'] },
      { and: [eq('namespace', 'mumbai'), { '>': [{ var: 'tier' }, 2] }] },
      { '==': [{ var: 'namespace' }, 'mumbai', 'extra'] },
      { '==': { var: 'namespace' } },
    ];
    for (const context of unsupported) {
      expect(() => contextDimensions(context), JSON.stringify(context)).toThrow(ContextError);
    }
  });

  // Reported bug: these shapes are not "an equality of a dimension to a value" either, but instead of a
  // ContextError they are silently dropped, so the namespace then falls back to the default one.
  it('refuses an "==" between two variables instead of dropping it', () => {
    expect(() => contextDimensions({ '==': [{ var: 'namespace' }, { var: 'region' }] })).toThrow(ContextError);
  });

  it('refuses an "==" between two literals instead of dropping it', () => {
    expect(() => contextDimensions({ and: [eq('region', 'in'), { '==': ['mumbai', 'mumbai'] }] })).toThrow(ContextError);
  });

  it('refuses a non-object member of "and" instead of dropping it', () => {
    expect(() => contextDimensions({ and: [eq('namespace', 'mumbai'), 'namespace'] })).toThrow(ContextError);
  });

  it('says which part it did not understand', () => {
    expect(() => contextDimensions({ or: [eq('namespace', 'mumbai')] })).toThrow(
      /unsupported JSON-logic context \{"or":.*only "and" of "==" comparisons is understood/,
    );
  });
});

describe('namespaceOf', () => {
  it('reads the configured dimension', () => {
    expect(namespaceOf({ namespace: 'mumbai' }, 'namespace', 'default')).toBe('mumbai');
    expect(namespaceOf({ namespace: 'mumbai', region: 'in-west' }, 'region', 'default')).toBe('in-west');
  });

  it('falls back to the default when the dimension is absent, null or empty', () => {
    expect(namespaceOf({}, 'namespace', 'fallback-ns')).toBe('fallback-ns');
    expect(namespaceOf({ region: 'x' }, 'namespace', 'fallback-ns')).toBe('fallback-ns');
    expect(namespaceOf({ namespace: null }, 'namespace', 'fallback-ns')).toBe('fallback-ns');
    expect(namespaceOf({ namespace: '' }, 'namespace', 'fallback-ns')).toBe('fallback-ns');
  });

  it('refuses a value that is not a string, naming the dimension', () => {
    expect(() => namespaceOf({ namespace: 42 }, 'namespace', 'default')).toThrow(ContextError);
    expect(() => namespaceOf({ namespace: 42 }, 'namespace', 'default')).toThrow('context dimension "namespace" must be a string (got 42)');
    expect(() => namespaceOf({ ns: ['a'] }, 'ns', 'default')).toThrow('context dimension "ns" must be a string (got ["a"])');
    expect(() => namespaceOf({ namespace: true }, 'namespace', 'default')).toThrow(ContextError);
  });

  it('works on the result of the JSON-logic form', () => {
    const dimensions = contextDimensions({ and: [eq('namespace', 'mumbai')] });
    expect(namespaceOf(dimensions, 'namespace', 'default')).toBe('mumbai');
  });
});

describe('contextDimensions: names that would reach the prototype', () => {
  it.each(['__proto__', 'constructor', 'prototype'])(
    'refuses {"var": "%s"} as a payload error (400), leaving no inherited dimension',
    (name) => {
      const context = { and: [eq(name, { namespace: 'kube-system' }), eq('region', 'in')] };
      expect(() => contextDimensions(context)).toThrow(PayloadValidationError);
      expect(() => contextDimensions(context)).toThrow(`payload.context: {"var": "${name}"} does not name a dimension`);
    },
  );
});
