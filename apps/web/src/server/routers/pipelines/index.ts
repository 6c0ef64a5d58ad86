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
import { editorProcedure, router, viewerProcedure } from '../../trpc/init.ts';

const project = z.object({ projectId: z.uuid() });
const pipeline = z.object({ pipelineId: z.uuid() });
const run = z.object({ pipelineRunId: z.uuid() });

export const pipelinesRouter = router({
  list: viewerProcedure
    .input(project)
    .output(z.array(pipelineOutput))
    .query(async ({ ctx, input }) =>
      pipelineViews(ctx.db, await listPipelines(ctx.db, ctx.principal.orgId, input.projectId)),
    ),
  get: viewerProcedure
    .input(pipeline)
    .output(pipelineOutput)
    .query(async ({ ctx, input }) => {
      const [view] = await pipelineViews(ctx.db, [
        await getPipeline(ctx.db, ctx.principal.orgId, input.pipelineId),
      ]);
      return view as z.infer<typeof pipelineOutput>;
    }),
  create: editorProcedure
    .input(createPipelineInput.extend(project.shape))
    .output(pipelineOutput)
    .mutation(async ({ ctx, input }) => {
      const { projectId, ...body } = input;
      const [view] = await pipelineViews(ctx.db, [
        await createPipeline(ctx.db, ctx.principal, projectId, body),
      ]);
      return view as z.infer<typeof pipelineOutput>;
    }),
  update: editorProcedure
    .input(updatePipelineInput.extend(pipeline.shape))
    .output(pipelineOutput)
    .mutation(async ({ ctx, input }) => {
      const { pipelineId, ...body } = input;
      const [view] = await pipelineViews(ctx.db, [
        await updatePipeline(ctx.db, ctx.principal.orgId, pipelineId, body),
      ]);
      return view as z.infer<typeof pipelineOutput>;
    }),
  runs: viewerProcedure
    .input(z.union([pipeline, project]))
    .output(z.array(pipelineRunOutput))
    .query(async ({ ctx, input }) => {
      const rows = await listPipelineRuns(ctx.db, ctx.principal.orgId, input);
      return Promise.all(rows.map((r) => pipelineRunView(ctx.db, r)));
    }),
  run: viewerProcedure
    .input(run)
    .output(pipelineRunOutput)
    .query(async ({ ctx, input }) =>
      pipelineRunView(
        ctx.db,
        await getPipelineRun(ctx.db, ctx.principal.orgId, input.pipelineRunId),
      ),
    ),
  trigger: editorProcedure
    .input(triggerPipelineInput.extend(pipeline.shape))
    .output(pipelineRunOutput)
    .mutation(async ({ ctx, input }) => {
      const { pipelineId, ...body } = input;
      const started = await triggerPipeline(ctx.db, ctx.principal, pipelineId, body, 'dashboard');
      await ctx.pipelines?.advanceOne(started.id);
      return pipelineRunView(ctx.db, await getPipelineRun(ctx.db, ctx.principal.orgId, started.id));
    }),
  cancel: editorProcedure
    .input(run)
    .output(pipelineRunOutput)
    .mutation(async ({ ctx, input }) =>
      pipelineRunView(
        ctx.db,
        await cancelPipelineRun(ctx, ctx.principal.orgId, input.pipelineRunId),
      ),
    ),
  fromAlert: editorProcedure
    .input(z.object({ alertId: z.uuid() }))
    .output(pipelineRunOutput)
    .mutation(({ ctx, input }) => runSuggestion(ctx, ctx.principal, input.alertId)),
});
