import { loggedModels } from '@anneal/db/schema';
import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { defineRoute, type RestRoute } from '../../rest/route.ts';
import { invalid, MlflowError } from '../errors.ts';
import { searchLoggedModels, shortStatus } from '../logged-model-search.ts';
import {
  LOGGED_MODEL_STATUSES,
  type LoggedModelRow,
  loggedModelJson,
  loggedModelOf,
  metricsOfModels,
  modelArtifactPath,
  modelArtifacts,
  modelArtifactUri,
  newModelId,
} from '../logged-models.ts';
import { parseFilter } from '../search.ts';
import { activeRunOf, experimentOf } from '../store.ts';
import {
  EDITOR,
  MLFLOW_LIMITS,
  maxResults,
  offsetOf,
  P,
  pageToken,
  param,
  TAG,
  tag,
  tokenAfter,
  VIEWER,
} from './common.ts';

const modelId = z.object({ model_id: z.string() });
const M = `${P}/logged-models`;

async function reply(db: Parameters<typeof metricsOfModels>[0], m: LoggedModelRow) {
  const metrics = (await metricsOfModels(db, [m.id])).get(m.id) ?? [];
  return { model: loggedModelJson(m, metrics) };
}

export const loggedModelRoutes: RestRoute[] = [
  defineRoute({
    method: 'POST',
    path: M,
    access: EDITOR,
    tag: TAG,
    summary:
      'MLflow CreateLoggedModel: a PENDING model made by a run (Anneal keeps its files in that run’s artifacts)',
    body: z.object({
      experiment_id: z.string(),
      name: z.string().max(500).optional(),
      model_type: z.string().max(500).optional(),
      source_run_id: z.string().optional(),
      params: z.array(param).max(MLFLOW_LIMITS.paramsTagsPerBatch).optional(),
      tags: z.array(tag).max(MLFLOW_LIMITS.paramsTagsPerBatch).optional(),
    }),
    response: { status: 200, description: '{model}' },
    handle: async (ctx, { body }) => {
      const project = await experimentOf(ctx.db, ctx.principal.orgId, body.experiment_id);
      if (!body.source_run_id)
        throw invalid(
          'source_run_id: Anneal keeps a logged model’s files in the run that made it; log the model inside a run (mlflow.start_run)',
        );
      const run = await activeRunOf(ctx.db, ctx.principal.orgId, body.source_run_id);
      if (project.deletedAt)
        throw invalid(
          `The experiment ${project.id} must be in the 'active' state. Current state is deleted.`,
        );
      if (run.projectId !== project.id)
        throw invalid(`source_run_id: run ${run.id} is not in experiment ${project.id}`);
      const name = body.name || `model-${newModelId().slice(2, 10)}`;
      if (/[/:.%"']/.test(name))
        throw invalid(`name: "${name}" may not contain '/', ':', '.', '%', '"' or "'"`);
      const [row] = await ctx.db
        .insert(loggedModels)
        .values({
          id: newModelId(),
          projectId: project.id,
          sourceRunId: run.id,
          sourceStep: 0,
          name,
          modelType: body.model_type ?? '',
          params: Object.fromEntries((body.params ?? []).map((p) => [p.key, p.value])),
          tags: Object.fromEntries((body.tags ?? []).map((t) => [t.key, t.value])),
          createdBy: ctx.principal.userId,
        })
        .returning();
      if (!row) throw new MlflowError('INTERNAL_ERROR', 'could not create the logged model');
      return { json: await reply(ctx.db, row) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${M}/{model_id}`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetLoggedModel',
    params: modelId,
    query: z.object({ allow_deleted: z.enum(['true', 'false']).optional() }),
    response: { status: 200, description: '{model}' },
    handle: async (ctx, { params, query }) => {
      const m = await loggedModelOf(ctx.db, ctx.principal.orgId, params.model_id, {
        allowDeleted: query.allow_deleted === 'true',
      });
      return { json: await reply(ctx.db, m) };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${M}/{model_id}`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow FinalizeLoggedModel: READY or UPLOAD_FAILED',
    params: modelId,
    body: z.object({
      model_id: z.string().optional(),
      status: z.enum(LOGGED_MODEL_STATUSES),
    }),
    response: { status: 200, description: '{model}' },
    handle: async (ctx, { params, body }) => {
      const m = await loggedModelOf(ctx.db, ctx.principal.orgId, params.model_id);
      const [row] = await ctx.db
        .update(loggedModels)
        .set({ status: body.status, updatedAt: new Date() })
        .where(eq(loggedModels.id, m.id))
        .returning();
      return { json: await reply(ctx.db, row ?? m) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${M}/{model_id}`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow DeleteLoggedModel: soft, as MLflow (its files stay in the source run)',
    params: modelId,
    response: { status: 200, description: '{}' },
    handle: async (ctx, { params }) => {
      const m = await loggedModelOf(ctx.db, ctx.principal.orgId, params.model_id);
      await ctx.db
        .update(loggedModels)
        .set({ deletedAt: new Date(), updatedAt: new Date() })
        .where(eq(loggedModels.id, m.id));
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${M}/{model_id}/tags`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow SetLoggedModelTags',
    params: modelId,
    body: z.object({ tags: z.array(tag).max(MLFLOW_LIMITS.paramsTagsPerBatch) }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { params, body }) => {
      const m = await loggedModelOf(ctx.db, ctx.principal.orgId, params.model_id);
      const tags = Object.fromEntries(body.tags.map((t) => [t.key, t.value]));
      await ctx.db
        .update(loggedModels)
        .set({
          tags: sql`${loggedModels.tags} || ${JSON.stringify(tags)}::jsonb`,
          updatedAt: new Date(),
        })
        .where(eq(loggedModels.id, m.id));
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${M}/{model_id}/tags/{tag_key}`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow DeleteLoggedModelTag',
    params: z.object({ model_id: z.string(), tag_key: z.string() }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { params }) => {
      const m = await loggedModelOf(ctx.db, ctx.principal.orgId, params.model_id);
      if (!(params.tag_key in m.tags))
        throw new MlflowError(
          'RESOURCE_DOES_NOT_EXIST',
          `No tag with key '${params.tag_key}' found for model with ID '${m.id}'.`,
        );
      await ctx.db
        .update(loggedModels)
        .set({ tags: sql`${loggedModels.tags} - ${params.tag_key}::text`, updatedAt: new Date() })
        .where(eq(loggedModels.id, m.id));
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${M}/{model_id}/params`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow LogLoggedModelParams: at most 100 a call',
    params: modelId,
    body: z.object({
      model_id: z.string().optional(),
      params: z.array(param).max(MLFLOW_LIMITS.paramsTagsPerBatch),
    }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { params, body }) => {
      const m = await loggedModelOf(ctx.db, ctx.principal.orgId, params.model_id);
      const merged = Object.fromEntries(body.params.map((p) => [p.key, p.value]));
      await ctx.db
        .update(loggedModels)
        .set({
          params: sql`${loggedModels.params} || ${JSON.stringify(merged)}::jsonb`,
          updatedAt: new Date(),
        })
        .where(eq(loggedModels.id, m.id));
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${M}/{model_id}/artifacts/directories`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow ListLoggedModelArtifacts: the files and folders directly under a path',
    params: modelId,
    query: z.object({
      artifact_directory_path: z.string().max(1000).optional(),
      page_token: pageToken,
    }),
    response: { status: 200, description: '{root_uri, files}' },
    handle: async (ctx, { params, query }) => {
      const m = await loggedModelOf(ctx.db, ctx.principal.orgId, params.model_id);
      const dir = (query.artifact_directory_path ?? '').replace(/^\/+|\/+$/g, '');
      const base = `${modelArtifactPath(m)}/${dir ? `${dir}/` : ''}`;
      const files = new Map<string, { path: string; is_dir: boolean; file_size?: number }>();
      for (const a of await modelArtifacts(ctx.db, m)) {
        if (!a.path.startsWith(base)) continue;
        const [first, ...more] = a.path.slice(base.length).split('/');
        if (!first) continue;
        const path = dir ? `${dir}/${first}` : first;
        files.set(
          first,
          more.length ? { path, is_dir: true } : { path, is_dir: false, file_size: a.size },
        );
      }
      return { json: { root_uri: modelArtifactUri(m), files: [...files.values()] } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${M}/search`,
    access: VIEWER,
    tag: TAG,
    summary:
      'MLflow SearchLoggedModels: filter on attributes, metrics, params and tags; order_by; pages',
    body: z.object({
      experiment_ids: z.array(z.string()).optional(),
      filter: z.string().max(10_000).optional(),
      datasets: z
        .array(z.object({ dataset_name: z.string(), dataset_digest: z.string().optional() }))
        .optional(),
      max_results: maxResults(100),
      order_by: z
        .array(
          z.object({
            field_name: z.string(),
            ascending: z.boolean().optional(),
            dataset_name: z.string().optional(),
            dataset_digest: z.string().optional(),
          }),
        )
        .optional(),
      page_token: pageToken,
    }),
    response: { status: 200, description: '{models, next_page_token}' },
    handle: async (ctx, { body }) => {
      const projectIds: string[] = [];
      for (const id of body.experiment_ids ?? [])
        projectIds.push((await experimentOf(ctx.db, ctx.principal.orgId, id)).id);
      if (projectIds.length === 0) throw invalid('experiment_ids: name at least one experiment');
      const clauses = parseFilter(body.filter).map((c) =>
        c.entity === 'attribute' && c.key === 'status'
          ? {
              ...c,
              value: Array.isArray(c.value)
                ? c.value.map((v) => shortStatus(String(v)))
                : shortStatus(String(c.value)),
            }
          : c,
      );
      const kept = await searchLoggedModels(ctx.db, {
        projectIds,
        clauses,
        datasets: body.datasets ?? [],
        order: body.order_by ?? [],
      });
      const offset = offsetOf(body.page_token);
      const page = kept.slice(offset, offset + body.max_results);
      // Every point of the page's models only, as MLflow's LoggedModel carries them.
      const metrics = await metricsOfModels(
        ctx.db,
        page.map((m) => m.id),
      );
      return {
        json: {
          models: page.map((m) => loggedModelJson(m, metrics.get(m.id) ?? [])),
          next_page_token: tokenAfter(offset, body.max_results, kept.length),
        },
      };
    },
  }),
];
