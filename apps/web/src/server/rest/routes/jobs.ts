import { z } from 'zod';
import {
  cancelJobAndNotify,
  createJobInput,
  getJobView,
  jobOutput,
  listJobViews,
  retryJobAndNotify,
  submitJob,
} from '../../domain/jobs/jobs.ts';
import { defineRoute } from '../route.ts';

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
    handle: async (ctx, { params, body }) => ({
      status: 201,
      json: await submitJob(ctx, ctx.principal, params.projectId, body),
    }),
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
      json: { jobs: await listJobViews(ctx, ctx.principal.orgId, params.projectId) },
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
      json: await getJobView(ctx, ctx.principal.orgId, params.jobId),
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
    handle: async (ctx, { params }) => ({
      json: await cancelJobAndNotify(ctx, ctx.principal.orgId, params.jobId),
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/jobs/{jobId}/retry',
    access: { role: 'editor', agent: 'none' },
    tag: 'jobs',
    summary: 'Queue a failed or cancelled job again; it resumes from its last checkpoint',
    params: jobId,
    response: { status: 200, description: 'The queued job', schema: jobOutput },
    handle: async (ctx, { params }) => ({
      json: await retryJobAndNotify(ctx, ctx.principal.orgId, params.jobId),
    }),
  }),
];
