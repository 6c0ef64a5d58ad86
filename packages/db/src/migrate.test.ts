import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type DbHandle } from './client.ts';
import { readEmbeddedConnection, startEmbeddedPostgres } from './embedded.ts';
import { migrateDatabase } from './migrate.ts';
import { metrics, organizations, projects, runs } from './schema/index.ts';
import { startTestDatabase, type TestDatabase } from './testing.ts';

let tdb: TestDatabase;
let handle: DbHandle;

beforeAll(async () => {
  tdb = await startTestDatabase();
  handle = createDb(tdb.url);
});
afterAll(async () => {
  await handle?.close();
  await tdb?.stop();
});

describe('embedded PostgreSQL + migrations', () => {
  it('records its connection under ANNEAL_HOME and reuses a serving cluster', async () => {
    const connection = await readEmbeddedConnection(tdb.home);
    expect(connection?.url).toBe(tdb.url);
    const again = await startEmbeddedPostgres(tdb.home);
    expect(again.url).toBe(tdb.url);
  });

  it('migrates idempotently and creates every table of the data model', async () => {
    await migrateDatabase(tdb.url);
    const rows = await handle.db.execute<{ table_name: string }>(
      sql`select table_name from information_schema.tables where table_schema = 'public'`,
    );
    const names = rows.map((r) => r.table_name).sort();
    for (const table of [
      'agents',
      'alerts',
      'artifacts',
      'dataset_versions',
      'datasets',
      'deployments',
      'jobs',
      'memberships',
      'metrics',
      'model_aliases',
      'model_versions',
      'organizations',
      'projects',
      'registered_models',
      'runs',
      'sessions',
      'tokens',
      'users',
    ])
      expect(names).toContain(table);
  });

  it('refuses a second metric row for the same run, key and step', async () => {
    const { db } = handle;
    const [org] = await db.insert(organizations).values({ name: 'o' }).returning();
    const [project] = await db.insert(projects).values({ orgId: org!.id, name: 'p' }).returning();
    const [run] = await db.insert(runs).values({ projectId: project!.id, name: 'r' }).returning();
    await db.insert(metrics).values({ runId: run!.id, key: 'loss', step: 1, value: 1 });
    await expect(
      db.insert(metrics).values({ runId: run!.id, key: 'loss', step: 1, value: 2 }),
    ).rejects.toThrow();
  });
});
