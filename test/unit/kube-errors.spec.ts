import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  KubeApiError,
  KubeConflictError,
  KubeForbiddenError,
  KubeInvalidError,
  KubeNotFoundError,
  KubeUnavailableError,
  toKubeError,
} from '../../src/kubernetes/kube-errors';

function status(code: number, reason: string, message: string, details?: Record<string, unknown>): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code });
}

const apiError = (code: number, body: unknown) => new ApiException(code, `HTTP ${code}`, body, {});

describe('toKubeError: answers of the API server', () => {
  it('404 NotFound for a missing object keeps the message and the details kind', () => {
    const error = toKubeError(
      apiError(404, status(404, 'NotFound', 'deployments.apps "web" not found', { name: 'web', group: 'apps', kind: 'deployments' })),
    );
    expect(error).toBeInstanceOf(KubeNotFoundError);
    expect(error.message).toBe('deployments.apps "web" not found');
    expect(error.statusCode).toBe(404);
    expect(error.reason).toBe('NotFound');
    expect(error.detailsKind).toBe('deployments');
    expect(error.transient).toBe(false);
    expect(error.name).toBe('KubeNotFoundError');
  });

  it('404 for a missing namespace says "namespaces" in detailsKind', () => {
    const error = toKubeError(
      apiError(404, status(404, 'NotFound', 'namespaces "mumbai" not found', { name: 'mumbai', kind: 'namespaces' })),
    );
    expect(error).toBeInstanceOf(KubeNotFoundError);
    expect(error.detailsKind).toBe('namespaces');
    expect(error.message).toBe('namespaces "mumbai" not found');
  });

  it('409 Conflict (stale resourceVersion) is transient', () => {
    const error = toKubeError(
      apiError(409, status(409, 'Conflict', 'Operation cannot be fulfilled on deployments.apps "web": the object has been modified')),
    );
    expect(error).toBeInstanceOf(KubeConflictError);
    expect(error.reason).toBe('Conflict');
    expect(error.statusCode).toBe(409);
    expect(error.transient).toBe(true);
  });

  it('409 AlreadyExists is not transient', () => {
    const error = toKubeError(apiError(409, status(409, 'AlreadyExists', 'services "web" already exists')));
    expect(error).toBeInstanceOf(KubeConflictError);
    expect(error.reason).toBe('AlreadyExists');
    expect(error.message).toBe('services "web" already exists');
    expect(error.transient).toBe(false);
  });

  it.each([400, 422])('%i is Invalid, not transient', (code) => {
    const message = 'Deployment.apps "web" is invalid: spec.template.spec.containers[0].image: Required value';
    const error = toKubeError(apiError(code, status(code, code === 422 ? 'Invalid' : 'BadRequest', message)));
    expect(error).toBeInstanceOf(KubeInvalidError);
    expect(error.message).toBe(message);
    expect(error.statusCode).toBe(code);
    expect(error.transient).toBe(false);
  });

  it.each([401, 403])('%i is Forbidden, not transient', (code) => {
    const message = 'deployments.apps is forbidden: User "system:serviceaccount:mayday:mayday" cannot create resource';
    const error = toKubeError(apiError(code, status(code, code === 401 ? 'Unauthorized' : 'Forbidden', message)));
    expect(error).toBeInstanceOf(KubeForbiddenError);
    expect(error.message).toBe(message);
    expect(error.statusCode).toBe(code);
    expect(error.transient).toBe(false);
  });

  it('500 "failed to create typed patch object" (a type error in an apply body) is Invalid, not transient', () => {
    const message =
      'failed to create typed patch object (mumbai/web; apps/v1, Kind=Deployment): .spec.replicas: expected numeric (int or float), got string';
    const error = toKubeError(apiError(500, status(500, 'InternalError', message)));
    expect(error).toBeInstanceOf(KubeInvalidError);
    expect(error.message).toBe(message);
    expect(error.statusCode).toBe(500);
    expect(error.transient).toBe(false);
  });

  it.each([
    [500, 'InternalError', 'Internal error occurred: etcdserver: request timed out'],
    [503, 'ServiceUnavailable', 'the server is currently unable to handle the request'],
    [429, 'TooManyRequests', 'the server has received too many requests and has asked us to try again later'],
    [504, 'Timeout', 'the server was unable to return a response in the time allotted'],
  ])('%i is Unavailable and transient', (code, reason, message) => {
    const error = toKubeError(apiError(code, status(code, reason, message)));
    expect(error).toBeInstanceOf(KubeUnavailableError);
    expect(error.message).toBe(message);
    expect(error.statusCode).toBe(code);
    expect(error.reason).toBe(reason);
    expect(error.transient).toBe(true);
  });

  it('reads a Status body that is already an object', () => {
    const error = toKubeError(apiError(404, { kind: 'Status', message: 'ingresses "x" not found', reason: 'NotFound' }));
    expect(error).toBeInstanceOf(KubeNotFoundError);
    expect(error.message).toBe('ingresses "x" not found');
    expect(error.reason).toBe('NotFound');
  });

  it('keeps a body that is not JSON as the message', () => {
    const error = toKubeError(apiError(503, 'upstream connect error or disconnect/reset before headers'));
    expect(error).toBeInstanceOf(KubeUnavailableError);
    expect(error.message).toBe('upstream connect error or disconnect/reset before headers');
    expect(error.reason).toBeUndefined();
  });

  it('falls back to the exception message when the body is empty', () => {
    const exception = apiError(502, '');
    const error = toKubeError(exception);
    expect(error).toBeInstanceOf(KubeUnavailableError);
    expect(error.message).toBe(exception.message);
    expect(error.message).toContain('HTTP-Code: 502');
  });

  it('maps other codes to a plain, non-transient KubeApiError', () => {
    const error = toKubeError(apiError(418, status(418, 'Teapot', "I'm a teapot")));
    expect(error.constructor).toBe(KubeApiError);
    expect(error.statusCode).toBe(418);
    expect(error.message).toBe("I'm a teapot");
    expect(error.transient).toBe(false);
  });
});

