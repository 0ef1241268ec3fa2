import { ApiException } from '@kubernetes/client-node';
import { DomainError, type ErrorAnswer } from '../common/errors';

/**
 * Kubernetes failures as types the callers can act on. The API server's own message is kept
 * verbatim in `message`; `reason` is the Status reason (NotFound, AlreadyExists, Invalid, ...).
 */
export class KubeApiError extends DomainError {
  constructor(
    message: string,
    /** HTTP status of the answer, or 0 when no answer came (connection refused, timeout). */
    readonly statusCode: number,
    readonly reason?: string,
    /** Status.details.kind: for a 404 it tells a missing namespace ("namespaces") from a missing object. */
    readonly detailsKind?: string,
  ) {
    super(message);
  }

  /** 422 when the event asks for something Kubernetes refuses (a missing namespace, an invalid object); else 502/503, so Superposition retries. */
  answer(): ErrorAnswer {
    if (this instanceof KubeNotFoundError && this.detailsKind === 'namespaces') {
      return { statusCode: 422, message: `namespace does not exist: ${this.message}` };
    }
    if (this instanceof KubeInvalidError) return { statusCode: 422, message: `Kubernetes refused an object: ${this.message}` };
    return { statusCode: this.transient || this.statusCode === 0 ? 503 : 502, message: `Kubernetes API: ${this.message}` };
  }

  /** True for faults worth retrying: the same request may succeed later. */
  get transient(): boolean {
    return false;
  }
}

export class KubeNotFoundError extends KubeApiError {}
export class KubeConflictError extends KubeApiError {
  override get transient(): boolean {
    // A stale resourceVersion heals by re-reading; AlreadyExists does not.
    return this.reason === 'Conflict';
  }
}
/**
 * A write with a precondition found the object changed (an update with a stale resourceVersion, a
 * create of an object that exists): someone else wrote it since it was read. Sending the same
 * request again never helps; the caller reads again and decides again.
 */
export class KubeVersionConflictError extends KubeConflictError {
  override get transient(): boolean {
    return false;
  }
}
export class KubeInvalidError extends KubeApiError {}
export class KubeForbiddenError extends KubeApiError {}
export class KubeUnavailableError extends KubeApiError {
  override get transient(): boolean {
    return true;
  }
}

interface KubeStatus {
  message?: string;
  reason?: string;
  details?: { kind?: string; name?: string };
}

/** Turns whatever client-node threw into a KubeApiError subclass. Already-typed errors pass through. */
export function toKubeError(error: unknown): KubeApiError {
  if (error instanceof KubeApiError) return error;
  if (error instanceof ApiException) {
    const status = parseStatus(error.body);
    const code = error.code;
    const message = status.message ?? (typeof error.body === 'string' && error.body ? error.body : error.message);
    const args = [message, code, status.reason, status.details?.kind] as const;
    if (code === 404) return new KubeNotFoundError(...args);
    if (code === 409) return new KubeConflictError(...args);
    if (code === 400 || code === 422) return new KubeInvalidError(...args);
    if (code === 401 || code === 403) return new KubeForbiddenError(...args);
    // Kubernetes 1.20 answers an apply body with a wrong type with a 500 (docs/contract.md §8): not transient.
    if (code === 500 && /failed to create typed patch object|typed value/i.test(message)) {
      return new KubeInvalidError(...args);
    }
    if (code === 429 || code >= 500) return new KubeUnavailableError(...args);
    return new KubeApiError(...args);
  }
  const thrown = error as { name?: string; code?: string; message?: string; cause?: unknown };
  // undici's fetch (client-node 2) throws TypeError('fetch failed') with the system error as its cause.
  const cause = (thrown?.name === 'TypeError' && thrown.message === 'fetch failed' && thrown.cause ? thrown.cause : thrown) as {
    name?: string;
    code?: string;
    message?: string;
  };
  // client-node's discovery found no such kind on the server (e.g. a CRD that is not installed).
  if (typeof cause?.message === 'string' && cause.message.startsWith('Unrecognized API version and kind')) {
    return new KubeNotFoundError(`${cause.message}: the API server does not serve it (is its CRD installed?)`, 404, 'NotFound');
  }
  if (cause?.name === 'AbortError' || cause?.name === 'TimeoutError') {
    return new KubeUnavailableError('Kubernetes API request timed out', 0, 'Timeout');
  }
  // ECONNREFUSED, ECONNRESET, ..., DNS and TLS failures: no answer from the server.
  const detail = cause?.code ? `${cause.code}: ${cause.message}` : String(cause?.message ?? error);
  return new KubeUnavailableError(`Kubernetes API unreachable (${detail})`, 0, 'Unreachable');
}

function parseStatus(body: unknown): KubeStatus {
  if (body && typeof body === 'object') return body as KubeStatus;
  if (typeof body !== 'string' || body === '') return {};
  try {
    const parsed: unknown = JSON.parse(body);
    return parsed && typeof parsed === 'object' ? (parsed as KubeStatus) : {};
  } catch {
    return {};
  }
}
