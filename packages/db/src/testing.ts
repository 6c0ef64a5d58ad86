import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from './embedded.ts';
import { migrateDatabase } from './migrate.ts';

export interface TestDatabase {
  url: string;
  home: string;
  stop(): Promise<void>;
}

/** A real, migrated PostgreSQL in a fresh temporary ANNEAL_HOME, for integration tests. */
export async function startTestDatabase(): Promise<TestDatabase> {
  const home = await mkdtemp(join(tmpdir(), 'anneal-test-'));
  const pg = await startEmbeddedPostgres(home);
  await migrateDatabase(pg.url);
  return {
    url: pg.url,
    home,
    stop: async () => {
      await pg.stop();
      await rm(home, { recursive: true, force: true });
    },
  };
}
