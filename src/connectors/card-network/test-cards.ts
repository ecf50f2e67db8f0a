// The test cards of docs/terminal-protocol.md ("Demo fixtures"), exactly. Test data only: these PANs
// exist in source so that anyone can run the demo; the simulator stores them only as keyed hashes.

export type SimCardKind = 'debit' | 'credit';
export type SimCardStatus = 'active' | 'lost' | 'stolen';
export type SimCardBehaviour = 'normal' | 'no_answer' | 'late_approval';

export const TEST_CARD_PIN = '123456';
export const TEST_CARD_EXPIRY = '3012';
/** Per-transaction limit of every card unless said: ¥100,000.00 (above: 61). */
export const DEFAULT_PER_TRANSACTION_LIMIT_MINOR = 10_000_000n;

export interface TestCard {
  pan: string;
  kind: SimCardKind;
  /** Debit: the balance; credit: the limit. */
  amountMinor: bigint;
  expiry: string;
  status: SimCardStatus;
  behaviour: SimCardBehaviour;
  /** What the card does, as the protocol page says it. */
  note: string;
}

export const TEST_CARDS: readonly TestCard[] = [
  {
    pan: '6222021000000013',
    kind: 'debit',
    amountMinor: 5_000_000n,
    expiry: TEST_CARD_EXPIRY,
    status: 'active',
    behaviour: 'normal',
    note: 'debit card, available balance ¥50,000.00: approves',
  },
  {
    pan: '6250001000000010',
    kind: 'credit',
    amountMinor: 10_000_000n,
    expiry: TEST_CARD_EXPIRY,
    status: 'active',
    behaviour: 'normal',
    note: 'credit card, limit ¥100,000.00: approves',
  },
  {
    pan: '6222021000000021',
    kind: 'debit',
    amountMinor: 1_000n,
    expiry: TEST_CARD_EXPIRY,
    status: 'active',
    behaviour: 'normal',
    note: 'debit card with ¥10.00: 51 above that',
  },
  {
    pan: '6222021000000039',
    kind: 'debit',
    amountMinor: 5_000_000n,
    expiry: '2001',
    status: 'active',
    behaviour: 'normal',
    note: 'expiry 2001: 54',
  },
  {
    pan: '6222021000000047',
    kind: 'debit',
    amountMinor: 5_000_000n,
    expiry: TEST_CARD_EXPIRY,
    status: 'lost',
    behaviour: 'normal',
    note: 'reported lost: 41',
  },
  {
    pan: '6222021000000054',
    kind: 'debit',
    amountMinor: 5_000_000n,
    expiry: TEST_CARD_EXPIRY,
    status: 'active',
    behaviour: 'no_answer',
    note: 'the network never answers: unknown/timeout at the caller’s timeout',
  },
  {
    pan: '6222021000000062',
    kind: 'debit',
    amountMinor: 5_000_000n,
    expiry: TEST_CARD_EXPIRY,
    status: 'active',
    behaviour: 'late_approval',
    note: 'approves after the caller’s timeout: unknown/timeout, then the debit lands',
  },
];
