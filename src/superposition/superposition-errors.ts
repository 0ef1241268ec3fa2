import { DomainError, type ErrorAnswer } from '../common/errors';

/** Superposition failures, by what the caller should do about them. */
export class SuperpositionError extends DomainError {
  constructor(
    message: string,
    /** HTTP status Superposition answered, or 0 when it did not answer. */
    readonly statusCode: number,
  ) {
    super(message);
  }

  /** Unreachable: 503, so Superposition delivers again. */
  answer(): ErrorAnswer {
    return { statusCode: 503, message: this.message };
  }
}

/** No answer: connection refused, DNS, timeout. Worth retrying. */
export class SuperpositionUnreachableError extends SuperpositionError {}
/** A 4xx: the request itself is wrong (unknown workspace, bad context). Retrying will not help. */
export class SuperpositionRejectedError extends SuperpositionError {
  override answer(): ErrorAnswer {
    return { statusCode: 422, message: this.message };
  }
}
/** A 5xx: Superposition is failing. Worth retrying. */
export class SuperpositionServerError extends SuperpositionError {
  override answer(): ErrorAnswer {
    return { statusCode: 502, message: this.message };
  }
}
/** A 2xx whose body is not what the contract promises (not JSON, not an object). */
export class SuperpositionBadResponseError extends SuperpositionError {
  override answer(): ErrorAnswer {
    return { statusCode: 502, message: this.message };
  }
}