describe('toKubeError: no answer', () => {
  it('a refused connection is Unavailable with statusCode 0', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    const error = toKubeError(cause);
    expect(error).toBeInstanceOf(KubeUnavailableError);
    expect(error.statusCode).toBe(0);
    expect(error.reason).toBe('Unreachable');
    expect(error.message).toBe('Kubernetes API unreachable (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:6443)');
    expect(error.transient).toBe(true);
  });

  it("a refused connection through undici's fetch (TypeError 'fetch failed' with the system error as cause) names the cause", () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    const error = toKubeError(new TypeError('fetch failed', { cause }));
    expect(error).toBeInstanceOf(KubeUnavailableError);
    expect(error.statusCode).toBe(0);
    expect(error.message).toBe('Kubernetes API unreachable (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:6443)');
  });

  it('an error without a code keeps its message', () => {
    const error = toKubeError(new Error('getaddrinfo failed'));
    expect(error).toBeInstanceOf(KubeUnavailableError);
    expect(error.message).toBe('Kubernetes API unreachable (getaddrinfo failed)');
    expect(error.statusCode).toBe(0);
  });

  it('an AbortError or TimeoutError is a timeout, Unavailable with statusCode 0', () => {
    const abort = Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
    for (const cause of [abort, new DOMException('signal timed out', 'TimeoutError'), new DOMException('aborted', 'AbortError')]) {
      const error = toKubeError(cause);
      expect(error).toBeInstanceOf(KubeUnavailableError);
      expect(error.statusCode).toBe(0);
      expect(error.reason).toBe('Timeout');
      expect(error.message).toBe('Kubernetes API request timed out');
      expect(error.transient).toBe(true);
    }
  });

  it('a thrown non-Error value still becomes an Unavailable error', () => {
    const error = toKubeError('socket hang up');
    expect(error).toBeInstanceOf(KubeUnavailableError);
    expect(error.message).toBe('Kubernetes API unreachable (socket hang up)');
  });

  it('passes an already typed error through', () => {
    const typed = new KubeForbiddenError('nope', 403, 'Forbidden');
    expect(toKubeError(typed)).toBe(typed);
  });
});
