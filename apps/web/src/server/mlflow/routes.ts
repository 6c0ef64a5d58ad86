import type { IncomingMessage } from 'node:http';
import type { Db } from '@anneal/db/client';
import { metrics, modelVersions, registeredModels, runs } from '@anneal/db/schema';
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import { findArtifact, listArtifacts, uploadArtifact } from '../domain/artifacts/artifacts.ts';
import { createProject, listProjects } from '../domain/projects/projects.ts';
import {
  aliasSchema,
  modelNameSchema,
  registerVersion,
  removeAlias,
  setAlias,
} from '../domain/registry/registry.ts';
import { defineRoute, type RestContext, type RestRoute } from '../rest/route.ts';
import {
  experimentJson,
  MLFLOW_TO_RUN_STATUS,
  modelVersionJson,
  type RunRow,
  registeredModelJson,
  runInfoJson,
  runJson,
} from './entities.ts';
import { invalid, MlflowError } from './errors.ts';
import {
  type Clause,
  compare,
  compareValues,
  type OrderBy,
  parseFilter,
  parseOrderBy,
} from './search.ts';
import {
  experimentOf,
  latestMetrics,
  mergeParamsAndTags,
  metricHistory,
  modelOf,
  modelsNamed,
  runOf,
  runsOfProjects,
  versionByAlias,
  versionOf,
  versionsOf,
} from './store.ts';

// MLflow's limits (mlflow/utils/validation.py), which its clients split their batches by.
export const MLFLOW_LIMITS = {
  metricsPerBatch: 1000,
  paramsTagsPerBatch: 100,
  entitiesPerBatch: 1000,
  batchBytes: 1_000_000,
  keyLength: 250,
  paramValueLength: 6000,
  tagValueLength: 8000,
  maxResults: 50_000,
} as const;

const VIEWER = { role: 'viewer', agent: 'none' } as const;
const EDITOR = { role: 'editor', agent: 'none' } as const;
const TAG = 'mlflow';

/** int64 fields arrive as numbers, or as strings in query strings. */
const int64 = z.coerce.number().int();
const key = z
  .string()
  .min(1, { message: 'is required' })
  .max(MLFLOW_LIMITS.keyLength, {
    message: `must be at most ${MLFLOW_LIMITS.keyLength} characters`,
  });
const kv = (valueMax: number) =>
  z.object({
    key,
    value: z
      .string()
      .max(valueMax, { message: `must be at most ${valueMax} characters` })
      .default(''),
  });
const param = kv(MLFLOW_LIMITS.paramValueLength);
const tag = kv(MLFLOW_LIMITS.tagValueLength);
const metric = z.object({
  key,
  value: z.union([z.number(), z.string().transform(Number)]).refine(Number.isFinite, {
    message: 'Anneal stores finite metric values only',
  }),
  timestamp: int64.optional(),
  step: int64.min(0, { message: 'Anneal keeps steps from 0 up' }).default(0),
});
const runIdInput = { run_id: z.string().optional(), run_uuid: z.string().optional() };
const pageToken = z.string().max(100).optional();
const maxResults = (fallback: number) =>
  int64
    .min(1)
    .max(MLFLOW_LIMITS.maxResults, {
      message: `must be at most ${MLFLOW_LIMITS.maxResults}`,
    })
    .default(fallback);

function runIdOf(input: { run_id?: string | undefined; run_uuid?: string | undefined }): string {
  const id = input.run_id || input.run_uuid;
  if (!id) throw invalid('run_id: is required');
  return id;
}

/** Page tokens are offsets into a stable ordering, opaque to the client. */
function offsetOf(token: string | undefined): number {
  if (!token) return 0;
  const n = Number(Buffer.from(token, 'base64url').toString('utf8'));
  if (!Number.isInteger(n) || n < 0) throw invalid('page_token: not a token this server issued');
  return n;
}
function tokenAfter(offset: number, pageSize: number, total: number): string | undefined {
  const next = offset + pageSize;
  return next < total ? Buffer.from(String(next), 'utf8').toString('base64url') : undefined;
}

async function runReply(db: Db, run: RunRow) {
  const latest = (await latestMetrics(db, [run.id])).get(run.id) ?? [];
  return { run: runJson(run, latest) };
}

/** Emits the dashboard's live events, as the REST API does for the same writes. */
function emitWrites(
  ctx: RestContext<typeof EDITOR>,
  runId: string,
  metricKeys: string[],
  status?: string,
) {
  if (metricKeys.length)
    ctx.events.emit({ type: 'metrics', runId, keys: [...new Set(metricKeys)] });
  if (status) ctx.events.emit({ type: 'status', runId, status: status as never });
}

