import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BODY_LIMIT_BYTES } from './app.ts';
import { createTestApp, type TestApp } from './testing.ts';

let t: TestApp;

before(async () => {
  t = await createTestApp();
  // Test-only routes: there is no write endpoint yet to send bodies to, and no route that fails.
  const app = t.app.withTypeProvider<ZodTypeProvider>();
  app.post(
    '/test/entries',
    {
      schema: {
        body: z.object({
          description: z.string(),
          postings: z
            .array(z.object({ account: z.string(), amount_minor: z.number().int().positive() }))
            .min(2),
        }),
      },
    },
    async (request) => ({ postings: request.body.postings.length }),
  );
  app.get('/test/boom', async () => {
    throw new Error('secret internals: password=hunter2');
  });
});

after(async () => {
  await t.close();
});

type ErrorJson = { error: { type: string; code: string; message: string; param?: string } };

function errorOf(response: { json(): unknown }): ErrorJson['error'] {
  const body = response.json() as ErrorJson;
  assert.deepEqual(Object.keys(body), ['error'], 'the one error shape');
  return body.error;
}

describe('probes', () => {
  it('GET /healthz answers ok', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { status: 'ok' });
  });

  it('GET /readyz answers ready with the checks', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { status: 'ready', checks: { database: { ok: true } } });
  });

  it('GET /readyz answers 503 naming the failing checks, not their details', async () => {
    const other = await createTestApp({
      readiness: async () => ({
        ready: false,
        checks: {
          database: { ok: true },
          migrations: { ok: false, detail: '2 pending at postgres://db.internal/tillpoint' },
        },
      }),
    });
    try {
      const response = await other.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(response.statusCode, 503);
      const error = errorOf(response);
      assert.equal(error.code, 'TILLPOINT_ERR_UNAVAILABLE');
      assert.equal(error.type, 'unavailable_error');
      assert.match(error.message, /migrations/);
      assert.doesNotMatch(error.message, /database|db\.internal/);
    } finally {
      await other.close();
    }
  });

  it('GET /readyz answers 503 when the readiness function throws or hangs', async () => {
    const throwing = await createTestApp({
      readiness: async () => {
        throw new Error('connection refused');
      },
    });
    const hanging = await createTestApp({ readiness: () => new Promise(() => {}), readinessTimeoutMs: 50 });
    try {
      for (const app of [throwing.app, hanging.app]) {
        const response = await app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(response.statusCode, 503);
        const error = errorOf(response);
        assert.equal(error.code, 'TILLPOINT_ERR_UNAVAILABLE');
        assert.match(error.message, /readiness/);
        assert.doesNotMatch(error.message, /refused/);
      }
    } finally {
      await throwing.close();
      await hanging.close();
    }
  });
});

describe('docs', () => {
  it('GET /openapi.json is OpenAPI 3.1 and lists the ledger and audit paths', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(response.statusCode, 200);
    const doc = response.json() as {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<string, Record<string, { summary?: string; tags?: string[]; responses?: unknown }>>;
    };
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.info.title, 'Tillpoint');
    assert.equal(doc.info.version, '0.0.0-test');
    const expected = [
      '/healthz',
      '/readyz',
      '/v1/ledger/accounts',
      '/v1/ledger/accounts/{code}',
      '/v1/ledger/accounts/{code}/balance',
      '/v1/ledger/accounts/{code}/history',
      '/v1/ledger/entries/{id}',
      '/v1/ledger/trial-balance',
      '/v1/audit/lines',
    ];
    for (const path of expected) {
      const get = doc.paths[path]?.['get'];
      assert.ok(get, `${path} is documented`);
      assert.ok(get.summary, `${path} has a summary`);
      assert.ok(get.tags?.length, `${path} has tags`);
    }
    for (const path of Object.keys(doc.paths)) {
      assert.ok(!path.startsWith('/docs') && path !== '/openapi.json' && !path.startsWith('/test/'), path);
    }
    // Amounts are documented as integers.
    const balance = JSON.stringify(doc.paths['/v1/ledger/accounts/{code}/balance']);
    assert.match(balance, /"posted_minor":\{"type":"integer","format":"int64"/);
  });

  it('GET /docs answers the HTML page', async () => {
    for (const url of ['/docs', '/docs/']) {
      const response = await t.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 200, url);
      assert.match(String(response.headers['content-type']), /^text\/html/);
      assert.match(response.body, /swagger/i);
    }
  });
});

