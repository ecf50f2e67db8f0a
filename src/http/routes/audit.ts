import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Audit, AuditLine } from '../../audit/index.ts';
import type { Database } from '../../db/index.ts';
import { digitsCursor, errorResponses, limit, listOf, objectRef, refOf, timestamp } from '../schemas.ts';

// Read-only view of the audit log for support. No authentication yet: when users exist this route will
// be guarded (acquirer staff with an audit role); until then keep the API on the operator's network.

export interface AuditRoutesOptions {
  audit: Audit;
  db: Database;
}

const auditLineSchema = z.object({
  seq: z.bigint().meta({
    type: 'integer',
    format: 'int64',
    description: 'Line number, 1, 2, 3 … without gaps; the cursor of the list',
  }),
  id: z.string(),
  occurred_at: timestamp,
  actor: objectRef.meta({ description: 'Who: user, operator, terminal or system, and its id' }),
  event: z.string().meta({ description: 'module.object.verb, e.g. ledger.account.opened' }),
  object: objectRef.nullable(),
  source: z.string().nullable().meta({ description: 'Where from: an IP address, a terminal id, cli' }),
  outcome: z.enum(['success', 'failure', 'denied']),
  details: z.record(z.string(), z.unknown()),
  prev_hash: z.string(),
  hash: z.string(),
});

function toAuditLineJson(line: AuditLine) {
  return {
    seq: line.seq,
    id: line.id,
    occurred_at: line.occurredAt.toISOString(),
    actor: { type: line.actorType, id: line.actorId },
    event: line.event,
    object: refOf(line.objectType, line.objectId),
    source: line.source,
    outcome: line.outcome,
    details: line.details,
    prev_hash: line.prevHash,
    hash: line.hash,
  };
}

export const auditRoutes: FastifyPluginAsyncZod<AuditRoutesOptions> = async (app, { audit, db }) => {
  app.get(
    '/lines',
    {
      schema: {
        tags: ['audit'],
        summary: 'List audit lines',
        description:
          'Most recent first; starting_after is the seq of the last line of the previous page. Filter by the object a line is about with object_type, object_id.',
        querystring: z.strictObject({
          limit,
          starting_after: digitsCursor('seq').optional(),
          object_type: z.string().min(1).max(100).optional(),
          object_id: z.string().min(1).max(200).optional(),
        }),
        response: { 200: listOf(auditLineSchema), ...errorResponses(400) },
      },
    },
    async (request) => {
      const { limit, starting_after, object_type, object_id } = request.query;
      const page = await audit.list(db, {
        limit,
        ...(starting_after === undefined ? {} : { startingAfter: starting_after }),
        ...(object_type === undefined ? {} : { objectType: object_type }),
        ...(object_id === undefined ? {} : { objectId: object_id }),
      });
      return { data: page.data.map(toAuditLineJson), has_more: page.hasMore };
    },
  );
};
