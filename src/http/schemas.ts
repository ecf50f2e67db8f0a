import { z } from 'zod';

// Wire schemas shared by the routes: JSON fields are snake_case, amounts are integers of minor units
// (`*_minor`), timestamps ISO 8601 in UTC, business dates YYYY-MM-DD. Lists are cursor-paginated.

/** An amount of minor units (fen for CNY), written as an exact JSON integer whatever its size. */
export const amountMinor = z.bigint().meta({
  type: 'integer',
  format: 'int64',
  description: 'Minor units of the currency (fen for CNY), as an exact JSON integer',
});

export const timestamp = z.iso.datetime().meta({ description: 'ISO 8601 instant in UTC' });

export const businessDate = z.iso.date().meta({
  description: "Business date (YYYY-MM-DD) in the institution's time zone",
});

/** The one error shape of every failure: `{"error": {"type", "code", "message", "param"?}}`. */
export const errorBody = z
  .object({
    error: z.object({
      type: z.string().meta({ description: 'Class of error, e.g. invalid_request_error, not_found_error' }),
      code: z
        .string()
        .meta({ description: 'Stable code from the Tillpoint error catalog (TILLPOINT_ERR_…)' }),
      message: z.string().meta({ description: 'What is wrong, for a person' }),
      param: z
        .string()
        .optional()
        .meta({ description: 'The input at fault: a JSON path (postings[1].amount) or query.<name>' }),
    }),
  })
  .meta({ description: 'Error' });

export type ErrorBody = z.output<typeof errorBody>;

/** Error responses for a route's documentation; the 500 catch-all is always listed. */
export function errorResponses<S extends 400 | 404 | 503>(
  ...statuses: S[]
): Record<S | 500, typeof errorBody> {
  const out = {} as Record<S | 500, typeof errorBody>;
  for (const status of statuses) out[status] = errorBody;
  out[500] = errorBody;
  return out;
}

export const LIMIT_DEFAULT = 20;
export const LIMIT_MAX = 100;
const LIMIT_MESSAGE = `must be an integer from 1 to ${LIMIT_MAX}`;

/** `limit`: how many items a page holds. */
export const limit = z.coerce
  .number<string>({ error: LIMIT_MESSAGE })
  .int({ error: LIMIT_MESSAGE })
  .min(1, { error: LIMIT_MESSAGE })
  .max(LIMIT_MAX, { error: LIMIT_MESSAGE })
  .default(LIMIT_DEFAULT)
  .meta({ description: `Items per page, 1 to ${LIMIT_MAX} (default ${LIMIT_DEFAULT})` });

const INT8_MAX = 2n ** 63n - 1n;
const CURSOR_DIGITS = /^[1-9][0-9]{0,18}$/;

/** A cursor that is a positive 64-bit integer written as digits (a posting id, an audit seq). */
export function digitsCursor(what: string) {
  const message = `must be the ${what} of the last item of the previous page, a positive integer written as digits`;
  return (
    z
      .string()
      .regex(CURSOR_DIGITS, { error: message, abort: true })
      // Checked again here: zod runs every check, and BigInt('abc') would throw.
      .refine((text) => CURSOR_DIGITS.test(text) && BigInt(text) <= INT8_MAX, { error: message })
      .transform((text) => BigInt(text))
      .meta({ description: `Cursor: the ${what} of the last item of the previous page` })
  );
}

/** `{"data": [...], "has_more": bool}`. */
export function listOf<T extends z.ZodType>(item: T) {
  return z.object({
    data: z.array(item),
    has_more: z.boolean().meta({ description: 'True when another page follows the last item of this one' }),
  });
}

/** A reference to a business object (a payment, a refund) or to the actor of an audit line. */
export const objectRef = z.object({ type: z.string(), id: z.string() });

/** `{type, id}` when both are set, else null. */
export function refOf(type: string | null, id: string | null): { type: string; id: string } | null {
  return type === null || id === null ? null : { type, id };
}
