import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Account, Balance, Entry, HistoryLine, Ledger, TrialBalance } from '../../ledger/index.ts';
import { ACCOUNT_TYPES } from '../../ledger/index.ts';
import {
  amountMinor,
  businessDate,
  digitsCursor,
  errorResponses,
  limit,
  listOf,
  objectRef,
  refOf,
  timestamp,
} from '../schemas.ts';

// Read-only ledger endpoints under /v1/ledger. Thin: validate, call the Ledger service, map to the wire.
// No authentication yet: when users exist these routes will be guarded (staff of the acquirer only),
// and until then the API must not be exposed beyond the operator's own network.

export interface LedgerRoutesOptions {
  ledger: Ledger;
}

const TAGS = ['ledger'];

const sideSchema = z.enum(['debit', 'credit']);
const entryKindSchema = z.enum(['posted', 'pending', 'post_pending', 'void_pending', 'expire_pending']);

const accountSchema = z.object({
  id: z.string(),
  code: z.string(),
  name: z.string(),
  type: z.enum(ACCOUNT_TYPES),
  currency: z.string().meta({ description: 'ISO 4217 code' }),
  owner: objectRef.nullable().meta({ description: 'Who the account belongs to, e.g. a merchant' }),
  status: z.enum(['open', 'closed']),
  no_negative: z.boolean().meta({ description: 'The available balance may not drop below zero' }),
  created_at: timestamp,
  closed_at: timestamp.nullable(),
});

const balanceSchema = z.object({
  account_code: z.string(),
  currency: z.string(),
  as_of: businessDate
    .nullable()
    .meta({ description: 'Set for a balance as of the end of a past business date (posted amounts only)' }),
  posted_minor: amountMinor.meta({
    description: "Posted balance on the account's normal side (debits − credits for assets and expenses)",
  }),
  available_minor: amountMinor.meta({ description: 'Posted balance less what pending entries reserve' }),
  posted: z.object({ debits_minor: amountMinor, credits_minor: amountMinor }),
  pending: z
    .object({ debits_minor: amountMinor, credits_minor: amountMinor })
    .meta({ description: 'Amounts of pending (two-phase) entries not yet posted, voided or expired' }),
});

const postingSchema = z.object({
  account_code: z.string(),
  currency: z.string(),
  side: sideSchema,
  amount_minor: amountMinor,
  pending: z.boolean(),
});

const entrySchema = z.object({
  id: z.string(),
  idempotency_key: z.string(),
  kind: entryKindSchema,
  business_date: businessDate,
  description: z.string(),
  reference: objectRef.nullable().meta({ description: 'The business object the entry belongs to' }),
  pending_entry_id: z.string().nullable(),
  reverses_entry_id: z.string().nullable(),
  expires_at: timestamp.nullable(),
  created_at: timestamp,
  postings: z.array(postingSchema),
});

const historyLineSchema = z.object({
  posting_id: z.string().meta({ description: 'Digits; the cursor of the history list' }),
  entry_id: z.string(),
  kind: entryKindSchema,
  side: sideSchema,
  amount_minor: amountMinor,
  pending: z.boolean(),
  business_date: businessDate,
  description: z.string(),
  reference: objectRef.nullable(),
  created_at: timestamp,
});

const trialBalanceSchema = z.object({
  as_of: businessDate.nullable(),
  accounts: z.array(
    z.object({
      code: z.string(),
      name: z.string(),
      type: z.enum(ACCOUNT_TYPES),
      currency: z.string(),
      debit_minor: amountMinor,
      credit_minor: amountMinor,
    }),
  ),
  totals: z.array(
    z.object({
      currency: z.string(),
      debit_minor: amountMinor,
      credit_minor: amountMinor,
      difference_minor: amountMinor.meta({ description: 'Zero in a sound ledger' }),
    }),
  ),
});

const codeParams = z.object({ code: z.string().min(1).max(200).meta({ description: 'Account code' }) });
const asOfQuery = z.strictObject({
  as_of: businessDate
    .optional()
    .meta({ description: 'End of this business date (YYYY-MM-DD); default: now, with pending amounts' }),
});

// Map: domain value → wire value. No rule lives here, only names and formats.

function toAccountJson(account: Account) {
  return {
    id: account.id,
    code: account.code,
    name: account.name,
    type: account.type,
    currency: account.currency,
    owner: refOf(account.ownerType, account.ownerId),
    status: account.status,
    no_negative: account.noNegative,
    created_at: account.createdAt.toISOString(),
    closed_at: account.closedAt?.toISOString() ?? null,
  };
}

function toBalanceJson(balance: Balance) {
  return {
    account_code: balance.account.code,
    currency: balance.account.currency,
    as_of: balance.asOf,
    posted_minor: balance.postedMinor,
    available_minor: balance.availableMinor,
    posted: { debits_minor: balance.debitsPostedMinor, credits_minor: balance.creditsPostedMinor },
    pending: { debits_minor: balance.debitsPendingMinor, credits_minor: balance.creditsPendingMinor },
  };
}

