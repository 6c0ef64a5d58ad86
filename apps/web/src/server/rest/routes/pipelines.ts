import { z } from 'zod';
import {
  cancelPipelineRun,
  createPipeline,
  createPipelineInput,
  getPipeline,
  getPipelineRun,
  listPipelineRuns,
  listPipelines,
  triggerPipeline,
  triggerPipelineInput,
  updatePipeline,
  updatePipelineInput,
} from '../../domain/pipelines/pipelines.ts';
import { runSuggestion } from '../../domain/pipelines/suggested.ts';
import {
  pipelineOutput,
  pipelineRunOutput,
  pipelineRunView,
  pipelineViews,
} from '../../domain/pipelines/views.ts';
import { defineRoute } from '../route.ts';

const pipelineId = z.object({ pipelineId: z.uuid() });
const pipelineRunId = z.object({ pipelineRunId: z.uuid() });

export const pipelineRoutes = [
  defineRoute({
    method: 'POST',
    path: '/projects/{projectId}/pipelines',
    access: { role: 'editor', agent: 'none' },
    tag: 'pipelines',
    summary:
      'Save a pipeline: a DAG of job kinds, register and deploy nodes, with conditions and retries',
    params: z.object({ projectId: z.uuid() }),
    body: createPipelineInput,
    response: { status: 201, description: 'The pipeline', schema: pipelineOutput },
    handle: async (ctx, { params, body }) => {
      const row = await createPipeline(ctx.db, ctx.principal, params.projectId, body);
      const [view] = await pipelineViews(ctx.db, [row]);
      return { status: 201, json: view };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/projects/{projectId}/pipelines',
    access: { role: 'viewer', agent: 'none' },
    tag: 'pipelines',
    summary: 'List a project’s pipelines, each with its last run',
    params: z.object({ projectId: z.uuid() }),
    response: {
      status: 200,
      description: 'Pipelines',
      schema: z.object({ pipelines: z.array(pipelineOutput) }),
    },
    handle: async (ctx, { params }) => ({
      json: {
        pipelines: await pipelineViews(
          ctx.db,
          await listPipelines(ctx.db, ctx.principal.orgId, params.projectId),
        ),
      },
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/pipelines/{pipelineId}',
    access: { role: 'viewer', agent: 'none' },
    tag: 'pipelines',
    summary: 'One pipeline: its spec and its last run',
    params: pipelineId,
    response: { status: 200, description: 'The pipeline', schema: pipelineOutput },
    handle: async (ctx, { params }) => {
      const row = await getPipeline(ctx.db, ctx.principal.orgId, params.pipelineId);
      const [view] = await pipelineViews(ctx.db, [row]);
      return { json: view };
    },
  }),
  defineRoute({
    method: 'PUT',
    path: '/pipelines/{pipelineId}',
    access: { role: 'editor', agent: 'none' },
    tag: 'pipelines',
    summary: 'Replace a pipeline’s spec (runs under way keep the spec they started with)',
    params: pipelineId,
    body: updatePipelineInput,
    response: { status: 200, description: 'The pipeline', schema: pipelineOutput },
    handle: async (ctx, { params, body }) => {
      const row = await updatePipeline(ctx.db, ctx.principal.orgId, params.pipelineId, body);
      const [view] = await pipelineViews(ctx.db, [row]);
      return { json: view };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/pipelines/{pipelineId}/runs',
    access: { role: 'editor', agent: 'none' },
    tag: 'pipelines',
    summary: 'Trigger a pipeline: a run with these params over the declared defaults',
    params: pipelineId,
    body: triggerPipelineInput,
    response: { status: 201, description: 'The run', schema: pipelineRunOutput },
    handle: async (ctx, { params, body }) => {
      const run = await triggerPipeline(ctx.db, ctx.principal, params.pipelineId, body);
      await ctx.pipelines?.advanceOne(run.id);
      const now = await getPipelineRun(ctx.db, ctx.principal.orgId, run.id);
      return { status: 201, json: await pipelineRunView(ctx.db, now) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/pipelines/{pipelineId}/runs',
    access: { role: 'viewer', agent: 'none' },
    tag: 'pipelines',
    summary: 'A pipeline’s runs, newest first',
    params: pipelineId,
    response: {
      status: 200,
      description: 'Runs',
      schema: z.object({ runs: z.array(pipelineRunOutput) }),
    },
    handle: async (ctx, { params }) => {
      const rows = await listPipelineRuns(ctx.db, ctx.principal.orgId, params);
      return { json: { runs: await Promise.all(rows.map((r) => pipelineRunView(ctx.db, r))) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/pipeline-runs/{pipelineRunId}',
    access: { role: 'viewer', agent: 'none' },
    tag: 'pipelines',
    summary: 'Poll a pipeline run: its status and each node’s status, job, outputs and detail',
    params: pipelineRunId,
    response: { status: 200, description: 'The run', schema: pipelineRunOutput },
    handle: async (ctx, { params }) => ({
      json: await pipelineRunView(
        ctx.db,
        await getPipelineRun(ctx.db, ctx.principal.orgId, params.pipelineRunId),
      ),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/pipeline-runs/{pipelineRunId}/cancel',
    access: { role: 'editor', agent: 'none' },
    tag: 'pipelines',
    summary: 'Cancel a pipeline run and the jobs its nodes hold',
    params: pipelineRunId,
    response: { status: 200, description: 'The cancelled run', schema: pipelineRunOutput },
    handle: async (ctx, { params }) => ({
      json: await pipelineRunView(
        ctx.db,
        await cancelPipelineRun(ctx, ctx.principal.orgId, params.pipelineRunId),
      ),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/alerts/{alertId}/pipeline',
    access: { role: 'editor', agent: 'none' },
    tag: 'pipelines',
    summary:
      'Run an alert’s suggestion as a pipeline: retrain or roll back, evaluate, promote within the FD budget',
    params: z.object({ alertId: z.uuid() }),
    response: { status: 201, description: 'The run', schema: pipelineRunOutput },
    handle: async (ctx, { params }) => {
      const run = await runSuggestion(ctx, ctx.principal, params.alertId);
      return { status: 201, json: run };
    },
  }),
];
