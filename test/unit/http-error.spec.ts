import { BadRequestException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { DeadlineExceededError } from '../../src/common/deadline';
import { ConsentRequiredError, ForbiddenScopeError, ForeignObjectError, UnprocessableEventError } from '../../src/common/errors';
import { httpErrorFor } from '../../src/common/http-error.filter';
import { PayloadValidationError } from '../../src/common/validation';
import { ContextError } from '../../src/contract/context';
import { VariantConfigError } from '../../src/experiments/plan/variant-config';
import {
  KubeApiError,
  KubeConflictError,
  KubeForbiddenError,
  KubeInvalidError,
  KubeNotFoundError,
  KubeUnavailableError,
} from '../../src/kubernetes/kube-errors';
import {
  SuperpositionBadResponseError,
  SuperpositionRejectedError,
  SuperpositionServerError,
  SuperpositionUnreachableError,
} from '../../src/superposition/superposition-errors';

/** Each error says its own HTTP answer; the filter knows none of the modules that throw them. */
describe('httpErrorFor', () => {
  const statusOf = (error: unknown) => httpErrorFor(error).statusCode;

  it('answers 4xx for what the event itself got wrong', () => {
    expect(statusOf(new PayloadValidationError(['payload.id: must be a string']))).toBe(400);
    expect(httpErrorFor(new PayloadValidationError(['payload.id: must be a string'])).problems).toEqual(['payload.id: must be a string']);
    expect(statusOf(new ForbiddenScopeError('namespace "x" is not in ALLOWED_NAMESPACES'))).toBe(403);
    expect(statusOf(new UnprocessableEventError('no'))).toBe(422);
    expect(statusOf(new ForeignObjectError('Service', 'ns', 'web'))).toBe(422);
    expect(statusOf(new ConsentRequiredError('Service', 'ns', 'web', 'ws'))).toBe(422);
    expect(statusOf(new ContextError('unsupported JSON-logic context'))).toBe(422);
    expect(statusOf(new VariantConfigError('v1', 'container.image', 'is required'))).toBe(422);
    expect(statusOf(new SuperpositionRejectedError('unknown workspace', 404))).toBe(422);
    expect(httpErrorFor(new KubeNotFoundError('namespaces "nope" not found', 404, 'NotFound', 'namespaces'))).toMatchObject({
      statusCode: 422,
      message: 'namespace does not exist: namespaces "nope" not found',
    });
    expect(httpErrorFor(new KubeInvalidError('bad', 422, 'Invalid'))).toMatchObject({
      statusCode: 422,
      message: 'Kubernetes refused an object: bad',
    });
  });

  it('answers 5xx for what a retry may mend', () => {
    expect(statusOf(new DeadlineExceededError('late'))).toBe(503);
    expect(statusOf(new SuperpositionUnreachableError('ECONNREFUSED', 0))).toBe(503);
    expect(statusOf(new SuperpositionServerError('500', 500))).toBe(502);
    expect(statusOf(new SuperpositionBadResponseError('not JSON', 200))).toBe(502);
    expect(httpErrorFor(new KubeUnavailableError('down', 503))).toMatchObject({ statusCode: 503, message: 'Kubernetes API: down' });
    expect(statusOf(new KubeApiError('no answer', 0))).toBe(503);
    expect(statusOf(new KubeConflictError('exists', 409, 'AlreadyExists'))).toBe(502);
    expect(statusOf(new KubeForbiddenError('forbidden', 403))).toBe(502);
    expect(statusOf(new KubeNotFoundError('deployments "x" not found', 404, 'NotFound', 'deployments'))).toBe(502);
    expect(httpErrorFor(new Error('bug'))).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'internal error' });
  });

  it("keeps Nest's own HTTP exceptions as they are", () => {
    expect(httpErrorFor(new BadRequestException('bad'))).toMatchObject({ statusCode: 400, message: 'bad' });
  });
});