function toEntryJson(entry: Entry) {
  return {
    id: entry.id,
    idempotency_key: entry.idempotencyKey,
    kind: entry.kind,
    business_date: entry.businessDate,
    description: entry.description,
    reference: refOf(entry.referenceType, entry.referenceId),
    pending_entry_id: entry.pendingEntryId,
    reverses_entry_id: entry.reversesEntryId,
    expires_at: entry.expiresAt?.toISOString() ?? null,
    created_at: entry.createdAt.toISOString(),
    postings: entry.postings.map((posting) => ({
      account_code: posting.accountCode,
      currency: posting.currency,
      side: posting.side,
      amount_minor: posting.amountMinor,
      pending: posting.pending,
    })),
  };
}

function toHistoryLineJson(line: HistoryLine) {
  return {
    posting_id: line.postingId.toString(),
    entry_id: line.entryId,
    kind: line.kind,
    side: line.side,
    amount_minor: line.amountMinor,
    pending: line.pending,
    business_date: line.businessDate,
    description: line.description,
    reference: refOf(line.referenceType, line.referenceId),
    created_at: line.createdAt.toISOString(),
  };
}

function toTrialBalanceJson(trial: TrialBalance) {
  return {
    as_of: trial.asOf,
    accounts: trial.accounts.map((line) => ({
      code: line.code,
      name: line.name,
      type: line.type,
      currency: line.currency,
      debit_minor: line.debitMinor,
      credit_minor: line.creditMinor,
    })),
    totals: trial.totals.map((total) => ({
      currency: total.currency,
      debit_minor: total.debitMinor,
      credit_minor: total.creditMinor,
      difference_minor: total.differenceMinor,
    })),
  };
}

export const ledgerRoutes: FastifyPluginAsyncZod<LedgerRoutesOptions> = async (app, { ledger }) => {
  app.get(
    '/accounts',
    {
      schema: {
        tags: TAGS,
        summary: 'List ledger accounts',
        description: 'Ordered by code. Filter by owner with owner_type and owner_id together.',
        querystring: z
          .strictObject({
            limit,
            starting_after: z
              .string()
              .min(1)
              .max(200)
              .optional()
              .meta({ description: 'Cursor: the code of the last account of the previous page' }),
            owner_type: z.string().min(1).max(100).optional(),
            owner_id: z.string().min(1).max(200).optional(),
          })
          .superRefine((query, ctx) => {
            if ((query.owner_type === undefined) !== (query.owner_id === undefined)) {
              const missing = query.owner_type === undefined ? 'owner_type' : 'owner_id';
              ctx.addIssue({
                code: 'custom',
                path: [missing],
                message: 'owner_type and owner_id go together',
              });
            }
          }),
        response: { 200: listOf(accountSchema), ...errorResponses(400) },
      },
    },
    async (request) => {
      const { limit, starting_after, owner_type, owner_id } = request.query;
      const page = await ledger.listAccounts({
        limit,
        ...(starting_after === undefined ? {} : { startingAfter: starting_after }),
        ...(owner_type === undefined || owner_id === undefined
          ? {}
          : { owner: { type: owner_type, id: owner_id } }),
      });
      return { data: page.data.map(toAccountJson), has_more: page.hasMore };
    },
  );

  app.get(
    '/accounts/:code',
    {
      schema: {
        tags: TAGS,
        summary: 'Get a ledger account',
        params: codeParams,
        response: { 200: accountSchema, ...errorResponses(400, 404) },
      },
    },
    async (request) => toAccountJson(await ledger.getAccount(request.params.code)),
  );

  app.get(
    '/accounts/:code/balance',
    {
      schema: {
        tags: TAGS,
        summary: "Get an account's balance",
        description:
          'Now (posted, pending and available), or as of the end of a business date (posted amounts only).',
        params: codeParams,
        querystring: asOfQuery,
        response: { 200: balanceSchema, ...errorResponses(400, 404) },
      },
    },
    async (request) => {
      const { as_of } = request.query;
      const balance = await ledger.balance(request.params.code, as_of === undefined ? {} : { asOf: as_of });
      return toBalanceJson(balance);
    },
  );

  app.get(
    '/accounts/:code/history',
    {
      schema: {
        tags: TAGS,
        summary: "List an account's postings",
        description: 'Newest first; starting_after is the posting_id of the last line of the previous page.',
        params: codeParams,
        querystring: z.strictObject({ limit, starting_after: digitsCursor('posting_id').optional() }),
        response: { 200: listOf(historyLineSchema), ...errorResponses(400, 404) },
      },
    },
    async (request) => {
      const { limit, starting_after } = request.query;
      const page = await ledger.history(request.params.code, {
        limit,
        ...(starting_after === undefined ? {} : { startingAfter: starting_after }),
      });
      return { data: page.data.map(toHistoryLineJson), has_more: page.hasMore };
    },
  );

  app.get(
    '/entries/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Get a journal entry with its postings',
        params: z.object({ id: z.string().min(1).max(100).meta({ description: 'Entry id (UUID)' }) }),
        response: { 200: entrySchema, ...errorResponses(400, 404) },
      },
    },
    async (request) => toEntryJson(await ledger.getEntry(request.params.id)),
  );

  app.get(
    '/trial-balance',
    {
      schema: {
        tags: TAGS,
        summary: 'Trial balance',
        description: "Every account's posted debit or credit balance, and per currency the totals.",
        querystring: asOfQuery,
        response: { 200: trialBalanceSchema, ...errorResponses(400) },
      },
    },
    async (request) => {
      const { as_of } = request.query;
      return toTrialBalanceJson(await ledger.trialBalance(as_of === undefined ? {} : { asOf: as_of }));
    },
  );
};
