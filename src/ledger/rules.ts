import { hash } from 'node:crypto';
import { isIsoDate } from '../shared/clock.ts';
import { TillpointError } from '../shared/errors.ts';
import { MAX_AMOUNT_MINOR } from '../shared/money.ts';
import type { EntryKind, PostingInput, Side } from './types.ts';

// Pure rules of an entry, checked before anything reaches the database (which checks them again).

export interface AccountRef {
  id: string;
  code: string;
  currency: string;
}

export interface ResolvedPosting {
  account: AccountRef;
  side: Side;
  amountMinor: bigint;
}

const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;
const CODE_PATTERN = /^[a-z0-9][a-z0-9:._-]{0,199}$/;

export function checkIdempotencyKey(key: string, param = 'idempotencyKey'): void {
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
    throw new TillpointError(
      'TILLPOINT_ERR_VALIDATION',
      `${param} must be 1 to 200 printable ASCII characters without spaces`,
      { param },
    );
  }
}

export function checkAccountCode(code: string, param = 'code'): void {
  if (typeof code !== 'string' || !CODE_PATTERN.test(code)) {
    throw new TillpointError(
      'TILLPOINT_ERR_VALIDATION',
      `${param} ${JSON.stringify(code)} is not a valid account code: use lower-case letters, digits and ":._-", starting with a letter or digit, at most 200 characters`,
      { param },
    );
  }
}

export function checkBusinessDate(date: string, param = 'businessDate'): void {
  if (!isIsoDate(date)) {
    throw new TillpointError('TILLPOINT_ERR_VALIDATION', `${param} must be a date written YYYY-MM-DD`, {
      param,
    });
  }
}

export function checkDescription(description: string, param = 'description'): void {
  if (typeof description !== 'string' || description.length === 0 || description.length > 500) {
    throw new TillpointError('TILLPOINT_ERR_VALIDATION', `${param} must be 1 to 500 characters`, { param });
  }
}

/** Structure of a posting list: amounts in range, a currency that matches, at least two, balanced. */
export function checkPostings(
  postings: readonly PostingInput[],
  accounts: readonly AccountRef[],
  { minimum = 2 }: { minimum?: number } = {},
): ResolvedPosting[] {
  if (!Array.isArray(postings) || postings.length < minimum) {
    throw new TillpointError(
      'TILLPOINT_ERR_ENTRY_TOO_FEW_POSTINGS',
      `An entry needs at least ${minimum} postings; got ${Array.isArray(postings) ? postings.length : 0}`,
      { param: 'postings' },
    );
  }
  const sums = new Map<string, bigint>();
  const resolved = postings.map((posting, i): ResolvedPosting => {
    const account = accounts[i]!;
    const param = `postings[${i}]`;
    if (posting.side !== 'debit' && posting.side !== 'credit') {
      throw new TillpointError('TILLPOINT_ERR_VALIDATION', `${param}.side must be "debit" or "credit"`, {
        param: `${param}.side`,
      });
    }
    const amount = posting.amountMinor;
    if (typeof amount !== 'bigint' || amount <= 0n || amount > MAX_AMOUNT_MINOR) {
      throw new TillpointError(
        'TILLPOINT_ERR_AMOUNT_INVALID',
        `${param}.amountMinor must be an integer of minor units from 1 to ${MAX_AMOUNT_MINOR}`,
        { param: `${param}.amountMinor` },
      );
    }
    if (posting.currency !== undefined && posting.currency !== account.currency) {
      throw new TillpointError(
        'TILLPOINT_ERR_CURRENCY_MISMATCH',
        `${param} is in ${posting.currency} but account ${account.code} is in ${account.currency}`,
        { param: `${param}.currency` },
      );
    }
    const signed = posting.side === 'debit' ? amount : -amount;
    sums.set(account.currency, (sums.get(account.currency) ?? 0n) + signed);
    return { account, side: posting.side, amountMinor: amount };
  });
  for (const [currency, sum] of sums) {
    if (sum !== 0n) {
      throw new TillpointError(
        'TILLPOINT_ERR_ENTRY_UNBALANCED',
        `The entry does not balance in ${currency}: debits exceed credits by ${sum} minor units${sum < 0n ? ' (negative: credits exceed debits)' : ''}`,
        { param: 'postings' },
      );
    }
  }
  return resolved;
}

/** What an entry asks for, as a hash: a reused idempotency key must ask for the same. */
export function requestHash(request: {
  kind: EntryKind;
  pendingEntryId?: string | null;
  reversesEntryId?: string | null;
  postings: readonly ResolvedPosting[];
}): string {
  let text = `${request.kind}|${request.pendingEntryId ?? ''}|${request.reversesEntryId ?? ''}`;
  for (const posting of request.postings)
    text += `|${posting.account.code}:${posting.side}:${posting.amountMinor}`;
  return hash('sha256', text, 'hex');
}

export function swapSide(side: Side): Side {
  return side === 'debit' ? 'credit' : 'debit';
}

/** The normal side of an account type: assets and expenses grow with debits, the others with credits. */
export function normalSideOf(type: string): Side {
  return type === 'asset' || type === 'expense' ? 'debit' : 'credit';
}
