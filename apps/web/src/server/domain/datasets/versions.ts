import { readFile } from 'node:fs/promises';
import { AppError } from '@anneal/core';
import {
  type DatasetManifest,
  datasetManifestSchema,
  fitPolicySchema,
  isImageRelpath,
  versionOfFiles,
} from '@anneal/datasets/hash';
import { screenImages } from '@anneal/datasets/intake';
import type { Db } from '@anneal/db/client';
import { datasets, datasetVersionFiles, datasetVersions, projects } from '@anneal/db/schema';
import { and, asc, desc, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { BlobStore } from '../artifacts/blob-store.ts';
import { getProject } from '../projects/projects.ts';
import { BUILTIN_DATASETS } from './builtin.ts';
import { labelGroupsOf } from './label-groups.ts';
import type { StagedUpload } from './receive-upload.ts';

export const datasetNameSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, {
    message: 'use letters, digits, ".", "_" or "-" (at most 100)',
  })
  .refine((n) => !BUILTIN_DATASETS.some((b) => b.name === n), {
    message: 'is the name of a built-in dataset',
  });

export const splitOptionsSchema = z.object({
  heldout: z.coerce.number().min(0).max(0.5).default(0.1),
  seed: z.coerce.number().int().min(0).default(0),
  /** How images become squares when an agent materializes the version. */
  fit: fitPolicySchema.default('center-crop'),
  description: z.string().max(2000).optional(),
  /** Refuse the whole upload, naming every bad file, instead of skipping bad files. */
  strict: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true')
    .describe('true: refuse the whole upload if any image file is refused (default: skip it)'),
});

/** A file kept out of a version, and why: the per-file report of an upload. */
export const refusalSchema = z.object({ relpath: z.string(), reason: z.string() });

/** The per-file report a version keeps of the upload that made it (see UploadReport). */
export const uploadReportSchema = z.object({
  imported: z.number(),
  skipped: z.array(refusalSchema),
  skippedCount: z.number(),
  ignored: z.array(z.string()),
  ignoredCount: z.number(),
});

const FILE_ROWS_PER_INSERT = 5000;

/**
 * Entries of each list a stored report keeps (its counts keep the totals): a folder of
 * 100,000 text files keeps its first names, and every read of the version stays small.
 */
export const REPORT_LIST_LIMIT = 100;

export type StoredUploadReport = z.infer<typeof uploadReportSchema>;

/** A report with each list cut to REPORT_LIST_LIMIT (rows stored before kept 1,000). */
function cappedReport(r: StoredUploadReport | null | undefined): StoredUploadReport | null {
  if (!r) return null;
  return {
    ...r,
    skipped: r.skipped.slice(0, REPORT_LIST_LIMIT),
    ignored: r.ignored.slice(0, REPORT_LIST_LIMIT),
  };
}

/**
 * An uploaded file's path, or BAD_REQUEST naming it: absolute paths, `..`, `.` and empty
 * segments, and control characters refuse the whole upload (an attack or a broken zip, not
 * a bad image). Other names that are not portable (a backslash) are refused per file by the
 * screen, as in a folder import. Names are taken as sent: no percent-decoding.
 */
function uploadPath(raw: string): string {
  const refuse = (why: string) =>
    new AppError('BAD_REQUEST', `files: ${JSON.stringify(raw)} cannot be a dataset path: ${why}`);
  if (raw.length === 0 || raw.length > 1024) throw refuse('must be 1 to 1024 characters');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw refuse('control characters are not allowed');
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw refuse('it is absolute');
  if (raw.split('/').some((s) => s === '' || s === '.' || s === '..'))
    throw refuse('empty, "." and ".." segments are not allowed');
  return raw;
}

/**
 * A zip of a folder has one top folder; its files belong at the dataset's root, unless
 * that folder is the only level (then it names the images' one class).
 */
function stripCommonRoot<F extends { relpath: string }>(files: F[]): F[] {
  const tops = new Set(files.map((f) => (f.relpath.includes('/') ? f.relpath.split('/')[0] : '')));
  if (tops.size !== 1 || tops.has('')) return files;
  const [top] = tops;
  const stripped = files.map((f) => ({ ...f, relpath: f.relpath.slice(`${top}/`.length) }));
  // Only images decide: a README beside the class folders is not a top-level image.
  const images = stripped.filter((f) => isImageRelpath(f.relpath));
  return images.every((f) => f.relpath.includes('/')) ? stripped : files;
}

