import type { AnyMessage } from '../protocols/iso8583/index.ts';
import { text } from './fields.ts';

// The transactions of the terminal profile (terminal-protocol.md, "Transactions") as data: how a
// request is recognised (MTI, processing code, 25, 60.1, 60.3), which fields it must carry, and
// whether it is MAC'd. The pipeline reads this table; it holds no `if (mti === …)` of its own.

export type TransactionType =
  | 'sign_in'
  | 'sign_out'
  | 'echo'
  | 'parameters'
  | 'balance'
  | 'sale'
  | 'void'
  | 'refund'
  | 'preauth'
  | 'preauth_void'
  | 'completion'
  | 'completion_void'
  | 'reversal'
  | 'settlement'
  | 'upload_detail'
  | 'upload_end';

export interface TransactionDefinition {
  type: TransactionType;
  mti: string;
  processingCode?: string;
  conditionCode?: string;
  /** 60.1 */
  messageType?: string;
  /** 60.3 values that select this transaction. */
  networkCodes?: readonly string[];
  /** Fields the request must carry (beyond 11, 41, 42 and 60, which every request carries). */
  required: readonly number[];
  /** Field 64 on request and reply. */
  macd: boolean;
  /** Needs a current sign-in and the open batch in 60.2. */
  financial: boolean;
  /** A reversal can undo it. */
  reversible: boolean;
}

const CARD = [22] as const;

export const TRANSACTIONS: readonly TransactionDefinition[] = [
  {
    type: 'sign_in',
    mti: '0800',
    messageType: '00',
    networkCodes: ['001', '003', '004'],
    required: [],
    macd: false,
    financial: false,
    reversible: false,
  },
  {
    type: 'parameters',
    mti: '0800',
    messageType: '00',
    networkCodes: ['360'],
    required: [],
    macd: false,
    financial: false,
    reversible: false,
  },
  {
    type: 'sign_out',
    mti: '0820',
    messageType: '00',
    networkCodes: ['002'],
    required: [],
    macd: false,
    financial: false,
    reversible: false,
  },
  {
    type: 'echo',
    mti: '0820',
    messageType: '00',
    networkCodes: ['301'],
    required: [],
    macd: false,
    financial: false,
    reversible: false,
  },
  {
    type: 'balance',
    mti: '0200',
    processingCode: '310000',
    conditionCode: '00',
    messageType: '01',
    required: [3, 25, ...CARD, 49],
    macd: true,
    financial: true,
    reversible: false,
  },
  {
    type: 'sale',
    mti: '0200',
    processingCode: '000000',
    conditionCode: '00',
    messageType: '22',
    required: [3, 4, 25, ...CARD, 49],
    macd: true,
    financial: true,
    reversible: true,
  },
  {
    type: 'void',
    mti: '0200',
    processingCode: '200000',
    conditionCode: '00',
    messageType: '23',
    required: [3, 4, 25, ...CARD, 37, 49, 61],
    macd: true,
    financial: true,
    reversible: true,
  },
  {
    type: 'refund',
    mti: '0220',
    processingCode: '200000',
    conditionCode: '00',
    messageType: '25',
    required: [3, 4, 25, ...CARD, 37, 49, 61],
    macd: true,
    financial: true,
    reversible: false,
  },
  {
    type: 'preauth',
    mti: '0100',
    processingCode: '030000',
    conditionCode: '06',
    messageType: '10',
    required: [3, 4, 25, ...CARD, 49],
    macd: true,
    financial: true,
    reversible: true,
  },
  {
    type: 'preauth_void',
    mti: '0100',
    processingCode: '200000',
    conditionCode: '06',
    messageType: '11',
    required: [3, 4, 25, ...CARD, 49, 61],
    macd: true,
    financial: true,
    reversible: true,
  },
  {
    type: 'completion',
    mti: '0200',
    processingCode: '000000',
    conditionCode: '06',
    messageType: '20',
    required: [3, 4, 25, ...CARD, 49, 61],
    macd: true,
    financial: true,
    reversible: true,
  },
  {
    type: 'completion_void',
    mti: '0200',
    processingCode: '200000',
    conditionCode: '06',
    messageType: '21',
    required: [3, 4, 25, ...CARD, 37, 49, 61],
    macd: true,
    financial: true,
    reversible: true,
  },
  {
    type: 'settlement',
    mti: '0500',
    messageType: '00',
    networkCodes: ['201'],
    required: [48],
    macd: true,
    financial: false,
    reversible: false,
  },
  {
    type: 'upload_detail',
    mti: '0320',
    messageType: '00',
    networkCodes: ['201', '203'],
    required: [48],
    macd: true,
    financial: false,
    reversible: false,
  },
  {
    type: 'upload_end',
    mti: '0320',
    messageType: '00',
    networkCodes: ['202', '207'],
    required: [48],
    macd: true,
    financial: false,
    reversible: false,
  },
];

const REVERSAL: TransactionDefinition = {
  type: 'reversal',
  mti: '0400',
  required: [3, 25],
  macd: true,
  financial: true,
  reversible: false,
};

export const KNOWN_MTIS = new Set(['0100', '0200', '0220', '0320', '0400', '0500', '0800', '0820']);

export type Classification =
  | { kind: 'transaction'; definition: TransactionDefinition; original?: TransactionDefinition }
  | { kind: 'unsupported' } // an MTI this host does not take (40)
  | { kind: 'invalid' }; // a known MTI with fields that name no transaction (12)

function matches(definition: TransactionDefinition, message: AnyMessage, mti: string): boolean {
  if (definition.mti !== mti) return false;
  if (definition.processingCode !== undefined && text(message, 3) !== definition.processingCode) return false;
  if (definition.conditionCode !== undefined && text(message, 25) !== definition.conditionCode) return false;
  if (definition.messageType !== undefined && text(message, '60.1') !== definition.messageType) return false;
  if (
    definition.networkCodes !== undefined &&
    !definition.networkCodes.includes(text(message, '60.3') ?? '')
  ) {
    return false;
  }
  return true;
}

/** Recognises a request; a reversal also names the transaction it reverses (by its 3, 25 and 60.1). */
export function classify(message: AnyMessage): Classification {
  const mti = message.mti;
  if (!KNOWN_MTIS.has(mti)) return { kind: 'unsupported' };
  if (mti === '0400') {
    const original = TRANSACTIONS.find(
      (definition) => definition.reversible && matches(definition, message, definition.mti),
    );
    return original === undefined
      ? { kind: 'invalid' }
      : { kind: 'transaction', definition: REVERSAL, original };
  }
  const definition = TRANSACTIONS.find((candidate) => matches(candidate, message, mti));
  return definition === undefined ? { kind: 'invalid' } : { kind: 'transaction', definition };
}

/** The first required field the request lacks (a card needs 2 or 35), or undefined. */
export function missingField(definition: TransactionDefinition, message: AnyMessage): number | undefined {
  const has = (field: number) => text(message, field) !== undefined;
  for (const field of [11, 41, 42, 60]) if (!has(field)) return field;
  for (const field of definition.required) {
    if (field === 22) {
      if (!has(22)) return 22;
      if (!has(2) && !has(35)) return 2;
      continue;
    }
    if (!has(field)) return field;
  }
  if (definition.macd && !has(64)) return 64;
  return undefined;
}
