// The sale slip (签购单) a terminal prints after an approved financial transaction, as text: merchant,
// terminal, operator, masked card, card organization, transaction type in Chinese and English,
// batch, trace (凭证号), RRN, authorization code, date and time, amount and the signature line.

import { CNY, formatAmount } from '../shared/money.ts';
import type { TransactionResult } from './results.ts';

const RULE = '--------------------------------';
const ENTRY_MARK = { swipe: 'S', manual: 'M' } as const;

export interface SlipOptions {
  /** Which copy: 商户存根 (merchant) or 持卡人存根 (cardholder). Default merchant. */
  readonly copy?: 'merchant' | 'cardholder';
}

function line(label: string, value: string | null): string {
  return `${label}: ${value ?? ''}`.trimEnd();
}

export function formatSlip(result: TransactionResult, options: SlipOptions = {}): string {
  const copy = options.copy === 'cardholder' ? '持卡人存根 CARDHOLDER COPY' : '商户存根 MERCHANT COPY';
  const date = `${result.year}/${result.date.slice(0, 2)}/${result.date.slice(2, 4)}`;
  const time = `${result.time.slice(0, 2)}:${result.time.slice(2, 4)}:${result.time.slice(4, 6)}`;
  const lines = [
    'POS 签购单 / SALES SLIP',
    copy,
    RULE,
    line('商户名称 MERCHANT NAME', result.merchantName),
    line('商户编号 MERCHANT NO.', result.merchantId),
    line('终端编号 TERMINAL NO.', result.terminalId),
    line('操作员号 OPERATOR NO.', result.operator),
    RULE,
    line('卡号 CARD NO.', `${result.cardMasked} ${ENTRY_MARK[result.cardEntry]}`),
    line('卡组织 CARD ORG.', result.cardOrganization ?? 'CUP'),
    line('交易类型 TRANS TYPE', `${result.nameZh} ${result.nameEn}`),
    line('批次号 BATCH NO.', result.batchNo),
    line('凭证号 VOUCHER NO.', result.trace),
    line('参考号 REF. NO.', result.rrn),
    line('授权码 AUTH NO.', result.authCode),
    line('日期/时间 DATE/TIME', `${date} ${time}`),
  ];
  if (result.original !== null) {
    lines.push(line('原凭证号 ORIG. VOUCHER NO.', `${result.original.batchNo}/${result.original.trace}`));
    if (result.original.rrn !== null && result.type === 'refund') {
      lines.push(line('原参考号 ORIG. REF. NO.', result.original.rrn));
    }
  }
  lines.push(
    line(
      '金额 AMOUNT',
      result.amountMinor === null ? null : formatAmount(result.amountMinor, CNY, 'zh-CN', 'printer'),
    ),
    RULE,
    '备注 REFERENCE:',
    '',
    '持卡人签名 CARDHOLDER SIGNATURE:',
    '',
    '',
    '________________________________',
    '本人确认以上交易，同意将其记入本卡账户',
    'I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES',
  );
  return `${lines.join('\n')}\n`;
}
