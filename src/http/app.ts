import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import type { Audit } from '../audit/index.ts';
import type { Database } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';
import type { Logger } from '../shared/logger.ts';
import { AccessLog } from './access-log.ts';
import { createErrorHandler, handleNotFound } from './errors.ts';
import { serializerCompiler } from './json.ts';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id.ts';
import { auditRoutes } from './routes/audit.ts';
import { registerDocs } from './routes/docs.ts';
import { healthRoutes, type Readiness } from './routes/health.ts';
import { ledgerRoutes } from './routes/ledger.ts';

export interface HttpDeps {
  ledger: Ledger;
  audit: Audit;
  db: Database;
  /** The process logger (src/shared/logger.ts): Fastify logs through it, redaction included. */
  logger: Logger;
  /** Asked by GET /readyz; no answer within `readinessTimeoutMs` counts as not ready. */
  readiness: Readiness;
  /** Default READINESS_TIMEOUT_MS (5 s). */
  readinessTimeoutMs?: number;
  /** The version shown in the OpenAPI document. */
  version: string;
}

/** Largest request body accepted (413 above). */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * The HTTP API as a Fastify instance, not listening: the caller (src/main.ts) calls `listen`, and
 * `close` on shutdown. Routes live in encapsulated plugins, one per module; the error handler, the
 * not-found handler, the request id and the access log are set here for all of them.
 */
export function createHttpApp(deps: HttpDeps): FastifyInstance {
  const app = Fastify({
    // Typed as Fastify's base logger so the app is a plain FastifyInstance for plugins and callers.
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new AccessLog(),
    genReqId: requestIdOf,
    bodyLimit: BODY_LIMIT_BYTES,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(createErrorHandler({ bodyLimitBytes: BODY_LIMIT_BYTES }));
  app.setNotFoundHandler(handleNotFound);
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });

  registerDocs(app, { version: deps.version });
  app.register(healthRoutes, {
    readiness: deps.readiness,
    ...(deps.readinessTimeoutMs === undefined ? {} : { readinessTimeoutMs: deps.readinessTimeoutMs }),
  });
  // No authentication yet: /v1 will be guarded by an auth plugin registered here once users exist.
  app.register(ledgerRoutes, { prefix: '/v1/ledger', ledger: deps.ledger });
  app.register(auditRoutes, { prefix: '/v1/audit', audit: deps.audit, db: deps.db });
  return app;
}

export type HttpApp = FastifyInstance;