describe('errors', () => {
  it('an unknown route is 404 TILLPOINT_ERR_ROUTE_NOT_FOUND', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/v1/nothing?x=1' });
    assert.equal(response.statusCode, 404);
    assert.deepEqual(errorOf(response), {
      type: 'not_found_error',
      code: 'TILLPOINT_ERR_ROUTE_NOT_FOUND',
      message: 'No route GET /v1/nothing',
    });
  });

  it('a known path with another method is 404 too', async () => {
    const response = await t.app.inject({ method: 'DELETE', url: '/healthz' });
    assert.equal(response.statusCode, 404);
    assert.equal(errorOf(response).code, 'TILLPOINT_ERR_ROUTE_NOT_FOUND');
  });

  const malformed: Array<[string, string]> = [
    ['truncated JSON', '{"description": "x", "postings": ['],
    ['not JSON at all', 'description=x'],
    ['an empty body', ''],
    ['prototype poisoning', '{"__proto__": {"admin": true}}'],
  ];
  for (const [name, payload] of malformed) {
    it(`${name} is 400 TILLPOINT_ERR_MALFORMED_JSON`, async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: '/test/entries',
        headers: { 'content-type': 'application/json' },
        payload,
      });
      assert.equal(response.statusCode, 400);
      const error = errorOf(response);
      assert.equal(error.code, 'TILLPOINT_ERR_MALFORMED_JSON');
      assert.equal(error.type, 'invalid_request_error');
    });
  }

  it('a schema violation is 400 naming the field path', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/test/entries',
      payload: {
        description: 'sale',
        postings: [
          { account: 'a', amount_minor: 100 },
          { account: 'b', amount_minor: -100 },
        ],
      },
    });
    assert.equal(response.statusCode, 400);
    const error = errorOf(response);
    assert.equal(error.code, 'TILLPOINT_ERR_VALIDATION');
    assert.equal(error.param, 'postings[1].amount_minor');
    assert.match(error.message, /^postings\[1\]\.amount_minor: /);
  });

  it('a missing field is named as required', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/test/entries',
      payload: { postings: [] },
    });
    assert.equal(response.statusCode, 400);
    const error = errorOf(response);
    assert.equal(error.param, 'description');
    assert.match(error.message, /^description: is required/);
  });

  it('a valid body passes', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/test/entries',
      payload: {
        description: 'sale',
        postings: [
          { account: 'a', amount_minor: 100 },
          { account: 'b', amount_minor: 100 },
        ],
      },
    });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), { postings: 2 });
  });

  it('an unsupported content type is 415 TILLPOINT_ERR_VALIDATION', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/test/entries',
      headers: { 'content-type': 'application/xml' },
      payload: '<entry/>',
    });
    assert.equal(response.statusCode, 415);
    const error = errorOf(response);
    assert.equal(error.code, 'TILLPOINT_ERR_VALIDATION');
    assert.equal(error.type, 'invalid_request_error');
  });

  it('a body above the limit is 413 TILLPOINT_ERR_VALIDATION', async () => {
    const response = await t.app.inject({
      method: 'POST',
      url: '/test/entries',
      headers: { 'content-type': 'application/json' },
      payload: `{"description": "${'x'.repeat(BODY_LIMIT_BYTES)}"}`,
    });
    assert.equal(response.statusCode, 413);
    const error = errorOf(response);
    assert.equal(error.code, 'TILLPOINT_ERR_VALIDATION');
    assert.match(error.message, /limit/);
  });

  it('a bug is 500 TILLPOINT_ERR_INTERNAL with a generic message; the log has it with the request id', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/test/boom',
      headers: { 'x-request-id': 'boom-1' },
    });
    assert.equal(response.statusCode, 500);
    assert.deepEqual(errorOf(response), {
      type: 'api_error',
      code: 'TILLPOINT_ERR_INTERNAL',
      message: 'Internal error',
    });
    assert.doesNotMatch(response.body, /secret|hunter2|at /);
    const logged = t.logs.find((line) => line['request_id'] === 'boom-1' && line['level'] === 'error');
    assert.ok(logged, 'the error is logged with the request id');
    assert.match(JSON.stringify(logged['err']), /secret internals/);
  });
});

describe('request ids', () => {
  it('echoes a sane x-request-id', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'lb-7f3a.Z_9' },
    });
    assert.equal(response.headers['x-request-id'], 'lb-7f3a.Z_9');
  });

  it('generates one when none is given or the given one is not sane', async () => {
    const ids = new Set<string>();
    for (const given of [undefined, 'has space', 'x'.repeat(65), 'semi;colon', '']) {
      const response = await t.app.inject({
        method: 'GET',
        url: '/healthz',
        headers: given === undefined ? {} : { 'x-request-id': given },
      });
      const id = String(response.headers['x-request-id']);
      assert.match(id, /^req_[0-9a-f]{32}$/);
      ids.add(id);
    }
    assert.equal(ids.size, 5);
  });

  it('is on error responses too', async () => {
    const response = await t.app.inject({
      method: 'GET',
      url: '/nowhere',
      headers: { 'x-request-id': 'err-42' },
    });
    assert.equal(response.statusCode, 404);
    assert.equal(response.headers['x-request-id'], 'err-42');
  });

  it('logs one access line per request, with the request id', async () => {
    await t.app.inject({ method: 'GET', url: '/v1/nope', headers: { 'x-request-id': 'access-1' } });
    const lines = t.logs.filter((line) => line['request_id'] === 'access-1');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!['msg'], 'request');
    assert.equal(lines[0]!['status'], 404);
    assert.equal(lines[0]!['code'], 'TILLPOINT_ERR_ROUTE_NOT_FOUND');
    assert.equal(lines[0]!['method'], 'GET');
    assert.equal(lines[0]!['level'], 'info');
  });

  it('logs a successful probe at debug level', async () => {
    await t.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'probe-1' } });
    const lines = t.logs.filter((line) => line['request_id'] === 'probe-1');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!['level'], 'debug');
  });
});
