/**
 * A well-formed event that cannot be carried out (HTTP 422): retrying the same delivery will not
 * help, so Superposition should stop. Nothing has been written when this is thrown.
 */
export class UnprocessableEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** An object Mayday would write exists and was not made by Mayday: it is never overwritten. */
export class ForeignObjectError extends UnprocessableEventError {
  constructor(kind: string, namespace: string, name: string) {
    super(`${kind} ${namespace}/${name} exists and was not made by Mayday; it is never overwritten`);
  }
}

/** The event is for a namespace or workspace this Mayday may not act on (HTTP 403). */
export class ForbiddenScopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenScopeError';
  }
}
