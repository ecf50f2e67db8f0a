import { after, before } from 'node:test';
import { createAudit } from '../audit/index.ts';
import { createTestDatabase, type TestDatabase } from '../db/testing.ts';
import type { ManualClock } from '../shared/clock.ts';
import { type EntryInput, Ledger } from './index.ts';

// What the ledger's tests share: a fresh database with a ledger and its accounts (a bank, the card
// network's receivable, a merchant's pending account, a wallet that may not go negative, fee
// revenue, a USD bank and a closed account), idempotency keys, a card sale, and a check of the error
// a promise rejects with, and the hooks that open and drop it around a file's tests.

export async function openTestLedger(clock: ManualClock): Promise<{ t: TestDatabase; ledger: Ledger }> {
  const t = await createTestDatabase();
  const ledger = new Ledger({ db: t.db, audit: createAudit({ clock }), clock, timeZone: 'Asia/Shanghai' });
  await ledger.openAccount({ code: 'bank', name: 'Bank', type: 'asset' });
  await ledger.openAccount({ code: 'network:receivable', name: 'Card network receivable', type: 'asset' });
  await ledger.openAccount({ code: 'merchant:m1:pending', name: 'Merchant pending', type: 'liability' });
  await ledger.openAccount({
    code: 'wallet:w1',
    name: 'Prepaid wallet',
    type: 'liability',
    noNegative: true,
  });
  await ledger.openAccount({ code: 'fees', name: 'Fee revenue', type: 'revenue' });
  await ledger.openAccount({ code: 'usd:bank', name: 'USD bank', type: 'asset', currency: 'USD' });
  await ledger.openAccount({ code: 'old', name: 'Closed account', type: 'asset' });
  await ledger.closeAccount('old');
  return { t, ledger };
}

let keySeq = 0;
export const key = () => `test-${++keySeq}`;

export function sale(amountMinor: bigint, idempotencyKey = key()): EntryInput {
  return {
    idempotencyKey,
    description: 'Card sale',
    postings: [
      { account: 'network:receivable', side: 'debit', amountMinor },
      { account: 'merchant:m1:pending', side: 'credit', amountMinor },
    ],
  };
}

export { rejects } from '../shared/testing.ts';

/** Opens a test ledger before a file's tests (handing it to `opened`) and drops its database after them. */
export function useTestLedger(
  clock: ManualClock,
  opened: (test: { t: TestDatabase; ledger: Ledger }) => void,
): void {
  let database: TestDatabase | undefined;
  before(async () => {
    const test = await openTestLedger(clock);
    database = test.t;
    opened(test);
  });
  after(async () => {
    await database?.drop();
  });
}
