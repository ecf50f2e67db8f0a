import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

// Request ids: a caller (a load balancer, a cash register) may send its own `x-request-id` so that its
// logs and ours join up. It is taken only when it is a sane token: it ends up in our logs and in a
// response header, so nothing long and nothing that could forge a log line or a header.

export const REQUEST_ID_HEADER = 'x-request-id';
const SANE_REQUEST_ID = /^[A-Za-z0-9_.-]{1,64}$/;

export function isSaneRequestId(value: unknown): value is string {
  return typeof value === 'string' && SANE_REQUEST_ID.test(value);
}

/** Fastify's `genReqId`: the caller's id when sane, else `req_` and 32 random hex digits. */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers[REQUEST_ID_HEADER];
  if (isSaneRequestId(given)) return given;
  return `req_${randomUUID().replaceAll('-', '')}`;
}
