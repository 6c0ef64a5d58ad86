import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type DbHandle } from './client.ts';
import { readEmbeddedConnection, startEmbeddedPostgres } from './embedded.ts';
import { migrateDatabase, migrationsFolder } from './migrate.ts';
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
      'dataset_version_files',
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

  it('0002 moves the resume step out of the run tags into runs.checkpoint_step', async () => {
    // A database migrated up to 0001, with runs written the old way, then migrated on.
    const name = `premigration_${Date.now()}`;
    await handle.db.execute(sql.raw(`create database ${name}`));
    const url = tdb.url.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
    const folder = await mkdtemp(join(tmpdir(), 'anneal-migrations-'));
    const client = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const journal = JSON.parse(
        await readFile(join(migrationsFolder, 'meta/_journal.json'), 'utf8'),
      );
      const before = journal.entries.filter((e: { idx: number }) => e.idx < 2);
      await mkdir(join(folder, 'meta'));
      await writeFile(
        join(folder, 'meta/_journal.json'),
        JSON.stringify({ ...journal, entries: before }),
      );
      for (const e of before as { tag: string }[])
        await copyFile(join(migrationsFolder, `${e.tag}.sql`), join(folder, `${e.tag}.sql`));
      const db = drizzle(client);
      await migrate(db, { migrationsFolder: folder });
      await client`insert into organizations (name) values ('o')`;
      const [org] = await client`select id from organizations`;
      const [project] =
        await client`insert into projects (org_id, name) values (${org!.id}, 'p') returning id`;
      const tags = [
        { 'anneal.checkpoint_step': '120', kind: 'distill' },
        { 'anneal.checkpoint_step': 'not a step' },
        { kind: 'plain' },
      ];
      for (const [i, t] of tags.entries())
        await client`insert into runs (project_id, name, tags) values (${project!.id}, ${`r${i}`}, ${JSON.stringify(t)}::jsonb)`;
      await migrate(db, { migrationsFolder });
      const rows = await client<
        { name: string; tags: Record<string, string>; checkpoint_step: number | null }[]
      >`
        select name, tags, checkpoint_step from runs order by name`;
      expect(rows.map((r) => ({ name: r.name, tags: r.tags, step: r.checkpoint_step }))).toEqual([
        { name: 'r0', tags: { kind: 'distill' }, step: 120 },
        { name: 'r1', tags: {}, step: null },
        { name: 'r2', tags: { kind: 'plain' }, step: null },
      ]);
    } finally {
      await client.end({ timeout: 5 });
      await rm(folder, { recursive: true, force: true });
      await handle.db.execute(sql.raw(`drop database if exists ${name}`));
    }
  });

  it('0007 fills dataset_version_files from the stored manifests', async () => {
    // A database migrated up to 0006 with two versions (one of the old manifest format).
    const name = `premigration7_${Date.now()}`;
    await handle.db.execute(sql.raw(`create database ${name}`));
    const url = tdb.url.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
    const folder = await mkdtemp(join(tmpdir(), 'anneal-migrations-'));
    const client = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const journal = JSON.parse(
        await readFile(join(migrationsFolder, 'meta/_journal.json'), 'utf8'),
      );
      const before = journal.entries.filter((e: { idx: number }) => e.idx < 7);
      await mkdir(join(folder, 'meta'));
      await writeFile(
        join(folder, 'meta/_journal.json'),
        JSON.stringify({ ...journal, entries: before }),
      );
      for (const e of before as { tag: string }[])
        await copyFile(join(migrationsFolder, `${e.tag}.sql`), join(folder, `${e.tag}.sql`));
      const db = drizzle(client);
      await migrate(db, { migrationsFolder: folder });
      await client`insert into organizations (name) values ('o')`;
      const [org] = await client`select id from organizations`;
      const [project] =
        await client`insert into projects (org_id, name) values (${org!.id}, 'p') returning id`;
      const [dataset] =
        await client`insert into datasets (project_id, name) values (${project!.id}, 'd') returning id`;
      const manifests = [
        {
          files: [
            { relpath: 'a/1.png', sha256: 'a'.repeat(64), md5: 'x', size: 1, label: 0 },
            { relpath: 'a/2.png', sha256: 'b'.repeat(64), md5: 'y', size: 1, label: 0 },
          ],
        },
        { files: [{ path: 'old.png', split: 'train', label: 'a' }] },
      ];
      for (const [i, m] of manifests.entries())
        await client`insert into dataset_versions (dataset_id, version, content_hash, manifest, file_count, size_bytes, heldout_count, dvc_md5)
          values (${dataset!.id}, ${i + 1}, ${`h${i}`}, ${JSON.stringify(m)}::jsonb, 1, 1, 0, 'm')`;
      await migrate(db, { migrationsFolder });
      const rows = await client<{ version: number; relpath: string; sha256: string }[]>`
        select v.version, f.relpath, f.sha256 from dataset_version_files f
        join dataset_versions v on v.id = f.version_id order by f.relpath`;
      expect(rows.map((r) => [r.version, r.relpath, r.sha256])).toEqual([
        [1, 'a/1.png', 'a'.repeat(64)],
        [1, 'a/2.png', 'b'.repeat(64)],
      ]);
    } finally {
      await client.end({ timeout: 5 });
      await rm(folder, { recursive: true, force: true });
      await handle.db.execute(sql.raw(`drop database if exists ${name}`));
    }
  });
});
