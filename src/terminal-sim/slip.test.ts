import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TransactionResult } from './results.ts';
import { formatSlip } from './slip.ts';

const sale: TransactionResult = {
  type: 'sale',
  nameZh: '消费',
  nameEn: 'SALE',
  outcome: 'approved',
  approved: true,
  responseCode: '00',
  responseText: 'approved (交易成功)',
  terminalId: '10000001',
  merchantId: '102314054110001',
  merchantName: '镇江万家福超市',
  operator: '001',
  batchNo: '000001',
  trace: '000002',
  amountMinor: 1234n,
  rrn: '261126000002',
  authCode: '654321',
  year: 2026,
  date: '1126',
  time: '093120',
  cardMasked: '622202******0013',
  cardEntry: 'swipe',
  cardOrganization: 'CUP',
  original: null,
  balance: null,
  reversalPending: null,
  latencyUs: 1200,
  reversal: null,
  signedInAgain: false,
  signInRequired: false,
};

describe('sale slip', () => {
  it('prints every line of a sale slip', () => {
    assert.equal(
      formatSlip(sale),
      [
        'POS 签购单 / SALES SLIP',
        '商户存根 MERCHANT COPY',
        '--------------------------------',
        '商户名称 MERCHANT NAME: 镇江万家福超市',
        '商户编号 MERCHANT NO.: 102314054110001',
        '终端编号 TERMINAL NO.: 10000001',
        '操作员号 OPERATOR NO.: 001',
        '--------------------------------',
        '卡号 CARD NO.: 622202******0013 S',
        '卡组织 CARD ORG.: CUP',
        '交易类型 TRANS TYPE: 消费 SALE',
        '批次号 BATCH NO.: 000001',
        '凭证号 VOUCHER NO.: 000002',
        '参考号 REF. NO.: 261126000002',
        '授权码 AUTH NO.: 654321',
        '日期/时间 DATE/TIME: 2026/11/26 09:31:20',
        '金额 AMOUNT: RMB 12.34',
        '--------------------------------',
        '备注 REFERENCE:',
        '',
        '持卡人签名 CARDHOLDER SIGNATURE:',
        '',
        '',
        '________________________________',
        '本人确认以上交易，同意将其记入本卡账户',
        'I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES',
        '',
      ].join('\n'),
    );
  });

  it('a refund names its original; the card number is never printed whole', () => {
    const text = formatSlip(
      {
        ...sale,
        type: 'refund',
        nameZh: '退货',
        nameEn: 'REFUND',
        trace: '000004',
        amountMinor: 500n,
        authCode: null,
        original: { batchNo: '000001', trace: '000002', rrn: '261126000002', authCode: null, date: '1126' },
      },
      { copy: 'cardholder' },
    );
    assert.match(text, /持卡人存根 CARDHOLDER COPY/);
    assert.match(text, /交易类型 TRANS TYPE: 退货 REFUND/);
    assert.match(text, /原凭证号 ORIG\. VOUCHER NO\.: 000001\/000002/);
    assert.match(text, /原参考号 ORIG\. REF\. NO\.: 261126000002/);
    assert.match(text, /金额 AMOUNT: RMB 5\.00/);
    assert.doesNotMatch(text, /6222021000000013/);
  });
});
