import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { errorCodeOf } from './errors.ts';

// Fastify writes two lines per request ("incoming request", "request completed"); Tillpoint writes one,
// after the response: method, url, status, duration, and the error code when it failed. Every line a
// request logs carries its `request_id`.

/** Probes hit every few seconds: their access lines go at debug level unless they fail. */
const PROBE_ROUTES = new Set(['/healthz', '/readyz']);

export class AccessLog extends LogController {
  constructor() {
    super({ requestIdLogLabel: 'request_id' });
  }

  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const status = reply.statusCode;
    const code = errorCodeOf(request);
    const line = {
      method: request.method,
      url: request.url,
      status,
      duration_ms: Math.round(reply.elapsedTime * 10) / 10,
      ...(code === undefined ? {} : { code }),
    };
    if (error) {
      // The response itself failed (the client went away mid-body, a stream broke).
      request.log.warn({ ...line, err: error }, 'request');
    } else if (status < 400 && PROBE_ROUTES.has(request.routeOptions.url ?? '')) {
      request.log.debug(line, 'request');
    } else {
      request.log.info(line, 'request');
    }
  }
}