/**
 * Records an immutable version from an upload. Every image is decoded first, with the
 * rules of a local folder import (@anneal/datasets/intake): files that are not images by
 * extension are ignored, image files that cannot be decoded or break a limit are skipped
 * and reported by name (or, with `strict`, refuse the whole upload). Only the accepted
 * files move into the blob store. Uploading the same content as the latest version
 * returns that version instead of a duplicate.
 */
export async function createDatasetVersion(
  db: Db,
  store: BlobStore,
  orgId: string,
  userId: string,
  projectId: string,
  name: string,
  upload: StagedUpload,
  options: z.infer<typeof splitOptionsSchema>,
) {
  await getProject(db, orgId, projectId);
  if (upload.files.length === 0)
    throw new AppError('BAD_REQUEST', 'files: the upload holds no files');
  const seen = new Set<string>();
  const offered = stripCommonRoot(
    upload.files.map((f) => {
      const relpath = uploadPath(f.path);
      if (seen.has(relpath)) throw new AppError('BAD_REQUEST', `files: "${relpath}" appears twice`);
      seen.add(relpath);
      return { relpath, size: f.size, tmp: f.tmp, read: () => readFile(f.tmp) };
    }),
  );
  // The manifest and hash come from @anneal/datasets too, so an agent's import of the same
  // folder makes the same version.
  const { accepted, skipped, ignored } = await screenImages(offered, {
    strict: options.strict,
    source: 'the upload',
  });
  const { manifest, hash } = versionOfFiles(
    accepted.map(({ relpath, sha256, md5, size }) => ({ relpath, sha256, md5, size })),
    { fit: options.fit, heldOutFraction: options.heldout, seed: options.seed },
  );
  // Bytes first, then the row: a version never names a file the store lacks.
  for (const f of accepted) await store.adopt(f.tmp, f.sha256);
  const report = { skipped, ignored };
  return db.transaction(async (tx) => {
    await tx
      .insert(datasets)
      .values({ projectId, name, description: options.description ?? '' })
      .onConflictDoNothing();
    const [dataset] = await tx
      .select()
      .from(datasets)
      .where(and(eq(datasets.projectId, projectId), eq(datasets.name, name)))
      .for('update');
    if (!dataset) throw new AppError('INTERNAL', 'could not create the dataset');
    const [latest] = await tx
      .select()
      .from(datasetVersions)
      .where(eq(datasetVersions.datasetId, dataset.id))
      .orderBy(desc(datasetVersions.version))
      .limit(1);
    // The hash covers labels, the held-out split and the fit policy, not just the bytes.
    if (latest && latest.contentHash === hash)
      return { created: false, datasetId: dataset.id, ...summary(latest), ...report };
    const [row] = await tx
      .insert(datasetVersions)
      .values({
        datasetId: dataset.id,
        version: (latest?.version ?? 0) + 1,
        contentHash: hash,
        manifest,
        fileCount: manifest.files.length,
        sizeBytes: manifest.files.reduce((s, f) => s + f.size, 0),
        heldoutCount: manifest.heldOut.length,
        dvcMd5: manifest.dvcMd5,
        uploadReport: cappedReport({
          imported: manifest.files.length,
          skipped,
          skippedCount: skipped.length,
          ignored,
          ignoredCount: ignored.length,
        }),
        createdBy: userId,
      })
      .returning();
    if (!row) throw new AppError('INTERNAL', 'could not create the dataset version');
    // In batches: PostgreSQL takes at most 65,535 parameters in one statement.
    for (let i = 0; i < manifest.files.length; i += FILE_ROWS_PER_INSERT)
      await tx
        .insert(datasetVersionFiles)
        .values(
          manifest.files
            .slice(i, i + FILE_ROWS_PER_INSERT)
            .map((f) => ({ versionId: row.id, relpath: f.relpath, sha256: f.sha256 })),
        );
    return { created: true, datasetId: dataset.id, ...summary(row), ...report };
  });
}

function summary(v: typeof datasetVersions.$inferSelect) {
  return {
    id: v.id,
    version: v.version,
    contentHash: v.contentHash,
    fileCount: v.fileCount,
    sizeBytes: v.sizeBytes,
    heldoutCount: v.heldoutCount,
    dvcMd5: v.dvcMd5,
    createdAt: v.createdAt,
  };
}

