import { z } from 'zod';
import {
  cancelJob,
  createJob,
  createJobInput,
  getJob,
  listJobs,
  retryJob,
} from '../../domain/jobs/jobs.ts';
import { withWaitReasons } from '../../domain/jobs/requirements.ts';
import { getProject } from '../../domain/projects/projects.ts';
import { jobOutput, toJobOutput } from '../../rest/routes/jobs.ts';
import { editorProcedure, router, viewerProcedure } from '../../trpc/init.ts';

const jobId = z.object({ jobId: z.uuid() });

/** The dashboard's jobs: queue, list with progress, cancel, retry (same domain as REST). */
export const jobsRouter = router({
  list: viewerProcedure
    .input(z.object({ projectId: z.uuid() }))
    .output(z.array(jobOutput))
    .query(async ({ ctx, input }) =>
      (
        await withWaitReasons(
          ctx.db,
          ctx.principal.orgId,
          await listJobs(ctx.db, ctx.principal.orgId, input.projectId),
          ctx.agents?.connectedAgents(),
        )
      ).map(toJobOutput),
    ),
  create: editorProcedure
    .input(createJobInput.extend({ projectId: z.uuid() }))
    .output(jobOutput)
    .mutation(async ({ ctx, input }) => {
      const { projectId, ...rest } = input;
      const job = await createJob(
        ctx.db,
        ctx.principal.orgId,
        ctx.principal.userId,
        projectId,
        rest,
      );
      ctx.events.emitJob({ projectId, jobId: job.id, status: 'queued' });
      return toJobOutput(await getJob(ctx.db, ctx.principal.orgId, job.id));
    }),
  cancel: editorProcedure
    .input(jobId)
    .output(jobOutput)
    .mutation(async ({ ctx, input }) => {
      const before = await cancelJob(ctx.db, ctx.principal.orgId, input.jobId);
      ctx.agents?.cancel(before.id, before.leaseId, before.leaseOwner, 'cancelled');
      ctx.events.emitJob({ projectId: before.projectId, jobId: before.id, status: 'cancelled' });
      return toJobOutput(await getJob(ctx.db, ctx.principal.orgId, input.jobId));
    }),
  retry: editorProcedure
    .input(jobId)
    .output(jobOutput)
    .mutation(async ({ ctx, input }) => {
      const job = await retryJob(ctx.db, ctx.principal.orgId, input.jobId);
      ctx.events.emitJob({ projectId: job.projectId, jobId: job.id, status: 'queued' });
      return toJobOutput(job);
    }),
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