async function logMetricPoints(db: Db, runId: string, points: z.infer<typeof metric>[]) {
  if (points.length === 0) return;
  // (run, key, step) is unique in Anneal: within a batch the last point for a step wins.
  const unique = new Map<string, z.infer<typeof metric>>();
  for (const p of points) unique.set(`${p.key}\u0000${p.step}`, p);
  await db
    .insert(metrics)
    .values(
      [...unique.values()].map((p) => ({
        runId,
        key: p.key,
        step: p.step,
        value: p.value,
        time: p.timestamp === undefined ? new Date() : new Date(p.timestamp),
      })),
    )
    .onConflictDoUpdate({
      target: [metrics.runId, metrics.key, metrics.step],
      set: {
        value: sqlExcluded('value'),
        time: sqlExcluded('time'),
      },
    });
}

const sqlExcluded = (column: 'value' | 'time') => sql.raw(`excluded.${column}`);

/** Reads a body of at most `limit` bytes as JSON, refusing larger ones as MLflow does. */
async function readLimitedJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      const declared = Number(req.headers['content-length'] ?? size);
      throw invalid(
        `Batched logging API requests must be at most ${limit} bytes, got a request of size ${Math.max(declared, size)}.`,
      );
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text.trim() ? JSON.parse(text) : {};
  } catch (err) {
    throw invalid(`body: ${(err as Error).message}`);
  }
}

function batchLimit(entity: string, limit: number, length: number) {
  if (length > limit)
    throw invalid(
      `A batch logging request can contain at most ${limit} ${entity}. Got ${length} ${entity}. Please split up ${entity} across multiple requests and try again.`,
    );
}

const logBatchBody = z.object({
  ...runIdInput,
  metrics: z.array(metric).default([]),
  params: z.array(param).default([]),
  tags: z.array(tag).default([]),
});

// ---------------------------------------------------------------- search

type RunWithMetrics = { run: RunRow; latest: Map<string, number> };

function attributeOf(r: RunRow, name: string): string | number | undefined {
  switch (name) {
    case 'run_id':
    case 'run_uuid':
      return r.id;
    case 'run_name':
      return r.name;
    case 'status':
      return runInfoJson(r).status;
    case 'start_time':
      return r.startedAt.getTime();
    case 'end_time':
      return r.endedAt?.getTime();
    case 'experiment_id':
      return r.projectId;
    case 'artifact_uri':
      return runInfoJson(r).artifact_uri;
    case 'user_id':
      return r.tags['mlflow.user'];
    case 'lifecycle_stage':
      return 'active';
    default:
      throw invalid(`filter: runs have no attribute "${name}"`);
  }
}

function runValue(x: RunWithMetrics, entity: Clause['entity'], name: string) {
  switch (entity) {
    case 'metric':
      return x.latest.get(name);
    case 'param': {
      const v = x.run.params[name];
      return v === undefined || v === null ? undefined : String(v);
    }
    case 'tag':
      return x.run.tags[name];
    case 'attribute':
      return attributeOf(x.run, name);
  }
}

function sortRuns(list: RunWithMetrics[], order: OrderBy[]) {
  const keys: OrderBy[] = [
    ...order,
    { entity: 'attribute', key: 'start_time', descending: true },
    { entity: 'attribute', key: 'run_id', descending: false },
  ];
  return list.sort((a, b) => {
    for (const k of keys) {
      const d = compareValues(
        runValue(a, k.entity, k.key),
        runValue(b, k.entity, k.key),
        k.descending,
      );
      if (d !== 0) return d;
    }
    return 0;
  });
}

// ---------------------------------------------------------------- registry helpers

function checkModelName(name: string): string {
  const parsed = modelNameSchema.safeParse(name);
  if (!parsed.success)
    throw invalid(
      `name: "${name}" is not a registered model name Anneal accepts (letters, digits, ".", "_" or "-", at most 100)`,
    );
  return parsed.data;
}

function checkAlias(alias: string): string {
  const parsed = aliasSchema.safeParse(alias);
  if (!parsed.success)
    throw invalid(
      `alias: "${alias}" is not an alias Anneal accepts (a lowercase letter, then lowercase letters, digits, "_" or "-", at most 50)`,
    );
  return parsed.data;
}

/**
 * A version's source must name a place in a run's artifacts: `runs:/<run_id>/<path>` or the
 * run's mlflow-artifacts location. Anneal keeps the run and the path, which is what its
 * registry records for a checkpoint.
 */
function parseSource(source: string): { runId: string; path: string | undefined } {
  const runs = /^runs:\/([^/]+)(?:\/(.*))?$/.exec(source);
  if (runs) return { runId: runs[1] as string, path: runs[2] || undefined };
  const proxied = /^mlflow-artifacts:(?:\/\/[^/]*)?\/[^/]+\/([^/]+)\/artifacts(?:\/(.*))?$/.exec(
    source,
  );
  if (proxied) return { runId: proxied[1] as string, path: proxied[2] || undefined };
  throw invalid(
    `source: "${source}" is not in a run's artifacts; Anneal registers versions from runs:/<run_id>/<path> or mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>`,
  );
}

