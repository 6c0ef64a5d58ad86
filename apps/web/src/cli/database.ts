import { migrateDatabase } from '@anneal/db/migrate';
import { resolveDatabase } from '@anneal/db/resolve';

/**
 * The database `start` uses (DATABASE_URL, else the embedded cluster under ANNEAL_HOME),
 * migrated. Admin commands reach the cluster a running server started, or start it.
 */
export async function openMigratedDatabase(log: (line: string) => void = () => {}) {
  const database = await resolveDatabase(process.env);
  await migrateDatabase(database.url);
  log(
    `anneal-server: database ready (${process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded PostgreSQL'})`,
  );
  return database;
}
