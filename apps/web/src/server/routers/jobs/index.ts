import { z } from 'zod';
import {
  cancelJobAndNotify,
  createJobInput,
  jobOutput,
  listJobViews,
  retryJobAndNotify,
  submitJob,
} from '../../domain/jobs/jobs.ts';
import { getProject } from '../../domain/projects/projects.ts';
import { editorProcedure, router, viewerProcedure } from '../../trpc/init.ts';

const jobId = z.object({ jobId: z.uuid() });

/** The dashboard's jobs: queue, list with progress, cancel, retry (the same domain calls as REST). */
export const jobsRouter = router({
  list: viewerProcedure
    .input(z.object({ projectId: z.uuid() }))
    .output(z.array(jobOutput))
    .query(({ ctx, input }) => listJobViews(ctx, ctx.principal.orgId, input.projectId)),
  create: editorProcedure
    .input(createJobInput.extend({ projectId: z.uuid() }))
    .output(jobOutput)
    .mutation(({ ctx, input }) => {
      const { projectId, ...job } = input;
      return submitJob(ctx, ctx.principal, projectId, job);
    }),
  cancel: editorProcedure
    .input(jobId)
    .output(jobOutput)
    .mutation(({ ctx, input }) => cancelJobAndNotify(ctx, ctx.principal.orgId, input.jobId)),
  retry: editorProcedure
    .input(jobId)
    .output(jobOutput)
    .mutation(({ ctx, input }) => retryJobAndNotify(ctx, ctx.principal.orgId, input.jobId)),
  /**
   * Live changes to a project's jobs (server-sent events): status changes, and progress as
   * agents report it, so the list needs no polling.
   */
  watch: viewerProcedure
    .input(z.object({ projectId: z.uuid() }))
    // Resolved before the stream opens: an unknown or foreign project answers NOT_FOUND.
    .subscription(async ({ ctx, input, signal }) => {
      await getProject(ctx.db, ctx.principal.orgId, input.projectId);
      return ctx.events.watchJobs(input.projectId, signal);
    }),
});
