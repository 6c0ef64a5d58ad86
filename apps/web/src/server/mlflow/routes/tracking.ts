import { projects, runs } from '@anneal/db/schema';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { deleteProjectSoftly, restoreProject } from '../../domain/projects/lifecycle.ts';
import { createProject, listProjects, projectNamed } from '../../domain/projects/projects.ts';
import { deleteRunSoftly, restoreRun } from '../../domain/runs/lifecycle.ts';
import { defineRoute, type RestRoute } from '../../rest/route.ts';
import { experimentJson, MLFLOW_TO_RUN_STATUS, runInfoJson, runJson } from '../entities.ts';
import { invalid, MlflowError } from '../errors.ts';
import { logModelMetrics } from '../logged-models.ts';
import { searchRuns } from '../run-search.ts';
import {
  type Clause,
  compare,
  compareValues,
  type OrderBy,
  parseFilter,
  parseOrderBy,
} from '../search.ts';
import {
  activeRunOf,
  DEFAULT_EXPERIMENT_NAME,
  defaultProject,
  experimentOf,
  inView,
  mergeParamsAndTags,
  metricHistory,
  runOf,
  viewTypeOf,
} from '../store.ts';
import {
  batchLimit,
  EDITOR,
  emitWrites,
  int64,
  key,
  logBatchBody,
  logMetricPoints,
  MLFLOW_LIMITS,
  maxResults,
  metric,
  offsetOf,
  P,
  pageToken,
  param,
  readLimitedJson,
  runIdInput,
  runIdOf,
  runReply,
  TAG,
  tag,
  tokenAfter,
  VIEWER,
} from './common.ts';

