import { DEMO_MERCHANTS } from '../demo/index.ts';

// The terminal profile's transactions as data (docs terminal-protocol.md, "Transactions"): what each
// one sends in MTI, 3, 25 and 60.1, what it carries of its original, and whether it is reversible.
// The message builders read this table; nothing else says which field a transaction has.

export type FinancialType =
  | 'balance'
  | 'sale'
  | 'void'
  | 'refund'
  | 'preauth'
  | 'preauth_void'
  | 'completion'
  | 'completion_void';

export type ManagementType = 'sign_in' | 'sign_out' | 'echo' | 'params' | 'settlement' | 'batch_upload';

export type TransactionType = FinancialType | ManagementType | 'reversal';

/** Which references of the original a transaction carries (37, 38, 61.1–61.3). */
export interface OriginalFields {
  readonly rrn: boolean; // 37
  readonly authCode: boolean; // 38
  readonly date: boolean; // 61.3
}

export interface FinancialProfile {
  readonly mti: string;
  readonly processingCode: string;
  readonly conditionCode: string;
  readonly messageTypeCode: string;
  readonly reversible: boolean;
  /** Field 4: balance inquiries have none. */
  readonly hasAmount: boolean;
  /** The original's references, or null for a transaction that stands alone. */
  readonly original: OriginalFields | null;
  /** The journal type of the original it refers to. */
  readonly originalType: FinancialType | null;
  /** 63 operator (refunds, as the golden refund frame shows). */
  readonly sendsOperator: boolean;
  readonly nameZh: string;
  readonly nameEn: string;
}

export const FINANCIAL: Readonly<Record<FinancialType, FinancialProfile>> = {
  balance: {
    mti: '0200',
    processingCode: '310000',
    conditionCode: '00',
    messageTypeCode: '01',
    reversible: false,
    hasAmount: false,
    original: null,
    originalType: null,
    sendsOperator: false,
    nameZh: '余额查询',
    nameEn: 'BALANCE INQUIRY',
  },
  sale: {
    mti: '0200',
    processingCode: '000000',
    conditionCode: '00',
    messageTypeCode: '22',
    reversible: true,
    hasAmount: true,
    original: null,
    originalType: null,
    sendsOperator: false,
    nameZh: '消费',
    nameEn: 'SALE',
  },
  void: {
    mti: '0200',
    processingCode: '200000',
    conditionCode: '00',
    messageTypeCode: '23',
    reversible: true,
    hasAmount: true,
    original: { rrn: true, authCode: true, date: false },
    originalType: 'sale',
    sendsOperator: false,
    nameZh: '消费撤销',
    nameEn: 'VOID',
  },
  refund: {
    mti: '0220',
    processingCode: '200000',
    conditionCode: '00',
    messageTypeCode: '25',
    reversible: false,
    hasAmount: true,
    original: { rrn: true, authCode: false, date: true },
    originalType: 'sale',
    sendsOperator: true,
    nameZh: '退货',
    nameEn: 'REFUND',
  },
  preauth: {
    mti: '0100',
    processingCode: '030000',
    conditionCode: '06',
    messageTypeCode: '10',
    reversible: true,
    hasAmount: true,
    original: null,
    originalType: null,
    sendsOperator: false,
    nameZh: '预授权',
    nameEn: 'PRE-AUTH',
  },
  preauth_void: {
    mti: '0100',
    processingCode: '200000',
    conditionCode: '06',
    messageTypeCode: '11',
    reversible: true,
    hasAmount: true,
    original: { rrn: false, authCode: true, date: true },
    originalType: 'preauth',
    sendsOperator: false,
    nameZh: '预授权撤销',
    nameEn: 'PRE-AUTH VOID',
  },
  completion: {
    mti: '0200',
    processingCode: '000000',
    conditionCode: '06',
    messageTypeCode: '20',
    reversible: true,
    hasAmount: true,
    original: { rrn: false, authCode: true, date: true },
    originalType: 'preauth',
    sendsOperator: false,
    nameZh: '预授权完成',
    nameEn: 'AUTH COMPLETE',
  },
  completion_void: {
    mti: '0200',
    processingCode: '200000',
    conditionCode: '06',
    messageTypeCode: '21',
    reversible: true,
    hasAmount: true,
    original: { rrn: true, authCode: true, date: false },
    originalType: 'completion',
    sendsOperator: false,
    nameZh: '预授权完成撤销',
    nameEn: 'COMPLETE VOID',
  },
};

/** 60.3 network management codes. */
export const NMC = {
  signInPinMac: '003',
  signInPinMacTrack: '004',
  signOut: '002',
  echo: '301',
  params: '360',
  settlement: '201',
  uploadDetails: '201',
  uploadEnd: '202',
} as const;

export type SignInKeySet = '003' | '004';

/** Reversal reasons (field 39 of the 0400). */
export type ReversalReason = '98' | 'A0' | '06';

