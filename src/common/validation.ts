import { plainToInstance, type ClassConstructor } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';

/** A request body that does not have the expected shape; each message names its field path. */
export class PayloadValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'PayloadValidationError';
  }
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Validates plain JSON against a class-validator DTO and returns the instance. Unknown fields are
 * tolerated (Superposition adds fields between versions); keys that could reach an object's
 * prototype are refused outright.
 */
export function validatePlain<T extends object>(dto: ClassConstructor<T>, plain: unknown, path: string): T {
  const hostile = findHostileShape(plain, path);
  if (hostile) throw new PayloadValidationError([hostile]);
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) {
    throw new PayloadValidationError([`${path || 'body'} must be a JSON object`]);
  }
  const instance = plainToInstance(dto, plain, { enableImplicitConversion: false });
  const errors = validateSync(instance, { forbidUnknownValues: false, validationError: { target: false } });
  if (errors.length > 0) throw new PayloadValidationError(flatten(errors, path));
  return instance;
}

function flatten(errors: ValidationError[], prefix: string): string[] {
  const problems: string[] = [];
  for (const error of errors) {
    const path = prefix ? `${prefix}.${error.property}` : error.property;
    for (const constraint of Object.values(error.constraints ?? {})) {
      // class-validator words its messages with the bare property name; give the whole path instead.
      problems.push(constraint.startsWith(error.property) ? `${path}${constraint.slice(error.property.length)}` : `${path}: ${constraint}`);
    }
    if (error.children?.length) problems.push(...flatten(error.children, path));
  }
  return problems;
}

const MAX_DEPTH = 32;

/** A message for a prototype-pollution key or absurd nesting anywhere in the value, else undefined. */
function findHostileShape(value: unknown, path: string, depth = 0): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (depth > MAX_DEPTH) return `${path || 'body'} is nested deeper than ${MAX_DEPTH} levels`;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const found = findHostileShape(value[index], `${path}.${index}`, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    const keyPath = path ? `${path}.${key}` : key;
    if (FORBIDDEN_KEYS.has(key)) return `${keyPath} is not an accepted field name`;
    const found = findHostileShape((value as Record<string, unknown>)[key], keyPath, depth + 1);
    if (found) return found;
  }
  return undefined;
}
