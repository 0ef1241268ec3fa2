import { CONSENT_ANNOTATION } from '../naming/labels';

/** Mayday's HTTP answer to a request that ended with an error. */
export interface ErrorAnswer {
  statusCode: number;
  message: string;
}

/**
 * An error that knows which HTTP answer it means (docs/architecture.md, "Errors"): every module's
 * errors extend it, so the exception filter (common/http-error.filter.ts) turns them into answers
 * without knowing the module that threw them.
 */
export abstract class DomainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }

  abstract answer(): ErrorAnswer;
}

/**
 * A well-formed event that cannot be carried out (HTTP 422): retrying the same delivery will not
 * help, so Superposition should stop. Nothing has been written when this is thrown.
 */
export class UnprocessableEventError extends DomainError {
  answer(): ErrorAnswer {
    return { statusCode: 422, message: this.message };
  }
}

/**
 * The event's content cannot be carried out (HTTP 422): an experiment context or a variant config
 * Mayday does not understand. Found before anything is read from the cluster, so, unlike an
 * UnprocessableEventError, it is never checked again against fresher reads.
 */
export class InvalidContentError extends DomainError {
  answer(): ErrorAnswer {
    return { statusCode: 422, message: this.message };
  }
}

/** An object Mayday would write exists and was not made by Mayday: it is never overwritten. */
export class ForeignObjectError extends UnprocessableEventError {
  constructor(kind: string, namespace: string, name: string) {
    super(`${kind} ${namespace}/${name} exists and was not made by Mayday; it is never overwritten`);
  }
}

/** Whether an object Mayday did not make carries its owner's consent to be used for this workspace. */
export function hasConsent(object: { metadata?: { annotations?: Record<string, string> } }, workspace: string): boolean {
  return object.metadata?.annotations?.[CONSENT_ANNOTATION] === workspace;
}

/** A main Service / Ingress that Mayday did not make, without its owner's consent: never used. */
export class ConsentRequiredError extends UnprocessableEventError {
  constructor(kind: string, namespace: string, name: string, workspace: string) {
    super(
      `${kind} ${namespace}/${name} was not made by Mayday and does not carry the annotation ${CONSENT_ANNOTATION}: "${workspace}"; ` +
        `its owner must add it before Mayday routes workspace "${workspace}" through it (nothing was changed)`,
    );
  }
}

/** The event is for a namespace or workspace this Mayday may not act on (HTTP 403). */
export class ForbiddenScopeError extends DomainError {
  answer(): ErrorAnswer {
    return { statusCode: 403, message: this.message };
  }
}
