import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, errorCatalog, errorTypeOf, isTillpointError } from '../shared/errors.ts';
import type { ErrorBody } from './schemas.ts';

// Every failure leaves the API in one shape, `{"error": {"type", "code", "message", "param"?}}`, with
// a code from the catalog in src/shared/errors.ts. This file is the one place where anything thrown
// (a TillpointError from a module, a Fastify error, a bug) becomes that shape and an HTTP status.

export interface HttpFailure {
  status: number;
  body: ErrorBody;
  /** A bug or an outage rather than a bad request: logged at error level with its stack. */
  severe: boolean;
}

function failure(status: number, code: ErrorCode, message?: string, param?: string): HttpFailure {
  return {
    status,
    body: {
      error: {
        // The type follows the code, so that 413 and 415 are still invalid_request_error.
        type: errorTypeOf(errorCatalog[code].status),
        code,
        message: message ?? errorCatalog[code].message,
        ...(param === undefined ? {} : { param }),
      },
    },
    severe: status >= 500,
  };
}

interface ValidationIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Where a field lives, as a prefix of its `param`: body fields are bare JSON paths. */
const LOCATION_PREFIX: Record<string, string> = {
  body: '',
  querystring: 'query.',
  params: 'path.',
  headers: 'header.',
};
const LOCATION_NAME: Record<string, string> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'header',
};

/** `/postings/1/amount` in the query → `postings[1].amount`; a segment of digits is an array index. */
export function paramOf(location: string, instancePath: string, extraKey?: string): string {
  const segments = instancePath.split('/').filter((segment) => segment !== '');
  if (extraKey !== undefined) segments.push(extraKey);
  if (segments.length === 0) return LOCATION_NAME[location] ?? location;
  let path = '';
  for (const segment of segments) {
    if (/^\d+$/.test(segment)) path += `[${segment}]`;
    else path += path === '' ? segment : `.${segment}`;
  }
  return `${LOCATION_PREFIX[location] ?? `${location}.`}${path}`;
}

/** Zod says a field is missing as an invalid_type whose input is undefined (named only in its message). */
function isMissing(params: Record<string, unknown>, message: string): boolean {
  return params['received'] === 'undefined' || /received undefined$/.test(message);
}

function validationFailure(issues: readonly ValidationIssue[], location: string): HttpFailure {
  const first = issues[0] ?? {};
  const params = first.params ?? {};
  const unknownKeys =
    first.keyword === 'unrecognized_keys' && Array.isArray(params['keys']) ? params['keys'] : [];
  const unknownKey = typeof unknownKeys[0] === 'string' ? unknownKeys[0] : undefined;
  const param = paramOf(location, first.instancePath ?? '', unknownKey);
  let what = first.message ?? 'is not valid';
  if (unknownKey !== undefined)
    what = location === 'body' ? 'is not a known field' : 'is not a known parameter';
  else if (first.keyword === 'invalid_type' && isMissing(params, what)) what = 'is required';
  const more =
    issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  return failure(400, 'TILLPOINT_ERR_VALIDATION', `${param}: ${what}${more}`, param);
}

/** Catalog code for an HTTP error status raised by Fastify or a plugin. */
function codeOfStatus(status: number): ErrorCode {
  switch (status) {
    case 401:
      return 'TILLPOINT_ERR_UNAUTHENTICATED';
    case 403:
      return 'TILLPOINT_ERR_FORBIDDEN';
    case 404:
    case 405:
      return 'TILLPOINT_ERR_ROUTE_NOT_FOUND';
    case 429:
      return 'TILLPOINT_ERR_RATE_LIMITED';
    case 503:
      return 'TILLPOINT_ERR_UNAVAILABLE';
    default:
      return status >= 400 && status < 500 ? 'TILLPOINT_ERR_VALIDATION' : 'TILLPOINT_ERR_INTERNAL';
  }
}

/**
 * Maps anything thrown while handling a request to a status and the one error body. Only a
 * TillpointError or Fastify's own request errors carry their message to the client; anything else is a
 * 500 with the catalog's generic message (the real one goes to the log).
 */
export function httpFailureOf(error: unknown, options: { bodyLimitBytes: number }): HttpFailure {
  if (isTillpointError(error)) {
    return { status: error.status, body: { error: error.toJSON() }, severe: error.status >= 500 };
  }
  const fastifyError = (typeof error === 'object' && error !== null ? error : {}) as Partial<FastifyError>;
  if (Array.isArray(fastifyError.validation) && fastifyError.validation.length > 0) {
    return validationFailure(
      fastifyError.validation as readonly ValidationIssue[],
      fastifyError.validationContext ?? 'body',
    );
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return failure(400, 'TILLPOINT_ERR_MALFORMED_JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return failure(
        400,
        'TILLPOINT_ERR_MALFORMED_JSON',
        'The request body is empty, yet its content type says JSON',
      );
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return failure(
        413,
        'TILLPOINT_ERR_VALIDATION',
        `The request body is larger than the limit of ${options.bodyLimitBytes} bytes`,
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return failure(
        415,
        'TILLPOINT_ERR_VALIDATION',
        'The content type of the request body is not supported: send application/json',
      );
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return failure(400, 'TILLPOINT_ERR_VALIDATION', 'The Content-Length header does not match the body');
  }
  const status = fastifyError.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = codeOfStatus(status);
    // Fastify's own messages are written for callers; a plugin's may not be.
    const message =
      code === 'TILLPOINT_ERR_VALIDATION' && fastifyError.code?.startsWith('FST_') === true
        ? fastifyError.message
        : undefined;
    return failure(status === 405 ? 404 : status, code, message);
  }
  if (status === 503) return failure(503, 'TILLPOINT_ERR_UNAVAILABLE');
  return failure(500, 'TILLPOINT_ERR_INTERNAL');
}

/** The catalog code each failed request was answered with, for its access-log line. */
const answeredCodes = new WeakMap<FastifyRequest, string>();

export function errorCodeOf(request: FastifyRequest): string | undefined {
  return answeredCodes.get(request);
}

function sendFailure(request: FastifyRequest, reply: FastifyReply, outcome: HttpFailure): FastifyReply {
  answeredCodes.set(request, outcome.body.error.code);
  return reply.status(outcome.status).send(outcome.body);
}

/** Fastify's error handler of the whole app (plugins inherit it). */
export function createErrorHandler(options: { bodyLimitBytes: number }) {
  return function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const outcome = httpFailureOf(error, options);
    if (outcome.severe) {
      request.log.error({ err: error, code: outcome.body.error.code }, 'request failed');
    }
    return sendFailure(request, reply, outcome);
  };
}

const PATH_SHOWN_MAX = 200;

/** Fastify's not-found handler: unknown routes (and known paths with another method) are 404. */
export function handleNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?', 1)[0] ?? '';
  const shown = path.length > PATH_SHOWN_MAX ? `${path.slice(0, PATH_SHOWN_MAX)}…` : path;
  return sendFailure(
    request,
    reply,
    failure(404, 'TILLPOINT_ERR_ROUTE_NOT_FOUND', `No route ${request.method} ${shown}`),
  );
}
