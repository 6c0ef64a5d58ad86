import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import {
  mlflowMirrorRuns,
  mlflowMirrors,
  mlflowMirrorVersions,
  modelVersions,
  registeredModels,
  runs,
} from '@anneal/db/schema';
import { count, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { getProject } from '../../domain/projects/projects.ts';
import { mirrorDestinationProblem } from '../../mlflow/mirror-guard.ts';
import { defineRoute } from '../route.ts';

const params = z.object({ projectId: z.uuid() });
const status = z.object({
  projectId: z.uuid(),
  url: z.string(),
  /** Whether a token is sent; the token itself is never shown. */
  hasToken: z.boolean(),
  experimentId: z.string().nullable(),
  lastSyncAt: z.iso.datetime().nullable(),
  lastError: z.string().nullable(),
  runsMirrored: z.number().int(),
  versionsMirrored: z.number().int(),
});

async function mirrorStatus(db: Db, orgId: string, projectId: string) {
  await getProject(db, orgId, projectId);
  const [m] = await db.select().from(mlflowMirrors).where(eq(mlflowMirrors.projectId, projectId));
  if (!m) throw new AppError('NOT_FOUND', `projectId: project ${projectId} has no MLflow mirror`);
  const [r] = await db
    .select({ n: count() })
    .from(mlflowMirrorRuns)
    .innerJoin(runs, eq(runs.id, mlflowMirrorRuns.runId))
    .where(eq(runs.projectId, projectId));
  const [v] = await db
    .select({ n: count() })
    .from(mlflowMirrorVersions)
    .innerJoin(modelVersions, eq(modelVersions.id, mlflowMirrorVersions.versionId))
    .innerJoin(registeredModels, eq(registeredModels.id, modelVersions.modelId))
    .where(eq(registeredModels.projectId, projectId));
  return {
    projectId,
    url: m.url,
    hasToken: m.token !== null,
    experimentId: m.experimentId,
    lastSyncAt: m.lastSyncAt?.toISOString() ?? null,
    lastError: m.lastError,
    runsMirrored: r?.n ?? 0,
    versionsMirrored: v?.n ?? 0,
  };
}

/** The MLflow tracking URI: http(s), no credentials, query or fragment, not internal (mirror-guard). */
async function checkMirrorUrl(raw: string): Promise<void> {
  const problem = await mirrorDestinationProblem(raw);
  if (problem) throw new AppError('BAD_REQUEST', `body.url: ${problem}`);
}

export const mirrorRoutes = [
  defineRoute({
    method: 'PUT',
    path: '/projects/{projectId}/mlflow-mirror',
    access: { role: 'owner', agent: 'none' },
    tag: 'projects',
    summary:
      'Mirror the project to an existing MLflow server: runs, params, metrics, sample images and registered versions are pushed there, and kept up to date',
    params,
    body: z.object({
      url: z.string().max(2000),
      token: z.string().min(1).max(4000).optional(),
    }),
    response: { status: 200, description: 'The mirror and its state', schema: status },
    handle: async (ctx, { params, body }) => {
      await getProject(ctx.db, ctx.principal.orgId, params.projectId);
      await checkMirrorUrl(body.url);
      const [old] = await ctx.db
        .select()
        .from(mlflowMirrors)
        .where(eq(mlflowMirrors.projectId, params.projectId));
      if (old && old.url !== body.url) {
        // Another server: what the old one has says nothing about the new one.
        await ctx.db.delete(mlflowMirrors).where(eq(mlflowMirrors.projectId, params.projectId));
        const projectRuns = ctx.db
          .select({ id: runs.id })
          .from(runs)
          .where(eq(runs.projectId, params.projectId));
        await ctx.db.delete(mlflowMirrorRuns).where(inArray(mlflowMirrorRuns.runId, projectRuns));
        const projectVersions = ctx.db
          .select({ id: modelVersions.id })
          .from(modelVersions)
          .innerJoin(registeredModels, eq(registeredModels.id, modelVersions.modelId))
          .where(eq(registeredModels.projectId, params.projectId));
        await ctx.db
          .delete(mlflowMirrorVersions)
          .where(inArray(mlflowMirrorVersions.versionId, projectVersions));
      }
      await ctx.db
        .insert(mlflowMirrors)
        .values({ projectId: params.projectId, url: body.url, token: body.token ?? null })
        .onConflictDoUpdate({
          target: mlflowMirrors.projectId,
          set: { url: body.url, token: body.token ?? null },
        });
      // The first pass starts now; its outcome shows in GET .../mlflow-mirror.
      void ctx.mirror?.sync(params.projectId);
      return { json: await mirrorStatus(ctx.db, ctx.principal.orgId, params.projectId) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/projects/{projectId}/mlflow-mirror',
    access: { role: 'viewer', agent: 'none' },
    tag: 'projects',
    summary: "The project's MLflow mirror: where it goes, the last pass and its error",
    params,
    response: { status: 200, description: 'The mirror and its state', schema: status },
    handle: async (ctx, { params }) => ({
      json: await mirrorStatus(ctx.db, ctx.principal.orgId, params.projectId),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/projects/{projectId}/mlflow-mirror/sync',
    access: { role: 'editor', agent: 'none' },
    tag: 'projects',
    summary:
      'Push to the MLflow server now (also done every ANNEAL_MLFLOW_MIRROR_MS); answers once the pass ends',
    params,
    response: {
      status: 200,
      description: 'The mirror and its state after the pass',
      schema: status,
    },
    handle: async (ctx, { params }) => {
      await mirrorStatus(ctx.db, ctx.principal.orgId, params.projectId);
      await ctx.mirror?.sync(params.projectId);
      return { json: await mirrorStatus(ctx.db, ctx.principal.orgId, params.projectId) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/projects/{projectId}/mlflow-mirror',
    access: { role: 'owner', agent: 'none' },
    tag: 'projects',
    summary: 'Stop mirroring (what the MLflow server has stays there)',
    params,
    response: { status: 204, description: 'Stopped' },
    handle: async (ctx, { params }) => {
      await mirrorStatus(ctx.db, ctx.principal.orgId, params.projectId);
      await ctx.db.delete(mlflowMirrors).where(eq(mlflowMirrors.projectId, params.projectId));
      return { status: 204, json: null };
    },
  }),
];
