// The demo institution of ../shared/docs/terminal-protocol.md (test data only, never for real money).

export const DEMO_ACQUIRER_CODE = '48021000';

/** The TMK of every demo terminal (3DES double length; the SM4 terminal uses the same 16 bytes). */
export const DEMO_TMK_HEX = '0123456789ABCDEFFEDCBA9876543210';

export interface DemoMerchant {
  id: string;
  name: string;
  kind: 'enterprise' | 'individual';
  terminals: Array<{ id: string; algorithm: '3des' | 'sm4' }>;
}

export const DEMO_MERCHANTS: readonly DemoMerchant[] = [
  {
    id: '102314054110001',
    name: '镇江万家福超市',
    kind: 'enterprise',
    terminals: [
      { id: '10000001', algorithm: '3des' },
      { id: '10000002', algorithm: 'sm4' },
    ],
  },
  {
    id: '102314065130001',
    name: '镇江金山物业管理有限公司',
    kind: 'enterprise',
    terminals: [{ id: '20000001', algorithm: '3des' }],
  },
  {
    id: '102314054990001',
    name: '张记水果摊',
    kind: 'individual',
    terminals: [{ id: '30000001', algorithm: '3des' }],
  },
];

/** The institution's own accounts: what every payment flow books against. */
export const INSTITUTION_ACCOUNTS = [
  { code: 'network:cup:receivable', name: 'Card network settlement receivable', type: 'asset' },
  { code: 'institution:bank', name: 'Institution settlement bank account', type: 'asset' },
  { code: 'institution:fee-revenue', name: 'Merchant discount fee revenue', type: 'revenue' },
  { code: 'institution:network-fees', name: 'Card network fees', type: 'expense' },
] as const;

/** Each merchant's accounts: money owed to it before settlement (pending) and after (payable). */
export function merchantAccounts(merchant: DemoMerchant) {
  return [
    {
      code: `merchant:${merchant.id}:pending`,
      name: `${merchant.name} — pending settlement`,
      type: 'liability',
    },
    {
      code: `merchant:${merchant.id}:payable`,
      name: `${merchant.name} — settled, to pay out`,
      type: 'liability',
    },
  ] as const;
}