/**
 * Anneal's registry keeps no MLflow tags, so a tag comparison sees no tag: only `!=` and
 * NOT IN hold, as they do in MLflow for an absent tag (the client itself adds
 * `tags.mlflow.prompt.is_prompt != 'true'` to keep prompts out of model searches).
 */
function untagged(c: Clause): boolean {
  return c.op === '!=' || c.op === 'NOT IN';
}

async function projectForNewModel(
  db: Db,
  orgId: string,
  tags: { key: string; value: string }[],
): Promise<string> {
  const wanted = tags.find((t) => t.key === 'anneal.project')?.value;
  const all = await listProjects(db, orgId);
  if (wanted) {
    const found = all.find((p) => p.id === wanted || p.name === wanted);
    if (!found)
      throw new MlflowError(
        'RESOURCE_DOES_NOT_EXIST',
        `tags.anneal.project: no project "${wanted}" in this organization`,
      );
    return found.id;
  }
  if (all.length === 1) return (all[0] as (typeof all)[number]).id;
  throw invalid(
    `name: a registered model lives in one Anneal project, and this organization has ${all.length}; name it with the tag anneal.project=<project name>, or register the first version with mlflow.register_model, whose run names the project`,
  );
}

async function modelReply(db: Db, model: typeof registeredModels.$inferSelect) {
  const versions = (await versionsOf(db, [model.id])).get(model.id) ?? [];
  return registeredModelJson(model, versions);
}

// ---------------------------------------------------------------- routes

const P = '/mlflow';

