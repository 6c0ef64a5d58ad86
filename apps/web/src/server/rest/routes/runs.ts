import { mlflowDatasetInputSchema } from '@anneal/db/schema';
import { INT4_MAX } from '@anneal/protocol';
import { z } from 'zod';
import { runGroup } from '../../domain/jobs/groups.ts';
import { appendLogs, appendLogsInput, readLogs } from '../../domain/runs/logs.ts';
import { logMetrics, logMetricsInput, readMetrics } from '../../domain/runs/metrics.ts';
import {
  createRun,
  createRunInput,
  getRun,
  updateRun,
  updateRunInput,
} from '../../domain/runs/runs.ts';
import { defineRoute } from '../route.ts';

const runId = z.object({ runId: z.uuid() });
const run = z.object({
  id: z.uuid(),
  projectId: z.uuid(),
  name: z.string(),
  status: z.string(),
  params: z.record(z.string(), z.unknown()),
  tags: z.record(z.string(), z.string()),
  parentRunId: z.uuid().nullable(),
  datasetVersionId: z.uuid().nullable(),
  datasetBuiltin: z.string().nullable(),
  /** The job that writes this run, for runs queued as jobs. */
  jobId: z.uuid().nullable(),
  /** The step of the last complete uploaded checkpoint: where a re-leased job resumes. */
  checkpointStep: z.number().int().nullable(),
  createdBy: z.uuid().nullable(),
  startedAt: z.iso.datetime(),
  endedAt: z.iso.datetime().nullable(),
  /** Dataset and logged-model inputs recorded by MLflow's runs/log-inputs, in MLflow's JSON. */
  mlflowInputs: z.object({
    datasets: z.array(mlflowDatasetInputSchema),
    models: z.array(z.object({ model_id: z.string() })),
  }),
  /** Set while the run is deleted through MLflow (soft: it is hidden from lists). */
  deletedAt: z.iso.datetime().nullable(),
});

export const runRoutes = [
  defineRoute({
    method: 'POST',
    path: '/projects/{projectId}/runs',
    access: { role: 'editor', agent: 'none' },
    tag: 'runs',
    summary: 'Start a run with params, tags and an optional parent run',
    params: z.object({ projectId: z.uuid() }),
    body: createRunInput,
    response: { status: 201, description: 'The new run', schema: run },
    handle: async (ctx, { params, body }) => ({
      status: 201,
      json: await createRun(
        ctx.db,
        ctx.principal.orgId,
        ctx.principal.userId,
        params.projectId,
        body,
      ),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/runs/{runId}',
    access: { role: 'viewer', agent: 'none' },
    tag: 'runs',
    summary: 'Read a run',
    params: runId,
    response: { status: 200, description: 'The run', schema: run },
    handle: async (ctx, { params }) => ({
      json: await getRun(ctx.db, ctx.principal.orgId, params.runId),
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/runs/{runId}/group',
    access: { role: 'viewer', agent: 'none' },
    tag: 'runs',
    summary:
      "A data-parallel run's group, attempt by attempt: each rank's agent, address and times (null for a run on one agent)",
    params: runId,
    response: {
      status: 200,
      description: 'The group',
      schema: z
        .object({
          ranks: z.number().int(),
          attempts: z.array(
            z.object({
              attempt: z.number().int(),
              members: z.array(
                z.object({
                  rank: z.number().int(),
                  agentId: z.uuid().nullable(),
                  agent: z.string().nullable(),
                  address: z.string().nullable(),
                  leasedAt: z.iso.datetime(),
                  readyAt: z.iso.datetime().nullable(),
                  finishedAt: z.iso.datetime().nullable(),
                }),
              ),
            }),
          ),
        })
        .nullable(),
    },
    handle: async (ctx, { params }) => ({
      json: await runGroup(ctx.db, ctx.principal.orgId, params.runId),
    }),
  }),
  defineRoute({
    method: 'PATCH',
    path: '/runs/{runId}',
    access: { role: 'editor', agent: 'write-leased-run' },
    tag: 'runs',
    summary: 'Update a run: status (finished runs get an end time), merge tags and params',
    params: runId,
    body: updateRunInput,
    response: { status: 200, description: 'The updated run', schema: run },
    handle: async (ctx, { params, body }) => {
      const updated = await updateRun(ctx.db, ctx.principal.orgId, params.runId, body);
      ctx.events.emit({ type: 'status', runId: params.runId, status: updated.status });
      return { json: updated };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/runs/{runId}/metrics',
    access: { role: 'editor', agent: 'write-leased-run' },
    tag: 'metrics',
    summary: 'Log a batch of metrics; idempotent on (run, key, step)',
    params: runId,
    body: logMetricsInput,
    response: {
      status: 200,
      description: 'How many points were stored',
      schema: z.object({ accepted: z.number() }),
    },
    handle: async (ctx, { params, body }) => {
      const result = await logMetrics(ctx.db, ctx.principal.orgId, params.runId, body.metrics);
      ctx.events.emit({
        type: 'metrics',
        runId: params.runId,
        keys: [...new Set(body.metrics.map((m) => m.key))],
      });
      return { json: result };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/runs/{runId}/metrics',
    access: { role: 'viewer', agent: 'none' },
    tag: 'metrics',
    summary: 'Read metric series, optionally only some keys (comma-separated)',
    params: runId,
    query: z.object({ keys: z.string().optional() }),
    response: {
      status: 200,
      description: 'Series by key',
      schema: z.object({
        metrics: z.array(
          z.object({
            key: z.string(),
            points: z.array(
              z.object({ step: z.number(), value: z.number(), time: z.iso.datetime() }),
            ),
          }),
        ),
      }),
    },
    handle: async (ctx, { params, query }) => ({
      json: {
        metrics: await readMetrics(
          ctx.db,
          ctx.principal.orgId,
          params.runId,
          query.keys?.split(',').filter(Boolean),
        ),
      },
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/runs/{runId}/logs',
    access: { role: 'editor', agent: 'write-leased-run' },
    tag: 'runs',
    summary: 'Append log lines; idempotent on (run, seq)',
    params: runId,
    body: appendLogsInput,
    response: {
      status: 200,
      description: 'How many lines were sent',
      schema: z.object({ accepted: z.number() }),
    },
    handle: async (ctx, { params, body }) => {
      const result = await appendLogs(ctx.db, ctx.principal.orgId, params.runId, body.lines);
      ctx.events.emit({ type: 'logs', runId: params.runId });
      return { json: result };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/runs/{runId}/logs',
    access: { role: 'viewer', agent: 'none' },
    tag: 'runs',
    summary: 'Read log lines after a sequence number',
    params: runId,
    query: z.object({ after: z.coerce.number().int().min(-1).max(INT4_MAX).default(-1) }),
    response: {
      status: 200,
      description: 'Log lines',
      schema: z.object({
        lines: z.array(z.object({ seq: z.number(), line: z.string(), time: z.iso.datetime() })),
      }),
    },
    handle: async (ctx, { params, query }) => ({
      json: { lines: await readLogs(ctx.db, ctx.principal.orgId, params.runId, query.after) },
    }),
  }),
];
