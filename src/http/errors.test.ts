import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TillpointError } from '../shared/errors.ts';
import { httpFailureOf, paramOf } from './errors.ts';

const options = { bodyLimitBytes: 1024 };

function fastifyError(code: string, statusCode: number, message = 'fastify says no'): Error {
  return Object.assign(new Error(message), { code, statusCode });
}

describe('paramOf', () => {
  const rows: Array<[string, string, string | undefined, string]> = [
    ['body', '/postings/1/amount', undefined, 'postings[1].amount'],
    ['body', '/0/a', undefined, '[0].a'],
    ['body', '/', undefined, 'body'],
    ['querystring', '/limit', undefined, 'query.limit'],
    ['querystring', '/', 'startingAfter', 'query.startingAfter'],
    ['params', '/code', undefined, 'path.code'],
    ['headers', '/x-thing', undefined, 'header.x-thing'],
  ];
  for (const [location, path, extra, expected] of rows) {
    it(`${location} ${path} → ${expected}`, () => assert.equal(paramOf(location, path, extra), expected));
  }
});

describe('httpFailureOf', () => {
  // One row per outcome: what was thrown → status, code, type.
  const rows: Array<[string, unknown, number, string, string]> = [
    [
      'TillpointError keeps its status and code',
      new TillpointError('TILLPOINT_ERR_ACCOUNT_NOT_FOUND', 'No ledger account with code x', {
        param: 'code',
      }),
      404,
      'TILLPOINT_ERR_ACCOUNT_NOT_FOUND',
      'not_found_error',
    ],
    [
      'invalid JSON',
      fastifyError('FST_ERR_CTP_INVALID_JSON_BODY', 400),
      400,
      'TILLPOINT_ERR_MALFORMED_JSON',
      'invalid_request_error',
    ],
    [
      'empty JSON body',
      fastifyError('FST_ERR_CTP_EMPTY_JSON_BODY', 400),
      400,
      'TILLPOINT_ERR_MALFORMED_JSON',
      'invalid_request_error',
    ],
    [
      'body too large',
      fastifyError('FST_ERR_CTP_BODY_TOO_LARGE', 413),
      413,
      'TILLPOINT_ERR_VALIDATION',
      'invalid_request_error',
    ],
    [
      'unsupported media type',
      fastifyError('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415),
      415,
      'TILLPOINT_ERR_VALIDATION',
      'invalid_request_error',
    ],
    ['401', fastifyError('X', 401), 401, 'TILLPOINT_ERR_UNAUTHENTICATED', 'authentication_error'],
    ['403', fastifyError('X', 403), 403, 'TILLPOINT_ERR_FORBIDDEN', 'permission_error'],
    ['405 folds into 404', fastifyError('X', 405), 404, 'TILLPOINT_ERR_ROUTE_NOT_FOUND', 'not_found_error'],
    ['429', fastifyError('X', 429), 429, 'TILLPOINT_ERR_RATE_LIMITED', 'rate_limit_error'],
    ['503', fastifyError('X', 503), 503, 'TILLPOINT_ERR_UNAVAILABLE', 'unavailable_error'],
    ['a bug', new Error('secret internals'), 500, 'TILLPOINT_ERR_INTERNAL', 'api_error'],
    ['a thrown string', 'boom', 500, 'TILLPOINT_ERR_INTERNAL', 'api_error'],
  ];
  for (const [name, error, status, code, type] of rows) {
    it(name, () => {
      const outcome = httpFailureOf(error, options);
      assert.equal(outcome.status, status);
      assert.equal(outcome.body.error.code, code);
      assert.equal(outcome.body.error.type, type);
      assert.equal(outcome.severe, status >= 500);
    });
  }

  it('a bug gets the generic message, never its own', () => {
    const outcome = httpFailureOf(new Error('password=hunter2 at db.ts:12'), options);
    assert.equal(outcome.body.error.message, 'Internal error');
  });

  it("a plugin's 4xx message is not passed on, Fastify's is", () => {
    assert.equal(
      httpFailureOf(fastifyError('PLUGIN_X', 400, 'internal detail'), options).body.error.message,
      'The request is not valid',
    );
    assert.equal(
      httpFailureOf(fastifyError('FST_ERR_X', 400, 'Bad thing'), options).body.error.message,
      'Bad thing',
    );
  });

  it('names the first failing field and counts the others', () => {
    const error = Object.assign(new Error('validation'), {
      statusCode: 400,
      validationContext: 'body',
      validation: [
        { instancePath: '/postings/1/amount', keyword: 'too_small', message: 'Too small', params: {} },
        {
          instancePath: '/description',
          keyword: 'invalid_type',
          message: 'x',
          params: { received: 'undefined' },
        },
      ],
    });
    const outcome = httpFailureOf(error, options);
    assert.deepEqual(outcome.body.error, {
      type: 'invalid_request_error',
      code: 'TILLPOINT_ERR_VALIDATION',
      message: 'postings[1].amount: Too small (and 1 more problem)',
      param: 'postings[1].amount',
    });
  });
});
