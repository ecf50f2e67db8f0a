import type { Database } from '../db/index.ts';
import type { KeyStore } from '../keys/index.ts';
import type { Ledger } from '../ledger/index.ts';
import type { Merchants } from '../merchants/index.ts';
import { Secret } from '../shared/secret.ts';
import type { Terminals } from '../terminals/index.ts';
import { DEMO_MERCHANTS, DEMO_TMK_HEX, INSTITUTION_ACCOUNTS, merchantAccounts } from './fixtures.ts';

export { DEMO_ACQUIRER_CODE, DEMO_MERCHANTS, DEMO_TMK_HEX } from './fixtures.ts';

// Loads the demo fixtures through the modules' own services. Running it again changes nothing: each
// step is idempotent (an account, merchant or terminal created again with the same facts is the same).

export interface DemoResult {
  accountsCreated: number;
  merchantsCreated: number;
  terminalsCreated: number;
  testCardsCreated: number;
}

export interface DemoModules {
  ledger: Ledger;
  merchants: Merchants;
  terminals: Terminals;
  keys: KeyStore;
  /** The built-in card network, when it is the one in use: its test cards are created too. */
  simulator?: { seedTestCards(): Promise<number> } | undefined;
}

const DEMO_ACTOR = { type: 'system', id: 'demo', source: 'cli' } as const;

export async function loadDemoData(modules: DemoModules): Promise<DemoResult> {
  const result: DemoResult = {
    accountsCreated: 0,
    merchantsCreated: 0,
    terminalsCreated: 0,
    testCardsCreated: 0,
  };
  const open = async (account: {
    code: string;
    name: string;
    type: 'asset' | 'liability' | 'revenue' | 'expense';
  }) => {
    const { created } = await modules.ledger.openAccount({ ...account, currency: 'CNY' }, DEMO_ACTOR);
    if (created) result.accountsCreated++;
  };
  for (const account of INSTITUTION_ACCOUNTS) await open(account);
  for (const merchant of DEMO_MERCHANTS) {
    for (const account of merchantAccounts(merchant)) await open({ ...account, type: account.type });
    const { created } = await modules.merchants.create(
      {
        id: merchant.id,
        name: merchant.name,
        kind: merchant.kind,
        operators: [{ code: '001', name: '收银员 cashier' }],
      },
      DEMO_ACTOR,
    );
    if (created) result.merchantsCreated++;
    for (const terminal of merchant.terminals) {
      const owner = { type: 'terminal', id: terminal.id } as const;
      const tmk =
        (await modules.keys.active(owner, 'tmk')) ??
        (await modules.keys.importClear(
          {
            usage: 'tmk',
            algorithm: terminal.algorithm === 'sm4' ? 'sm4' : '3des-2key',
            owner,
            label: `demo TMK of ${terminal.id}`,
            material: new Secret(Buffer.from(DEMO_TMK_HEX, 'hex')),
          },
          DEMO_ACTOR,
        ));
      const provisioned = await modules.terminals.provision(
        { id: terminal.id, merchantId: merchant.id, algorithm: terminal.algorithm, tmkKeyId: tmk.id },
        DEMO_ACTOR,
      );
      if (provisioned.created) result.terminalsCreated++;
    }
  }
  if (modules.simulator !== undefined) result.testCardsCreated = await modules.simulator.seedTestCards();
  return result;
}

/** True when the database holds no business data yet (a first start). */
export async function isEmpty(platform: { db: Database }): Promise<boolean> {
  const result = await platform.db.query('SELECT NOT EXISTS (SELECT 1 FROM ledger_accounts) AS empty');
  return (result.rows[0] as { empty: boolean }).empty;
}