export const mlflowRoutes: RestRoute[] = [
  // ---- experiments
  defineRoute({
    method: 'POST',
    path: `${P}/experiments/create`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow CreateExperiment: a new project',
    body: z.object({
      name: z.string(),
      artifact_location: z.string().optional(),
      tags: z.array(tag).optional(),
    }),
    response: { status: 200, description: '{experiment_id}' },
    handle: async (ctx, { body }) => {
      if (body.name.trim() === '') throw invalid(`Invalid experiment name: '${body.name}'`);
      if (body.name.length > 100)
        throw invalid('name: Anneal project names are at most 100 characters');
      if (body.artifact_location)
        throw invalid(
          'artifact_location: Anneal keeps every run’s artifacts itself (served by the mlflow-artifacts routes)',
        );
      const all = await listProjects(ctx.db, ctx.principal.orgId);
      if (all.some((p) => p.name === body.name))
        throw new MlflowError(
          'RESOURCE_ALREADY_EXISTS',
          `Experiment(name=${body.name}) already exists.`,
        );
      const description = body.tags?.find((t) => t.key === 'mlflow.note.content')?.value ?? '';
      const project = await createProject(ctx.db, ctx.principal.orgId, {
        name: body.name,
        description: description.slice(0, 2000),
      });
      return { json: { experiment_id: project.id } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/experiments/get`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetExperiment',
    query: z.object({ experiment_id: z.string() }),
    response: { status: 200, description: '{experiment}' },
    handle: async (ctx, { query }) => ({
      json: {
        experiment: experimentJson(
          await experimentOf(ctx.db, ctx.principal.orgId, query.experiment_id),
        ),
      },
    }),
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/experiments/get-by-name`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetExperimentByName',
    query: z.object({ experiment_name: z.string() }),
    response: { status: 200, description: '{experiment}' },
    handle: async (ctx, { query }) => {
      const found = (await listProjects(ctx.db, ctx.principal.orgId)).find(
        (p) => p.name === query.experiment_name,
      );
      if (!found)
        throw new MlflowError(
          'RESOURCE_DOES_NOT_EXIST',
          `Could not find experiment with name '${query.experiment_name}'`,
        );
      return { json: { experiment: experimentJson(found) } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/experiments/search`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow SearchExperiments (filter on name and tags, order_by, pages)',
    body: z.object({
      max_results: maxResults(1000),
      filter: z.string().max(10_000).optional(),
      order_by: z.array(z.string()).optional(),
      page_token: pageToken,
      view_type: z.string().optional(),
    }),
    response: { status: 200, description: '{experiments, next_page_token}' },
    handle: async (ctx, { body }) => {
      if (body.view_type === 'DELETED_ONLY') return { json: { experiments: [] } };
      const clauses = parseFilter(body.filter);
      const order = parseOrderBy(body.order_by);
      const all = (await listProjects(ctx.db, ctx.principal.orgId)).map(experimentJson);
      const value = (e: (typeof all)[number], entity: Clause['entity'], k: string) => {
        if (entity === 'tag') return e.tags.find((t) => t.key === k)?.value;
        if (entity !== 'attribute') throw invalid(`filter: experiments have no ${entity}s`);
        if (k === 'name') return e.name;
        if (k === 'creation_time') return e.creation_time;
        if (k === 'last_update_time') return e.last_update_time;
        if (k === 'experiment_id') return e.experiment_id;
        throw invalid(`filter: experiments have no attribute "${k}"`);
      };
      const kept = all.filter((e) => clauses.every((c) => compare(value(e, c.entity, c.key), c)));
      const keys: OrderBy[] = [
        ...order,
        { entity: 'attribute', key: 'last_update_time', descending: true },
        { entity: 'attribute', key: 'experiment_id', descending: false },
      ];
      kept.sort((a, b) => {
        for (const k of keys) {
          const d = compareValues(
            value(a, k.entity, k.key),
            value(b, k.entity, k.key),
            k.descending,
          );
          if (d !== 0) return d;
        }
        return 0;
      });
      const offset = offsetOf(body.page_token);
      return {
        json: {
          experiments: kept.slice(offset, offset + body.max_results),
          next_page_token: tokenAfter(offset, body.max_results, kept.length),
        },
      };
    },
  }),

  // ---- runs
  defineRoute({
    method: 'POST',
    path: `${P}/runs/create`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow CreateRun: a run in the project',
    body: z.object({
      experiment_id: z.string(),
      user_id: z.string().max(256).optional(),
      run_name: z.string().max(200).optional(),
      start_time: int64.optional(),
      tags: z.array(tag).max(MLFLOW_LIMITS.paramsTagsPerBatch).optional(),
    }),
    response: { status: 200, description: '{run}' },
    handle: async (ctx, { body }) => {
      const project = await experimentOf(ctx.db, ctx.principal.orgId, body.experiment_id);
      const tags: Record<string, string> = {};
      for (const t of body.tags ?? []) tags[t.key] = t.value;
      if (body.user_id && !tags['mlflow.user']) tags['mlflow.user'] = body.user_id;
      const name =
        body.run_name ||
        tags['mlflow.runName'] ||
        `run-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}`;
      tags['mlflow.runName'] = name;
      const [row] = await ctx.db
        .insert(runs)
        .values({
          projectId: project.id,
          name: name.slice(0, 200),
          status: 'running',
          tags,
          createdBy: ctx.principal.userId,
          startedAt: body.start_time === undefined ? new Date() : new Date(body.start_time),
        })
        .returning();
      if (!row) throw new MlflowError('INTERNAL_ERROR', 'could not create the run');
      return { json: await runReply(ctx.db, row) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/runs/get`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetRun: info, latest metrics, params, tags',
    query: z.object(runIdInput),
    response: { status: 200, description: '{run}' },
    handle: async (ctx, { query }) => ({
      json: await runReply(ctx.db, await runOf(ctx.db, ctx.principal.orgId, runIdOf(query))),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/runs/update`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow UpdateRun: status, end time, name',
    body: z.object({
      ...runIdInput,
      status: z.enum(['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED']).optional(),
      end_time: int64.optional(),
      run_name: z.string().min(1).max(200).optional(),
    }),
    response: { status: 200, description: '{run_info}' },
    handle: async (ctx, { body }) => {
      const run = await runOf(ctx.db, ctx.principal.orgId, runIdOf(body));
      const status = body.status ? MLFLOW_TO_RUN_STATUS[body.status] : undefined;
      const [row] = await ctx.db
        .update(runs)
        .set({
          ...(status ? { status } : {}),
          ...(body.end_time !== undefined ? { endedAt: new Date(body.end_time) } : {}),
          ...(body.run_name
            ? {
                name: body.run_name,
                tags: { ...run.tags, 'mlflow.runName': body.run_name },
              }
            : {}),
        })
        .where(eq(runs.id, run.id))
        .returning();
      emitWrites(ctx, run.id, [], status);
      return { json: { run_info: runInfoJson(row ?? run) } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/runs/delete`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow DeleteRun: Anneal deletes the run with its metrics and artifact records',
    body: z.object(runIdInput),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      const run = await runOf(ctx.db, ctx.principal.orgId, runIdOf(body));
      await ctx.db.delete(runs).where(eq(runs.id, run.id));
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/runs/search`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow SearchRuns: filter on metrics, params, tags and attributes; order_by; pages',
    body: z.object({
      experiment_ids: z.array(z.string()).min(1, { message: 'name at least one experiment' }),
      filter: z.string().max(10_000).optional(),
      run_view_type: z.string().optional(),
      max_results: maxResults(1000),
      order_by: z.array(z.string()).optional(),
      page_token: pageToken,
    }),
    response: { status: 200, description: '{runs, next_page_token}' },
    handle: async (ctx, { body }) => {
      const projectIds: string[] = [];
      for (const id of body.experiment_ids)
        projectIds.push((await experimentOf(ctx.db, ctx.principal.orgId, id)).id);
      const clauses = parseFilter(body.filter);
      const order = parseOrderBy(body.order_by);
      if (body.run_view_type === 'DELETED_ONLY') return { json: { runs: [] } };
      const rows = await runsOfProjects(ctx.db, projectIds, MLFLOW_LIMITS.maxResults);
      const latest = await latestMetrics(
        ctx.db,
        rows.map((r) => r.id),
      );
      const all: RunWithMetrics[] = rows.map((run) => ({
        run,
        latest: new Map((latest.get(run.id) ?? []).map((m) => [m.key, m.value])),
      }));
      const kept = sortRuns(
        all.filter((x) => clauses.every((c) => compare(runValue(x, c.entity, c.key), c))),
        order,
      );
      const offset = offsetOf(body.page_token);
      const page = kept.slice(offset, offset + body.max_results);
      return {
        json: {
          runs: page.map((x) => runJson(x.run, latest.get(x.run.id) ?? [])),
          next_page_token: tokenAfter(offset, body.max_results, kept.length),
        },
      };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/runs/log-metric`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow LogMetric: one point; (run, key, step) is unique in Anneal',
    body: z.object({ ...runIdInput, ...metric.shape }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      const run = await runOf(ctx.db, ctx.principal.orgId, runIdOf(body));
      await logMetricPoints(ctx.db, run.id, [body]);
      emitWrites(ctx, run.id, [body.key]);
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/runs/log-parameter`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow LogParam: params are immutable once logged',
    body: z.object({ ...runIdInput, ...param.shape }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      const run = await runOf(ctx.db, ctx.principal.orgId, runIdOf(body));
      await mergeParamsAndTags(ctx.db, run, [body], []);
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/runs/set-tag`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow SetTag',
    body: z.object({ ...runIdInput, ...tag.shape }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      const run = await runOf(ctx.db, ctx.principal.orgId, runIdOf(body));
      await mergeParamsAndTags(ctx.db, run, [], [body]);
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/runs/log-batch`,
    access: EDITOR,
    tag: TAG,
    summary:
      'MLflow LogBatch: at most 1000 metrics, 100 params, 100 tags, 1000 in all, 1,000,000 bytes',
    body: 'stream',
    bodyTypes: ['application/json'],
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body: req }) => {
      const raw = await readLimitedJson(req, MLFLOW_LIMITS.batchBytes);
      // The counts first, on the raw arrays, so an oversized batch is named as such.
      const counts = raw as { metrics?: unknown; params?: unknown; tags?: unknown };
      const n = (v: unknown) => (Array.isArray(v) ? v.length : 0);
      batchLimit('metrics', MLFLOW_LIMITS.metricsPerBatch, n(counts.metrics));
      batchLimit('params', MLFLOW_LIMITS.paramsTagsPerBatch, n(counts.params));
      batchLimit('tags', MLFLOW_LIMITS.paramsTagsPerBatch, n(counts.tags));
      batchLimit(
        'metrics, params, and tags',
        MLFLOW_LIMITS.entitiesPerBatch,
        n(counts.metrics) + n(counts.params) + n(counts.tags),
      );
      const parsed = logBatchBody.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw invalid(`${issue?.path.join('.') ?? 'body'}: ${issue?.message ?? 'invalid'}`);
      }
      const body = parsed.data;
      const run = await runOf(ctx.db, ctx.principal.orgId, runIdOf(body));
      await mergeParamsAndTags(ctx.db, run, body.params, body.tags);
      await logMetricPoints(ctx.db, run.id, body.metrics);
      emitWrites(
        ctx,
        run.id,
        body.metrics.map((m) => m.key),
      );
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/metrics/get-history`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetMetricHistory: every point of a metric, by step, in pages',
    query: z.object({
      ...runIdInput,
      metric_key: key,
      max_results: maxResults(25_000),
      page_token: pageToken,
    }),
    response: { status: 200, description: '{metrics, next_page_token}' },
    handle: async (ctx, { query }) => {
      const run = await runOf(ctx.db, ctx.principal.orgId, runIdOf(query));
      const all = await metricHistory(ctx.db, run.id, query.metric_key);
      const offset = offsetOf(query.page_token);
      return {
        json: {
          metrics: all.slice(offset, offset + query.max_results).map((m) => ({
            key: query.metric_key,
            value: m.value,
            timestamp: m.time.getTime(),
            step: m.step,
          })),
          next_page_token: tokenAfter(offset, query.max_results, all.length),
        },
      };
    },
  }),

  defineRoute({
    method: 'POST',
    path: `${P}/logged-models/search`,
    access: VIEWER,
    tag: TAG,
    summary:
      'MLflow SearchLoggedModels: Anneal keeps no logged models (a model is a run’s artifacts), so none match',
    body: z.object({
      experiment_ids: z.array(z.string()).optional(),
      filter: z.string().max(10_000).optional(),
      max_results: maxResults(100).optional(),
      page_token: pageToken,
    }),
    response: { status: 200, description: '{models}' },
    handle: async (ctx, { body }) => {
      // The experiments are still resolved, so another organization's id answers 404.
      for (const id of body.experiment_ids ?? [])
        await experimentOf(ctx.db, ctx.principal.orgId, id);
      return { json: { models: [] } };
    },
  }),

  // ---- registry
  defineRoute({
    method: 'POST',
    path: `${P}/registered-models/create`,
    access: EDITOR,
    tag: TAG,
    summary:
      'MLflow CreateRegisteredModel: in the organization’s one project, or tags anneal.project',
    body: z.object({
      name: z.string(),
      tags: z.array(tag).optional(),
      description: z.string().max(2000).optional(),
    }),
    response: { status: 200, description: '{registered_model}' },
    handle: async (ctx, { body }) => {
      const name = checkModelName(body.name);
      if ((await modelsNamed(ctx.db, ctx.principal.orgId, name)).length > 0)
        throw new MlflowError(
          'RESOURCE_ALREADY_EXISTS',
          `Registered Model (name=${name}) already exists.`,
        );
      const projectId = await projectForNewModel(ctx.db, ctx.principal.orgId, body.tags ?? []);
      const [model] = await ctx.db
        .insert(registeredModels)
        .values({ projectId, name, description: body.description ?? '' })
        .onConflictDoNothing()
        .returning();
      if (!model)
        throw new MlflowError(
          'RESOURCE_ALREADY_EXISTS',
          `Registered Model (name=${name}) already exists.`,
        );
      return { json: { registered_model: await modelReply(ctx.db, model) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/registered-models/get`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetRegisteredModel',
    query: z.object({ name: z.string() }),
    response: { status: 200, description: '{registered_model}' },
    handle: async (ctx, { query }) => ({
      json: {
        registered_model: await modelReply(
          ctx.db,
          await modelOf(ctx.db, ctx.principal.orgId, query.name),
        ),
      },
    }),
  }),
  defineRoute({
    method: 'PATCH',
    path: `${P}/registered-models/update`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow UpdateRegisteredModel: the description',
    body: z.object({ name: z.string(), description: z.string().max(2000).optional() }),
    response: { status: 200, description: '{registered_model}' },
    handle: async (ctx, { body }) => {
      const model = await modelOf(ctx.db, ctx.principal.orgId, body.name);
      const [row] = await ctx.db
        .update(registeredModels)
        .set({ description: body.description ?? '' })
        .where(eq(registeredModels.id, model.id))
        .returning();
      return { json: { registered_model: await modelReply(ctx.db, row ?? model) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/registered-models/search`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow SearchRegisteredModels: filter on name (=, LIKE, ILIKE), pages',
    query: z.object({
      filter: z.string().max(10_000).optional(),
      max_results: maxResults(100),
      page_token: pageToken,
    }),
    response: { status: 200, description: '{registered_models, next_page_token}' },
    handle: async (ctx, { query }) => {
      const clauses = parseFilter(query.filter);
      for (const c of clauses)
        if (c.entity === 'tag' ? false : c.entity !== 'attribute' || c.key !== 'name')
          throw invalid(`filter: registered models are searched by name and tags, not ${c.key}`);
      const projects = await listProjects(ctx.db, ctx.principal.orgId);
      const models = await modelsOfProjects(
        ctx.db,
        projects.map((p) => p.id),
      );
      const kept = models.filter((m) =>
        clauses.every((c) => (c.entity === 'tag' ? untagged(c) : compare(m.name, c))),
      );
      const offset = offsetOf(query.page_token);
      const page = kept.slice(offset, offset + query.max_results);
      const versions = await versionsOf(
        ctx.db,
        page.map((m) => m.id),
      );
      return {
        json: {
          registered_models: page.map((m) => registeredModelJson(m, versions.get(m.id) ?? [])),
          next_page_token: tokenAfter(offset, query.max_results, kept.length),
        },
      };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/registered-models/get-latest-versions`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetLatestVersions: Anneal has no stages, so the latest version (stage None)',
    body: z.object({ name: z.string(), stages: z.array(z.string()).optional() }),
    response: { status: 200, description: '{model_versions}' },
    handle: async (ctx, { body }) => {
      const model = await modelOf(ctx.db, ctx.principal.orgId, body.name);
      const versions = (await versionsOf(ctx.db, [model.id])).get(model.id) ?? [];
      const latest = versions.at(-1);
      const wantsNone = !body.stages?.length || body.stages.some((s) => s.toLowerCase() === 'none');
      return {
        json: { model_versions: latest && wantsNone ? [modelVersionJson(latest)] : [] },
      };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/model-versions/create`,
    access: EDITOR,
    tag: TAG,
    summary: "MLflow CreateModelVersion: a version from a run's artifacts, READY at once",
    body: z.object({
      name: z.string(),
      source: z.string().max(2000),
      run_id: z.string().optional(),
      tags: z.array(tag).optional(),
      run_link: z.string().optional(),
      description: z.string().max(2000).optional(),
      model_id: z.string().optional(),
    }),
    response: { status: 200, description: '{model_version}' },
    handle: async (ctx, { body }) => {
      // The ids first: another organization's run is not found, whatever else is wrong.
      if (body.run_id) await runOf(ctx.db, ctx.principal.orgId, body.run_id);
      const model = await modelOf(ctx.db, ctx.principal.orgId, body.name);
      const source = parseSource(body.source);
      if (body.run_id && body.run_id !== source.runId)
        throw invalid(
          `source: names run ${source.runId}, but run_id is ${body.run_id}; Anneal records one source run`,
        );
      const run = await runOf(ctx.db, ctx.principal.orgId, source.runId);
      if (run.projectId !== model.projectId)
        throw invalid(
          `run_id: run ${run.id} belongs to another project than registered model "${model.name}"`,
        );
      const created = await registerVersion(
        ctx.db,
        ctx.principal.orgId,
        model.projectId,
        model.name,
        {
          sourceRunId: run.id,
          artifactPath: source.path,
          description: body.description ?? '',
          metadata: {},
          aliases: [],
        },
      );
      const { version } = await versionOf(
        ctx.db,
        ctx.principal.orgId,
        model.name,
        String(created.version),
      );
      return { json: { model_version: modelVersionJson(version) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/model-versions/get`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetModelVersion',
    query: z.object({ name: z.string(), version: z.string() }),
    response: { status: 200, description: '{model_version}' },
    handle: async (ctx, { query }) => ({
      json: {
        model_version: modelVersionJson(
          (await versionOf(ctx.db, ctx.principal.orgId, query.name, query.version)).version,
        ),
      },
    }),
  }),
  defineRoute({
    method: 'PATCH',
    path: `${P}/model-versions/update`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow UpdateModelVersion: the description',
    body: z.object({
      name: z.string(),
      version: z.union([z.string(), z.number()]).transform(String),
      description: z.string().max(2000).optional(),
    }),
    response: { status: 200, description: '{model_version}' },
    handle: async (ctx, { body }) => {
      const { model, version } = await versionOf(
        ctx.db,
        ctx.principal.orgId,
        body.name,
        body.version,
      );
      await ctx.db
        .update(modelVersions)
        .set({ description: body.description ?? '' })
        .where(
          and(eq(modelVersions.modelId, model.id), eq(modelVersions.version, version.version)),
        );
      const updated = await versionOf(ctx.db, ctx.principal.orgId, body.name, body.version);
      return { json: { model_version: modelVersionJson(updated.version) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/model-versions/search`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow SearchModelVersions: filter on name, run_id, source_path; pages',
    query: z.object({
      filter: z.string().max(10_000).optional(),
      max_results: maxResults(10_000),
      page_token: pageToken,
    }),
    response: { status: 200, description: '{model_versions, next_page_token}' },
    handle: async (ctx, { query }) => {
      const clauses = parseFilter(query.filter);
      const projects = await listProjects(ctx.db, ctx.principal.orgId);
      const models = await modelsOfProjects(
        ctx.db,
        projects.map((p) => p.id),
      );
      const byModel = await versionsOf(
        ctx.db,
        models.map((m) => m.id),
      );
      const all = [...byModel.values()].flat().map(modelVersionJson);
      const value = (v: (typeof all)[number], c: Clause) => {
        if (c.entity !== 'attribute')
          throw invalid(
            `filter: model versions are searched by name, run_id, source_path or version_number`,
          );
        switch (c.key) {
          case 'name':
            return v.name;
          case 'run_id':
            return v.run_id;
          case 'source_path':
            return v.source;
          case 'version_number':
            return Number(v.version);
          default:
            throw invalid(`filter: model versions have no attribute "${c.key}"`);
        }
      };
      const kept = all
        .filter((v) =>
          clauses.every((c) => (c.entity === 'tag' ? untagged(c) : compare(value(v, c), c))),
        )
        .sort((a, b) => a.name.localeCompare(b.name) || Number(b.version) - Number(a.version));
      const offset = offsetOf(query.page_token);
      return {
        json: {
          model_versions: kept.slice(offset, offset + query.max_results),
          next_page_token: tokenAfter(offset, query.max_results, kept.length),
        },
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/model-versions/get-download-uri`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetModelVersionDownloadUri: where the version’s files are served',
    query: z.object({ name: z.string(), version: z.string() }),
    response: { status: 200, description: '{artifact_uri}' },
    handle: async (ctx, { query }) => {
      const { version } = await versionOf(ctx.db, ctx.principal.orgId, query.name, query.version);
      return { json: { artifact_uri: modelVersionJson(version).source } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/registered-models/alias`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow SetRegisteredModelAlias',
    body: z.object({
      name: z.string(),
      alias: z.string(),
      version: z.union([z.string(), z.number()]).transform(String),
    }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      const alias = checkAlias(body.alias);
      const { model, version } = await versionOf(
        ctx.db,
        ctx.principal.orgId,
        body.name,
        body.version,
      );
      await setAlias(
        ctx.db,
        ctx.principal.orgId,
        model.projectId,
        model.name,
        alias,
        version.version,
      );
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${P}/registered-models/alias`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow DeleteRegisteredModelAlias',
    body: z.object({ name: z.string(), alias: z.string() }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      const model = await modelOf(ctx.db, ctx.principal.orgId, body.name);
      await removeAlias(ctx.db, ctx.principal.orgId, model.projectId, model.name, body.alias);
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${P}/registered-models/alias`,
    access: VIEWER,
    tag: TAG,
    summary: 'MLflow GetModelVersionByAlias',
    query: z.object({ name: z.string(), alias: z.string() }),
    response: { status: 200, description: '{model_version}' },
    handle: async (ctx, { query }) => ({
      json: {
        model_version: modelVersionJson(
          (await versionByAlias(ctx.db, ctx.principal.orgId, query.name, query.alias)).version,
        ),
      },
    }),
  }),

  // ---- the mlflow-artifacts proxy: run artifacts at <experiment_id>/<run_id>/artifacts/<path>
  defineRoute({
    method: 'PUT',
    path: '/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{path*}',
    access: EDITOR,
    tag: TAG,
    summary: "mlflow-artifacts upload: one file into the run's artifacts",
    params: z.object({ experiment_id: z.string(), run_id: z.string(), path: z.string() }),
    body: 'stream',
    bodyTypes: ['application/octet-stream'],
    response: { status: 200, description: '{}' },
    handle: async (ctx, { params, body }) => {
      const run = await artifactRun(ctx.db, ctx.principal.orgId, params);
      await uploadArtifact(
        ctx.db,
        ctx.store,
        ctx.principal.orgId,
        run.id,
        params.path,
        body,
        ctx.config.uploadLimit,
      );
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{path*}',
    access: VIEWER,
    tag: TAG,
    summary: "mlflow-artifacts download: one file of the run's artifacts",
    params: z.object({ experiment_id: z.string(), run_id: z.string(), path: z.string() }),
    response: { status: 200, description: 'The bytes', binary: true },
    handle: async (ctx, { params }) => {
      const run = await artifactRun(ctx.db, ctx.principal.orgId, params);
      const artifact = await findArtifact(ctx.db, ctx.principal.orgId, run.id, params.path);
      const { stream, size } = await ctx.store.open(artifact.sha256);
      return { stream, size, contentType: 'application/octet-stream' };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/mlflow-artifacts/artifacts',
    access: VIEWER,
    tag: TAG,
    summary: 'mlflow-artifacts list: the files and folders directly under a path',
    query: z.object({ path: z.string().optional() }),
    response: { status: 200, description: '{files}' },
    handle: async (ctx, { query }) => {
      const m = /^([^/]+)\/([^/]+)\/artifacts(?:\/(.*?))?\/?$/.exec(query.path ?? '');
      // Above a run's artifacts there is nothing to list: MLflow answers an empty folder.
      if (!m) return { json: {} };
      const run = await artifactRun(ctx.db, ctx.principal.orgId, {
        experiment_id: m[1] as string,
        run_id: m[2] as string,
      });
      const prefix = m[3] ? `${m[3]}/` : '';
      const files = new Map<string, { path: string; is_dir: boolean; file_size?: number }>();
      for (const a of await listArtifacts(ctx.db, ctx.principal.orgId, run.id)) {
        if (!a.path.startsWith(prefix)) {
          // A path naming one file lists that file, as MLflow's local store does.
          if (`${a.path}/` === prefix) {
            const name = a.path.split('/').pop() as string;
            files.set(name, { path: name, is_dir: false, file_size: a.size });
          }
          continue;
        }
        const rest = a.path.slice(prefix.length);
        const [first, ...more] = rest.split('/');
        if (!first) continue;
        files.set(
          first,
          more.length
            ? { path: first, is_dir: true }
            : { path: first, is_dir: false, file_size: a.size },
        );
      }
      return { json: files.size ? { files: [...files.values()] } : {} };
    },
  }),
];

async function modelsOfProjects(db: Db, projectIds: string[]) {
  if (projectIds.length === 0) return [];
  return db
    .select()
    .from(registeredModels)
    .where(inArray(registeredModels.projectId, projectIds))
    .orderBy(asc(registeredModels.name), asc(registeredModels.id));
}

/** The run of an artifact path, which must sit in the experiment the path names. */
async function artifactRun(
  db: Db,
  orgId: string,
  p: { experiment_id: string; run_id: string },
): Promise<RunRow> {
  const run = await runOf(db, orgId, p.run_id);
  if (run.projectId !== p.experiment_id)
    throw new MlflowError(
      'RESOURCE_DOES_NOT_EXIST',
      `run_id: run ${run.id} is not in experiment ${p.experiment_id}`,
    );
  return run;
}