/** Stored datasets with their versions, after the built-ins every project has. */
export async function listDatasets(db: Db, orgId: string, projectId: string) {
  await getProject(db, orgId, projectId);
  const rows = await db
    .select({
      dataset: datasets,
    })
    .from(datasets)
    .where(eq(datasets.projectId, projectId))
    .orderBy(asc(datasets.name));
  const versions = rows.length
    ? await db
        .select()
        .from(datasetVersions)
        .innerJoin(datasets, eq(datasets.id, datasetVersions.datasetId))
        .where(eq(datasets.projectId, projectId))
        .orderBy(desc(datasetVersions.version))
    : [];
  return {
    builtin: BUILTIN_DATASETS,
    stored: rows.map(({ dataset }) => ({
      id: dataset.id,
      name: dataset.name,
      description: dataset.description,
      createdAt: dataset.createdAt,
      versions: versions
        .filter((v) => v.datasets.id === dataset.id)
        .map((v) => summary(v.dataset_versions)),
    })),
  };
}

/** A version of the caller's organization with its manifest, or NOT_FOUND. */
export async function getDatasetVersion(db: Db, orgId: string, versionId: string) {
  const [row] = await db
    .select({ version: datasetVersions, dataset: datasets, projectId: projects.id })
    .from(datasetVersions)
    .innerJoin(datasets, eq(datasets.id, datasetVersions.datasetId))
    .innerJoin(projects, eq(projects.id, datasets.projectId))
    .where(and(eq(datasetVersions.id, versionId), eq(projects.orgId, orgId)));
  if (!row) throw new AppError('NOT_FOUND', `versionId: no dataset version ${versionId}`);
  return {
    ...summary(row.version),
    datasetId: row.dataset.id,
    datasetName: row.dataset.name,
    projectId: row.projectId,
    manifest: storedManifest(row.version),
    uploadReport: cappedReport(row.version.uploadReport),
  };
}

/** Files a version's page lists, and thumbnails it shows per label. */
export const PAGE_FILE_LIMIT = 500;
export const SAMPLES_PER_LABEL = 8;

/**
 * A version for its page, without its manifest: counts per label and split and the first
 * SAMPLES_PER_LABEL files of each are computed by PostgreSQL over the stored manifest, and
 * only its first PAGE_FILE_LIMIT files are listed. A version of 100,000 files sends a few
 * hundred rows, not its whole manifest.
 */