export const REVERSAL_REASON_TEXT: Readonly<Record<ReversalReason, string>> = {
  '98': 'no reply from the host',
  A0: 'the MAC of the reply failed',
  '06': 'the reply could not be used',
};

/** Field 39 of the profile, in English and Chinese. */
export const RESPONSE_CODES: Readonly<Record<string, readonly [en: string, zh: string]>> = {
  '00': ['approved', '交易成功'],
  '03': ['invalid merchant', '无效商户'],
  '05': ['do not honour', '不予承兑'],
  '12': ['invalid transaction', '无效交易'],
  '13': ['invalid amount', '无效金额'],
  '14': ['invalid card number', '无效卡号'],
  '25': ['original transaction not found', '找不到原始交易'],
  '30': ['format error', '报文格式错误'],
  '40': ['function not supported', '请求的功能尚不支持'],
  '41': ['lost card', '挂失卡'],
  '43': ['stolen card', '被窃卡'],
  '51': ['insufficient funds', '余额不足'],
  '54': ['expired card', '过期的卡'],
  '55': ['incorrect PIN', '密码错'],
  '57': ['transaction not permitted to cardholder', '不允许持卡人进行的交易'],
  '58': ['transaction not permitted to terminal', '不允许终端进行的交易'],
  '61': ['exceeds amount limit', '超出金额限制'],
  '64': ['original amount incorrect', '原始金额不正确'],
  '65': ['exceeds frequency limit', '超出消费次数限制'],
  '75': ['PIN tries exceeded', '密码错误次数超限'],
  '77': ['sign in again', '请重新签到'],
  '90': ['cut-off in progress', '日切处理中'],
  '94': ['duplicate transmission', '重复交易'],
  '96': ['system malfunction', '系统故障'],
  '97': ['terminal not registered', '终端未登记'],
  '98': ['no answer from the card network', '银联收不到发卡行应答'],
  '99': ['PIN format error', 'PIN格式错'],
  A0: ['MAC check failed: sign in again', 'MAC校验错，请重新签到'],
};

export function responseText(code: string): string {
  const text = RESPONSE_CODES[code];
  return text === undefined ? `response code ${code}` : `${text[0]} (${text[1]})`;
}

/** Replies that carry no MAC (the host shares no key with the terminal, or the keys are out of step). */
export const UNMACED_RESPONSE_CODES: ReadonlySet<string> = new Set(['97', '77', 'A0']);

/** Replies after which the terminal signs in again before its next transaction. */
export const SIGN_IN_AGAIN_CODES: ReadonlySet<string> = new Set(['77', 'A0']);

/**
 * Card organizations (63.1 of a reply, UnionPay's international card company codes) and the n2 code a
 * batch-upload detail carries for each. CUP cards are domestic in the settlement totals, the others
 * foreign; a reply without 63 counts as CUP.
 */
export const CARD_ORGANIZATIONS: Readonly<
  Record<string, { readonly code: string; readonly domestic: boolean }>
> = {
  CUP: { code: '00', domestic: true },
  VIS: { code: '01', domestic: false },
  MCC: { code: '02', domestic: false },
  MAE: { code: '03', domestic: false },
  JCB: { code: '04', domestic: false },
  DCC: { code: '05', domestic: false },
  AMX: { code: '06', domestic: false },
};

export function cardOrganizationOf(organization: string | null): { code: string; domestic: boolean } {
  return CARD_ORGANIZATIONS[organization ?? 'CUP'] ?? { code: '00', domestic: true };
}

/** The demo institution (docs terminal-protocol.md, "Demo fixtures"): test data only. */
export const DEMO_TMK_HEX = '0123456789ABCDEFFEDCBA9876543210';
export const DEMO_OPERATOR = '001';

export interface DemoTerminal {
  readonly merchantId: string;
  readonly merchantName: string;
  readonly algorithm: '3des' | 'sm4';
}

/** Terminal id → its demo merchant and algorithm, from the demo fixtures. */
export const DEMO_TERMINALS: ReadonlyMap<string, DemoTerminal> = new Map(
  DEMO_MERCHANTS.flatMap((merchant) =>
    merchant.terminals.map(
      (terminal) =>
        [
          terminal.id,
          { merchantId: merchant.id, merchantName: merchant.name, algorithm: terminal.algorithm },
        ] as const,
    ),
  ),
);

/** A demo merchant's name, printed on slips until a parameter download gives one. */
export function demoMerchantName(merchantId: string): string | null {
  return DEMO_MERCHANTS.find((merchant) => merchant.id === merchantId)?.name ?? null;
}

/**
 * Parameter download (60.3 360): the contract fixes the layout (tag 2 ASCII digits + length 3 ASCII
 * digits + value) but not the tags. The terminal takes the merchant name from this tag.
 */
export const PARAM_TAG_MERCHANT_NAME = '01';
