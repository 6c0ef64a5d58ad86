import {
  bigint,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { users } from './orgs.ts';
import { projects } from './projects.ts';

export const datasets = pgTable(
  'datasets',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('datasets_project_name_unique').on(t.projectId, t.name)],
);

export interface ManifestFile {
  path: string;
  sha256: string;
  md5: string;
  size: number;
  label?: string | undefined;
  split: 'train' | 'heldout';
}

/** Files, labels and the held-out split of one immutable version. */
export interface DatasetManifest {
  files: ManifestFile[];
  labels: string[];
  heldout: { fraction: number; seed: number };
}

/** Immutable: a new upload makes a new version; rows are never updated. */
export const datasetVersions = pgTable(
  'dataset_versions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    datasetId: uuid('dataset_id')
      .notNull()
      .references(() => datasets.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    /** sha256 over the sorted (path, sha256) list: equal content, equal hash. */
    contentHash: text('content_hash').notNull(),
    manifest: jsonb('manifest').$type<DatasetManifest>().notNull(),
    fileCount: integer('file_count').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    heldoutCount: integer('heldout_count').notNull(),
    /** DVC's `.dir` md5: `dvc` reads the version as a directory output. */
    dvcMd5: text('dvc_md5').notNull(),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('dataset_versions_dataset_version_unique').on(t.datasetId, t.version)],
);
