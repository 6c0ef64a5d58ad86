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
import { defineRoute } from '../route.ts';

export const jobOutput = z.object({
  id: z.uuid(),
  projectId: z.uuid(),
  runId: z.uuid().nullable(),
  type: z.string(),
  spec: z.record(z.string(), z.unknown()),
  status: z.string(),
  attempts: z.number(),
  maxAttempts: z.number(),
  agentId: z.uuid().nullable(),
  step: z.number().nullable(),
  error: z.string().nullable(),
  /** Why a queued job waits when no connected agent can run it (e.g. its memory need). */
  waiting: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type JobOutput = z.infer<typeof jobOutput>;

export function toJobOutput(
  row: Awaited<ReturnType<typeof getJob>> & { waiting?: string | null },
): JobOutput {
  return {
    id: row.id,
    projectId: row.projectId,
    runId: row.runId,
    type: row.type,
    spec: row.spec,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.maxAttempts,
    agentId: row.leaseOwner,
    step: row.step,
    error: row.error,
    waiting: row.waiting ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const jobId = z.object({ jobId: z.uuid() });

export const jobRoutes = [
  defineRoute({
    method: 'POST',
    path: '/projects/{projectId}/jobs',
    access: { role: 'editor', agent: 'none' },
    tag: 'jobs',
    summary: 'Queue a job (train or sample) and create its run; an agent leases it',
    params: z.object({ projectId: z.uuid() }),
    body: createJobInput,
    response: { status: 201, description: 'The queued job', schema: jobOutput },
    handle: async (ctx, { params, body }) => {
      const job = await createJob(
        ctx.db,
        ctx.principal.orgId,
        ctx.principal.userId,
        params.projectId,
        body,
      );
      ctx.events.emitJob({ projectId: params.projectId, jobId: job.id, status: 'queued' });
      return { status: 201, json: toJobOutput(await getJob(ctx.db, ctx.principal.orgId, job.id)) };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/projects/{projectId}/jobs',
    access: { role: 'viewer', agent: 'none' },
    tag: 'jobs',
    summary: 'List a project’s jobs, newest first',
    params: z.object({ projectId: z.uuid() }),
    response: { status: 200, description: 'Jobs', schema: z.object({ jobs: z.array(jobOutput) }) },
    handle: async (ctx, { params }) => ({
      json: {
        jobs: (
          await withWaitReasons(
            ctx.db,
            ctx.principal.orgId,
            await listJobs(ctx.db, ctx.principal.orgId, params.projectId),
            ctx.agents?.connectedAgents(),
          )
        ).map(toJobOutput),
      },
    }),
  }),
  defineRoute({
    method: 'GET',
    path: '/jobs/{jobId}',
    access: { role: 'viewer', agent: 'none' },
    tag: 'jobs',
    summary: 'Read a job: status, attempts, progress (last step) and its run',
    params: jobId,
    response: { status: 200, description: 'The job', schema: jobOutput },
    handle: async (ctx, { params }) => ({
      json: toJobOutput(
        (
          await withWaitReasons(
            ctx.db,
            ctx.principal.orgId,
            [await getJob(ctx.db, ctx.principal.orgId, params.jobId)],
            ctx.agents?.connectedAgents(),
          )
        )[0] as Awaited<ReturnType<typeof getJob>> & { waiting: string | null },
      ),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/jobs/{jobId}/cancel',
    access: { role: 'editor', agent: 'none' },
    tag: 'jobs',
    summary: 'Cancel a job; its agent stops the job’s process',
    params: jobId,
    response: { status: 200, description: 'The cancelled job', schema: jobOutput },
    handle: async (ctx, { params }) => {
      const before = await cancelJob(ctx.db, ctx.principal.orgId, params.jobId);
      ctx.agents?.cancel(before.id, before.leaseId, before.leaseOwner, 'cancelled');
      ctx.events.emitJob({ projectId: before.projectId, jobId: before.id, status: 'cancelled' });
      return { json: toJobOutput(await getJob(ctx.db, ctx.principal.orgId, params.jobId)) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/jobs/{jobId}/retry',
    access: { role: 'editor', agent: 'none' },
    tag: 'jobs',
    summary: 'Queue a failed or cancelled job again; it resumes from its last checkpoint',
    params: jobId,
    response: { status: 200, description: 'The queued job', schema: jobOutput },
    handle: async (ctx, { params }) => {
      const job = await retryJob(ctx.db, ctx.principal.orgId, params.jobId);
      ctx.events.emitJob({ projectId: job.projectId, jobId: job.id, status: 'queued' });
      return { json: toJobOutput(job) };
    },
  }),
];
