import type { DatasetManifest } from '@anneal/datasets/hash';
import {
  bigint,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
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

/**
 * A version's manifest is @anneal/datasets' (files with sha256/md5/size and label index,
 * classes, held-out relpaths, fit policy, DVC md5), so the server and agents hash it alike.
 * Rows written before that used `{files: [{path, split, label: string}], labels, heldout}`;
 * readers validate with `datasetManifestSchema` and refuse those by name.
 */
export type { DatasetManifest, ManifestFile } from '@anneal/datasets/hash';

/** An upload's per-file report: files imported, and those left out with the reason. */
export interface UploadReport {
  imported: number;
  /**
   * Image files left out (undecodable, over a limit), the first 100 (older rows may hold
   * 1,000; reads cut them to 100).
   */
  skipped: { relpath: string; reason: string }[];
  skippedCount: number;
  /** Files that are not images, the first 100, as above. */
  ignored: string[];
  ignoredCount: number;
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
    /** `contentHash(manifest)` of @anneal/datasets: equal files and options, equal hash. */
    contentHash: text('content_hash').notNull(),
    manifest: jsonb('manifest').$type<DatasetManifest>().notNull(),
    fileCount: integer('file_count').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    heldoutCount: integer('heldout_count').notNull(),
    /** DVC's `.dir` md5: `dvc` reads the version as a directory output. */
    dvcMd5: text('dvc_md5').notNull(),
    /**
     * What the upload that made this version imported and left out (and why), kept for the
     * version page; null for versions made before it was kept.
     */
    uploadReport: jsonb('upload_report').$type<UploadReport>(),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('dataset_versions_dataset_version_unique').on(t.datasetId, t.version)],
);

/**
 * The files of a version by sha256, written with the version (and backfilled from the
 * manifests by migration 0007): an agent's or a thumbnail's fetch of one file checks its
 * membership by index instead of reading the version's whole manifest.
 */
export const datasetVersionFiles = pgTable(
  'dataset_version_files',
  {
    versionId: uuid('version_id')
      .notNull()
      .references(() => datasetVersions.id, { onDelete: 'cascade' }),
    relpath: text('relpath').notNull(),
    sha256: text('sha256').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.versionId, t.relpath] }),
    index('dataset_version_files_sha256').on(t.versionId, t.sha256),
  ],
);
