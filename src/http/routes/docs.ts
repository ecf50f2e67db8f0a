import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { createJsonSchemaTransform } from 'fastify-type-provider-zod';

// The OpenAPI 3.1 document, built from the routes' zod schemas, at GET /openapi.json, and the Swagger
// UI page at GET /docs. Registered before the routes so that it sees each of them being added.

export const DOCS_PREFIX = '/docs';
export const OPENAPI_PATH = '/openapi.json';

export interface DocsOptions {
  version: string;
}

/**
 * Registers the docs on the app itself (not in an encapsulated plugin): @fastify/swagger must see the
 * routes that the app's other plugins add. Call before registering them.
 */
export function registerDocs(app: FastifyInstance, options: DocsOptions): void {
  app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tillpoint',
        version: options.version,
        description:
          'POS payment acquiring: ledger, audit and (soon) merchants, terminals and payments. Amounts are JSON integers of minor units; every error is {"error": {"type", "code", "message", "param"?}}.',
      },
      tags: [
        { name: 'health', description: 'Liveness and readiness probes' },
        { name: 'ledger', description: 'Double-entry ledger: accounts, balances, entries (read-only)' },
        { name: 'audit', description: 'Append-only, hash-chained audit log (read-only)' },
      ],
    },
    transform: createJsonSchemaTransform({ skipList: [OPENAPI_PATH] }),
  });
  app.register(fastifySwaggerUi, { routePrefix: DOCS_PREFIX });
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());
}
