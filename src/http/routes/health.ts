import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { TillpointError } from '../../shared/errors.ts';
import { errorResponses } from '../schemas.ts';

// Probes for the orchestrator: /healthz says the process answers (no database call), /readyz asks the
// composition root's readiness function (database reachable, migrations applied, …).

export interface ReadinessCheck {
  ok: boolean;
  detail?: string;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, ReadinessCheck>;
}

export type Readiness = () => Promise<ReadinessReport>;

/** A readiness function that has not answered by then counts as not ready: a probe must not hang. */
export const READINESS_TIMEOUT_MS = 5_000;

export interface HealthRoutesOptions {
  readiness: Readiness;
  readinessTimeoutMs?: number;
}

const checkSchema = z.object({ ok: z.boolean(), detail: z.string().optional() });

async function askReadiness(readiness: Readiness, timeoutMs: number): Promise<ReadinessReport> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ReadinessReport>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          ready: false,
          checks: { readiness: { ok: false, detail: `no answer in ${timeoutMs} ms` } },
        }),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([readiness(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (app, options) => {
  const timeoutMs = options.readinessTimeoutMs ?? READINESS_TIMEOUT_MS;

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness: the process is up',
        description: 'Answers without touching the database.',
        response: { 200: z.object({ status: z.literal('ok') }), ...errorResponses() },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'no-store');
      return { status: 'ok' as const };
    },
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness: the service can take traffic',
        description:
          'Runs the readiness checks (database, migrations …). 503 TILLPOINT_ERR_UNAVAILABLE names the failing checks.',
        response: {
          200: z.object({ status: z.literal('ready'), checks: z.record(z.string(), checkSchema) }),
          ...errorResponses(503),
        },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      let report: ReadinessReport;
      try {
        report = await askReadiness(options.readiness, timeoutMs);
      } catch (error) {
        request.log.error({ err: error }, 'readiness function failed');
        report = {
          ready: false,
          checks: { readiness: { ok: false, detail: 'the readiness function failed' } },
        };
      }
      if (report.ready) return { status: 'ready' as const, checks: report.checks };
      const failing = Object.entries(report.checks).filter(([, check]) => !check.ok);
      request.log.warn({ checks: report.checks }, 'not ready');
      const names = failing.length > 0 ? failing.map(([name]) => name).join(', ') : 'unknown';
      // Details stay in the log: they may name hosts and paths.
      throw new TillpointError(
        'TILLPOINT_ERR_UNAVAILABLE',
        `The service is not ready: failing checks: ${names}`,
      );
    },
  );
};
