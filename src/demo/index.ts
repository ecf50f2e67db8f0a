import type { Database } from '../db/index.ts';
import type { Ledger } from '../ledger/index.ts';
import { DEMO_MERCHANTS, INSTITUTION_ACCOUNTS, merchantAccounts } from './fixtures.ts';

export { DEMO_ACQUIRER_CODE, DEMO_MERCHANTS } from './fixtures.ts';

// Loads the demo fixtures through the modules' own services. Running it again changes nothing: each
// step is idempotent (an account opened again with the same facts is the same account).

export interface DemoResult {
  accountsCreated: number;
}

const DEMO_ACTOR = { type: 'system', id: 'demo', source: 'cli' } as const;

export async function loadDemoData(platform: { ledger: Ledger }): Promise<DemoResult> {
  let accountsCreated = 0;
  const open = async (account: {
    code: string;
    name: string;
    type: 'asset' | 'liability' | 'revenue' | 'expense';
  }) => {
    const { created } = await platform.ledger.openAccount({ ...account, currency: 'CNY' }, DEMO_ACTOR);
    if (created) accountsCreated++;
  };
  for (const account of INSTITUTION_ACCOUNTS) await open(account);
  for (const merchant of DEMO_MERCHANTS) {
    for (const account of merchantAccounts(merchant)) {
      await open({ ...account, type: account.type });
    }
  }
  return { accountsCreated };
}

/** True when the database holds no business data yet (a first start). */
export async function isEmpty(platform: { db: Database }): Promise<boolean> {
  const result = await platform.db.query('SELECT NOT EXISTS (SELECT 1 FROM ledger_accounts) AS empty');
  return (result.rows[0] as { empty: boolean }).empty;
}