export async function getDatasetVersionPage(db: Db, orgId: string, versionId: string) {
  const [row] = await db
    .select({
      id: datasetVersions.id,
      version: datasetVersions.version,
      contentHash: datasetVersions.contentHash,
      fileCount: datasetVersions.fileCount,
      sizeBytes: datasetVersions.sizeBytes,
      heldoutCount: datasetVersions.heldoutCount,
      dvcMd5: datasetVersions.dvcMd5,
      createdAt: datasetVersions.createdAt,
      uploadReport: datasetVersions.uploadReport,
      classes: sql<unknown>`${datasetVersions.manifest}->'classes'`,
      fit: sql<unknown>`${datasetVersions.manifest}->>'fit'`,
      datasetId: datasets.id,
      datasetName: datasets.name,
      projectId: projects.id,
    })
    .from(datasetVersions)
    .innerJoin(datasets, eq(datasets.id, datasetVersions.datasetId))
    .innerJoin(projects, eq(projects.id, datasets.projectId))
    .where(and(eq(datasetVersions.id, versionId), eq(projects.orgId, orgId)));
  if (!row) throw new AppError('NOT_FOUND', `versionId: no dataset version ${versionId}`);
  const classes = z.array(z.string()).safeParse(row.classes);
  if (!classes.success || typeof row.fit !== 'string')
    throw new AppError(
      'CONFLICT',
      `dataset version ${row.id} (v${row.version}) was stored in an older manifest format that agents cannot read; upload its files again to make a new version`,
    );
  // The held-out paths once, as a set the files are hash-joined against.
  const heldOut = sql`held as (
      select distinct h.relpath
      from dataset_versions dv
      cross join lateral jsonb_array_elements_text(dv.manifest->'heldOut') as h(relpath)
      where dv.id = ${versionId})`;
  const groups = await db.execute<{
    label: number | null;
    held: boolean;
    n: number;
    samples: { relpath: string; sha256: string }[] | null;
  }>(sql`
    with files as (
      select e.ord, e.value->>'relpath' as relpath, e.value->>'sha256' as sha256,
        (e.value->>'label')::int as label
      from dataset_versions dv
      cross join lateral jsonb_array_elements(dv.manifest->'files') with ordinality as e(value, ord)
      where dv.id = ${versionId}
    ), ${heldOut}, split as (
      select f.*, held.relpath is not null as held,
        row_number() over (partition by f.label, held.relpath is not null order by f.ord) as rn
      from files f left join held on held.relpath = f.relpath
    )
    select label, held, count(*)::int as n,
      jsonb_agg(jsonb_build_object('relpath', relpath, 'sha256', sha256) order by ord)
        filter (where rn <= ${SAMPLES_PER_LABEL}) as samples
    from split
    group by label, held`);
  const files = await db.execute<{
    relpath: string;
    sha256: string;
    label: number | null;
    size: number;
    held: boolean;
  }>(sql`
    with first as (
      select e.ord, e.value->>'relpath' as relpath, e.value->>'sha256' as sha256,
        (e.value->>'label')::int as label, (e.value->>'size')::float8 as size
      from dataset_versions dv
      cross join lateral jsonb_array_elements(
        jsonb_path_query_array(dv.manifest->'files', ${`$[0 to ${PAGE_FILE_LIMIT - 1}]`}::jsonpath)
      ) with ordinality as e(value, ord)
      where dv.id = ${versionId}
    ), ${heldOut}
    select f.relpath, f.sha256, f.label, f.size, held.relpath is not null as held
    from first f left join held on held.relpath = f.relpath
    order by f.ord`);
  return {
    id: row.id,
    version: row.version,
    contentHash: row.contentHash,
    fileCount: row.fileCount,
    sizeBytes: row.sizeBytes,
    heldoutCount: row.heldoutCount,
    dvcMd5: row.dvcMd5,
    createdAt: row.createdAt,
    datasetId: row.datasetId,
    datasetName: row.datasetName,
    projectId: row.projectId,
    classes: classes.data,
    fit: row.fit,
    labels: labelGroupsOf(
      classes.data,
      [...groups].map((g) => ({
        label: g.label,
        heldOut: g.held,
        count: g.n,
        samples: g.samples ?? [],
      })),
      SAMPLES_PER_LABEL,
    ),
    files: [...files].map((f) => ({
      relpath: f.relpath,
      sha256: f.sha256,
      label: f.label,
      size: f.size,
      heldOut: f.held,
    })),
    uploadReport: cappedReport(row.uploadReport),
  };
}

/** The stored manifest, validated: rows from before the shared format are refused by name. */
function storedManifest(v: typeof datasetVersions.$inferSelect): DatasetManifest {
  const parsed = datasetManifestSchema.safeParse(v.manifest);
  if (!parsed.success)
    throw new AppError(
      'CONFLICT',
      `dataset version ${v.id} (v${v.version}) was stored in an older manifest format that agents cannot read; upload its files again to make a new version`,
    );
  return parsed.data;
}

/**
 * Checks that `sha256` is a file of a version the caller may read; agents fetch by hash, and
 * the version page's thumbnails too. Called once per file, so membership is an index lookup
 * in dataset_version_files, not a scan of the stored manifest.
 */
export async function assertFileInVersion(
  db: Db,
  orgId: string,
  versionId: string,
  sha256: string,
) {
  const [row] = await db.execute<{ relpath: string | null }>(sql`
    select (
      select f.relpath from dataset_version_files f
      where f.version_id = dv.id and f.sha256 = ${sha256}
      order by f.relpath limit 1
    ) as relpath
    from dataset_versions dv
    join datasets d on d.id = dv.dataset_id
    join projects p on p.id = d.project_id
    where dv.id = ${versionId} and p.org_id = ${orgId}`);
  if (!row) throw new AppError('NOT_FOUND', `versionId: no dataset version ${versionId}`);
  if (row.relpath === null)
    throw new AppError('NOT_FOUND', `sha256: version ${versionId} has no file ${sha256}`);
  return { sha256, relpath: row.relpath };
}
