import { defineConfig } from 'drizzle-kit';

// `drizzle-kit generate` diffs the schema against the committed snapshots; it needs no server.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/schema/*.ts',
  out: './migrations',
});
