import { defineConfig } from 'drizzle-kit';

// `npm run db:generate` writes a migration for schema changes into src/db/migrations.
// Hand-written SQL (triggers, functions): `npx drizzle-kit generate --custom --name <what>`.
export default defineConfig({
  dialect: 'postgresql',
  schema: ['./src/*/schema.ts', './src/connectors/*/schema.ts'],
  out: './src/db/migrations',
  casing: 'snake_case',
});
