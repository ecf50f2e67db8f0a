// The HTTP edge: a Fastify app over the domain modules, with OpenAPI docs and one error shape.
export { BODY_LIMIT_BYTES, createHttpApp, type HttpApp, type HttpDeps } from './app.ts';
export { REQUEST_ID_HEADER } from './request-id.ts';
export {
  READINESS_TIMEOUT_MS,
  type Readiness,
  type ReadinessCheck,
  type ReadinessReport,
} from './routes/health.ts';
