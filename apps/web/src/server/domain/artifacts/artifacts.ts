import type { Readable } from 'node:stream';
import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { artifacts, projects, runs } from '@anneal/db/schema';
import { and, asc, eq } from 'drizzle-orm';
import { getRun } from '../runs/runs.ts';
import { contentTypeOf, normalizeArtifactPath } from './artifact-path.ts';
import type { BlobStore } from './blob-store.ts';

/** Stores the bytes, then points the run's path at them (re-uploading a path replaces it). */
export async function uploadArtifact(
  db: Db,
  store: BlobStore,
  orgId: string,
  runId: string,
  rawPath: string,
  body: Readable,
  limit: number,
  expectedSha256?: string,
) {
  const path = normalizeArtifactPath(rawPath);
  await getRun(db, orgId, runId);
  const blob = await store.put(body, limit, expectedSha256);
  const [row] = await db
    .insert(artifacts)
    .values({ runId, path, sha256: blob.sha256, size: blob.size, contentType: contentTypeOf(path) })
    .onConflictDoUpdate({
      target: [artifacts.runId, artifacts.path],
      set: { sha256: blob.sha256, size: blob.size, createdAt: new Date() },
    })
    .returning();
  if (!row) throw new AppError('INTERNAL', 'could not record the artifact');
  return { path: row.path, sha256: row.sha256, size: row.size, contentType: row.contentType };
}

export async function listArtifacts(db: Db, orgId: string, runId: string) {
  await getRun(db, orgId, runId);
  return db
    .select({
      path: artifacts.path,
      sha256: artifacts.sha256,
      size: artifacts.size,
      contentType: artifacts.contentType,
      createdAt: artifacts.createdAt,
    })
    .from(artifacts)
    .where(eq(artifacts.runId, runId))
    .orderBy(asc(artifacts.path));
}

/** The artifact row for a run's path, checked against the caller's organization. */
export async function findArtifact(db: Db, orgId: string, runId: string, rawPath: string) {
  const path = normalizeArtifactPath(rawPath);
  const [row] = await db
    .select({ artifact: artifacts })
    .from(artifacts)
    .innerJoin(runs, eq(runs.id, artifacts.runId))
    .innerJoin(projects, eq(projects.id, runs.projectId))
    .where(and(eq(artifacts.runId, runId), eq(artifacts.path, path), eq(projects.orgId, orgId)));
  if (!row) throw new AppError('NOT_FOUND', `path: run ${runId} has no artifact ${path}`);
  return row.artifact;
}
