import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { silentLogger } from '../shared/logger.ts';
import { connectDatabase, type Database, withDatabaseName } from './database.ts';

// Tests get a fresh database per test file, created from a template database that the test runner
// (scripts/run-tests.ts) migrated once. CREATE DATABASE … TEMPLATE copies files, so it is fast.

export const TEST_SERVER_ENV = 'TILLPOINT_TEST_SERVER_URL';
export const TEST_TEMPLATE_ENV = 'TILLPOINT_TEST_TEMPLATE';

export interface TestDatabase {
  readonly db: Database;
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

function testServer(): { serverUrl: string; template: string } {
  const serverUrl = process.env[TEST_SERVER_ENV];
  const template = process.env[TEST_TEMPLATE_ENV];
  if (serverUrl === undefined || template === undefined) {
    throw new Error(
      'No test database server: run tests through `npm run test:unit` (or `node scripts/run-tests.ts <files>`), which starts one',
    );
  }
  return { serverUrl, template };
}

async function admin<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(options: { poolSize?: number } = {}): Promise<TestDatabase> {
  const { serverUrl, template } = testServer();
  const name = `${template.replace(/_tpl$/, '')}_${randomBytes(5).toString('hex')}`;
  await admin(serverUrl, async (client) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
        return;
      } catch (error) {
        // Another CREATE DATABASE from the same template at the same moment: try again shortly.
        if ((error as { code?: string }).code !== '55006' || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  });
  const url = withDatabaseName(serverUrl, name);
  const db = await connectDatabase({ url, logger: silentLogger(), poolSize: options.poolSize ?? 10 });
  return {
    db,
    url,
    name,
    async drop() {
      await db.close();
      await admin(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