export const trackingRoutes: RestRoute[] = [
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
      // A deleted experiment still holds its name, as in MLflow.
      // Every MLflow server has its Default experiment, so the name is always taken.
      if (
        body.name === DEFAULT_EXPERIMENT_NAME ||
        (await projectNamed(ctx.db, ctx.principal.orgId, body.name))
      )
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
      const found =
        query.experiment_name === DEFAULT_EXPERIMENT_NAME
          ? await defaultProject(ctx.db, ctx.principal.orgId)
          : await projectNamed(ctx.db, ctx.principal.orgId, query.experiment_name);
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
      view_type: z.union([z.string(), z.number()]).optional(),
    }),
    response: { status: 200, description: '{experiments, next_page_token}' },
    handle: async (ctx, { body }) => {
      const view = viewTypeOf('view_type', body.view_type);
      const clauses = parseFilter(body.filter);
      const order = parseOrderBy(body.order_by);
      const all = (await listProjects(ctx.db, ctx.principal.orgId, { includeDeleted: true }))
        .filter((p) => inView(view, p.deletedAt))
        .map(experimentJson);
      const value = (e: (typeof all)[number], entity: Clause['entity'], k: string) => {
        if (entity === 'tag') return e.tags.find((t) => t.key === k)?.value;
        if (entity !== 'attribute') throw invalid(`filter: experiments have no ${entity}s`);
        if (k === 'name') return e.name;
        if (k === 'creation_time') return e.creation_time;
        if (k === 'last_update_time') return e.last_update_time;
        if (k === 'experiment_id') return e.experiment_id;
        if (k === 'lifecycle_stage') return e.lifecycle_stage;
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

  defineRoute({
    method: 'POST',
    path: `${P}/experiments/delete`,
    access: EDITOR,
    tag: TAG,
    summary:
      'MLflow DeleteExperiment: soft, with all its runs (hidden in Anneal, restorable); refused for a project with job runs or registered models',
    body: z.object({ experiment_id: z.string() }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      const project = await experimentOf(ctx.db, ctx.principal.orgId, body.experiment_id);
      if (project.deletedAt)
        throw new MlflowError(
          'RESOURCE_DOES_NOT_EXIST',
          `No Experiment with id=${body.experiment_id} exists`,
        );
      await deleteProjectSoftly(ctx.db, ctx.principal.orgId, project.id);
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/experiments/restore`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow RestoreExperiment: the project and all its runs are active again',
    body: z.object({ experiment_id: z.string() }),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      const project = await experimentOf(ctx.db, ctx.principal.orgId, body.experiment_id);
      if (!project.deletedAt)
        throw new MlflowError(
          'RESOURCE_DOES_NOT_EXIST',
          `No Experiment with id=${body.experiment_id} exists`,
        );
      await restoreProject(ctx.db, ctx.principal.orgId, project.id);
      return { json: {} };
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
      if (project.deletedAt)
        throw invalid(
          `The experiment ${project.id} must be in the 'active' state. Current state is deleted.`,
        );
      const tags: Record<string, string> = {};
      for (const t of body.tags ?? []) tags[t.key] = t.value;
      if (body.user_id && !tags['mlflow.user']) tags['mlflow.user'] = body.user_id;
      const name =
        body.run_name ||
        tags['mlflow.runName'] ||
        `run-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}`;
      tags['mlflow.runName'] = name;
      const [row] = await ctx.db.transaction(async (tx) => {
        // Under a share lock on the project, as Anneal's createRun: an experiments/delete at
        // the same moment either marks this run deleted too, or is seen here.
        const [locked] = await tx
          .select({ deletedAt: projects.deletedAt })
          .from(projects)
          .where(eq(projects.id, project.id))
          .for('share');
        if (locked?.deletedAt)
          throw invalid(
            `The experiment ${project.id} must be in the 'active' state. Current state is deleted.`,
          );
        return tx
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
      });
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
      const run = await activeRunOf(ctx.db, ctx.principal.orgId, runIdOf(body));
      const status = body.status ? MLFLOW_TO_RUN_STATUS[body.status] : undefined;
      // A job's run follows its job (lease, retries, cancel); a status set here would lie.
      if (run.jobId && status !== undefined && status !== run.status)
        throw invalid(
          `status: run ${run.id} belongs to Anneal job ${run.jobId}, whose agent sets its status; cancel the job through Anneal instead`,
        );
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
    summary:
      'MLflow DeleteRun: soft (lifecycle_stage "deleted", hidden in Anneal, restorable); refused for a job’s run or a model version’s source',
    body: z.object(runIdInput),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      const run = await runOf(ctx.db, ctx.principal.orgId, runIdOf(body));
      await deleteRunSoftly(ctx.db, ctx.principal.orgId, run.id);
      return { json: {} };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${P}/runs/restore`,
    access: EDITOR,
    tag: TAG,
    summary: 'MLflow RestoreRun: a deleted run is active again',
    body: z.object(runIdInput),
    response: { status: 200, description: '{}' },
    handle: async (ctx, { body }) => {
      const run = await runOf(ctx.db, ctx.principal.orgId, runIdOf(body));
      await restoreRun(ctx.db, ctx.principal.orgId, run.id, 'run_id');
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
      run_view_type: z.union([z.string(), z.number()]).optional(),
      max_results: maxResults(1000),
      order_by: z.array(z.string()).optional(),
      // A position in the order (its keys' values), so longer than an offset's token.
      page_token: z.string().max(100_000).optional(),
    }),
    response: { status: 200, description: '{runs, next_page_token}' },
    handle: async (ctx, { body }) => {
      const projectIds: string[] = [];
      for (const id of body.experiment_ids)
        projectIds.push((await experimentOf(ctx.db, ctx.principal.orgId, id)).id);
      const view = viewTypeOf('run_view_type', body.run_view_type);
      const found = await searchRuns(ctx.db, {
        projectIds,
        view,
        clauses: parseFilter(body.filter),
        order: parseOrderBy(body.order_by),
        pageToken: body.page_token,
        maxResults: body.max_results,
      });
      return {
        json: {
          runs: found.page.map((r) => runJson(r, found.latest.get(r.id) ?? [])),
          next_page_token: found.next,
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
      const run = await activeRunOf(ctx.db, ctx.principal.orgId, runIdOf(body));
      await logModelMetrics(ctx.db, ctx.principal.orgId, run, [body]);
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
      const run = await activeRunOf(ctx.db, ctx.principal.orgId, runIdOf(body));
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
      const run = await activeRunOf(ctx.db, ctx.principal.orgId, runIdOf(body));
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
      const run = await activeRunOf(ctx.db, ctx.principal.orgId, runIdOf(body));
      await logModelMetrics(ctx.db, ctx.principal.orgId, run, body.metrics);
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
];
