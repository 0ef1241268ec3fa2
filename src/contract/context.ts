/**
 * Superposition experiment contexts come in two forms (docs/contract.md §1): a flat map of dimension to
 * value (current servers) or JSON-logic (servers older than v0.97), e.g.
 * `{"and":[{"==":[{"var":"namespace"},"mumbai"]}]}`. Both are reduced to the flat map here.
 */
import { InvalidContentError } from '../common/errors';
import { PayloadValidationError } from '../common/validation';

export type Dimensions = Record<string, unknown>;

/** Dimension names that would reach an object's prototype instead of naming a dimension. */
const FORBIDDEN_DIMENSIONS = new Set(['__proto__', 'constructor', 'prototype']);

export class ContextError extends InvalidContentError {}

export function contextDimensions(context: Record<string, unknown>): Dimensions {
  if (!isJsonLogic(context)) return { ...context };
  const dimensions: Dimensions = {};
  collectEqualities(context, dimensions);
  return dimensions;
}

/**
 * The namespace the experiment deploys into: the context's `dimension`, else the default.
 * A value that is not a string is an error rather than a silent fallback.
 */
export function namespaceOf(dimensions: Dimensions, dimension: string, fallback: string): string {
  const value = dimensions[dimension];
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value !== 'string') {
    throw new ContextError(`context dimension "${dimension}" must be a string (got ${JSON.stringify(value)})`);
  }
  return value;
}

const LOGIC_OPERATORS = new Set(['and', '==', 'or', 'in', '!', '!=', '<', '>', '<=', '>=', 'var']);

function isJsonLogic(context: Record<string, unknown>): boolean {
  const keys = Object.keys(context);
  return keys.length === 1 && LOGIC_OPERATORS.has(keys[0]) && typeof context[keys[0]] === 'object';
}

/** Walks `and` nodes and records every `{"==": [{"var": name}, value]}` (either operand order). */
function collectEqualities(node: unknown, into: Dimensions): void {
  if (!node || typeof node !== 'object' || Array.isArray(node)) {
    throw new ContextError(`unsupported JSON-logic context: ${JSON.stringify(node)} is not a comparison`);
  }
  const record = node as Record<string, unknown>;
  if (Array.isArray(record.and)) {
    for (const child of record.and) collectEqualities(child, into);
    return;
  }
  const operands = record['=='];
  if (Array.isArray(operands) && operands.length === 2) {
    const [left, right] = operands;
    const leftName = varName(left);
    const rightName = varName(right);
    // Exactly one side names a dimension, the other is its value; anything else is not a context.
    if ((leftName === undefined) !== (rightName === undefined)) {
      const name = (leftName ?? rightName)!;
      if (FORBIDDEN_DIMENSIONS.has(name)) {
        throw new PayloadValidationError([`payload.context: {"var": ${JSON.stringify(name)}} does not name a dimension`]);
      }
      into[name] = leftName === undefined ? left : right;
      return;
    }
  }
  throw new ContextError(
    `unsupported JSON-logic context ${JSON.stringify(node).slice(0, 200)}: only "and" of "==" comparisons is understood`,
  );
}

function varName(operand: unknown): string | undefined {
  if (operand && typeof operand === 'object' && !Array.isArray(operand)) {
    const name = (operand as Record<string, unknown>).var;
    if (typeof name === 'string') return name;
  }
  return undefined;
}

/**
 * The values an experiment context gives one dimension: a flat map's value, or JSON-logic `==` or `in`
 * (`{"in": [{"var": "cluster"}, ["a", "b"]]}`) on it, also inside `and`; undefined when it names none.
 */
export function dimensionValues(context: Record<string, unknown>, dimension: string): string[] | undefined {
  if (!isJsonLogic(context)) {
    const value = context[dimension];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') {
      throw new ContextError(`context dimension "${dimension}" must be a string (got ${JSON.stringify(value)})`);
    }
    return [value];
  }
  const found: string[][] = [];
  collectValues(context, dimension, found);
  if (found.length > 1) throw new ContextError(`the JSON-logic context names dimension "${dimension}" more than once`);
  return found[0];
}

/**
 * The context as one of the values it gives `dimension` sees it: an `in` on the dimension becomes `==`
 * that value (so resolving it and recording it speak of one cluster); anything else stays as it is.
 */
export function narrowedContext(context: Record<string, unknown>, dimension: string, value: string): Record<string, unknown> {
  if (!isJsonLogic(context)) return context;
  const narrow = (node: unknown): unknown => {
    if (!node || typeof node !== 'object' || Array.isArray(node)) return node;
    const record = node as Record<string, unknown>;
    if (Array.isArray(record.and)) return { ...record, and: record.and.map(narrow) };
    if (membershipValues(record, dimension)) return { '==': [{ var: dimension }, value] };
    return node;
  };
  return narrow(context) as Record<string, unknown>;
}

function collectValues(node: unknown, dimension: string, into: string[][]): void {
  if (!node || typeof node !== 'object' || Array.isArray(node)) return;
  const record = node as Record<string, unknown>;
  if (Array.isArray(record.and)) {
    for (const child of record.and) collectValues(child, dimension, into);
    return;
  }
  const operands = record['=='];
  if (Array.isArray(operands) && operands.length === 2) {
    const [left, right] = operands;
    const value = varName(left) === dimension ? right : varName(right) === dimension ? left : undefined;
    if (value === undefined) return;
    if (typeof value !== 'string') {
      throw new ContextError(`context dimension "${dimension}" must be a string (got ${JSON.stringify(value)})`);
    }
    into.push([value]);
    return;
  }
  const members = membershipValues(record, dimension);
  if (members) into.push(members);
}

/** The values of `{"in": [{"var": dimension}, [values]]}`, or undefined for any other node. */
function membershipValues(node: Record<string, unknown>, dimension: string): string[] | undefined {
  const operands = node.in;
  if (!Array.isArray(operands) || operands.length !== 2 || varName(operands[0]) !== dimension) return undefined;
  const list = operands[1];
  if (!Array.isArray(list) || list.some((value) => typeof value !== 'string')) {
    throw new ContextError(`context dimension "${dimension}": "in" takes a list of strings (got ${JSON.stringify(list)})`);
  }
  return list as string[];
}
