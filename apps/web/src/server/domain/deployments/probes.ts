// Quality probes of deployments: an evaluate job of the version a deployment serves, with its
// served sampling, scored by the metric pipeline (FD, KID, precision/recall, class accuracy,
// each beside its floor) against the version's held-out data. Probes run on demand and on a
// schedule; their numbers form each deployment's quality time series.
import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import { deploymentProbes, deployments, jobs, metrics, projects } from '@anneal/db/schema';
import { extractorStepsSchema, extractorWidthSchema } from '@anneal/engine/config';
import { and, count, desc, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import { createJob } from '../jobs/jobs.ts';

export const probeConfigSchema = z
  .object({
    /** Seconds between scheduled probes; absent: probes run on demand only. */
    every_s: z
      .number()
      .int()
      .min(5)
      .max(7 * 86_400)
      .optional(),
    /** Samples per probe, and real images per set (the floor is measured at the same n). */
    n: z.number().int().min(10).max(10_000).default(200),
    extractor_steps: extractorStepsSchema.optional(),
    extractor_width: extractorWidthSchema.optional(),
  })
  .strict();
export type ProbeConfig = z.infer<typeof probeConfigSchema>;

/** The numbers a probe keeps: the evaluate job's metrics at step 0 (recordEvaluation). */
export const PROBE_METRICS = [
  'fd',
  'kid',
  'precision',
  'recall',
  'accuracy',
  'floor_fd',
  'floor_kid',
  'floor_precision',
  'floor_recall',
  'floor_accuracy',
] as const;

type Deployment = typeof deployments.$inferSelect;

/**
 * Queues a probe: an evaluate job of the deployment's current version with its served sampling.
 * Each probe draws other noise (its seed is the probe's index), so the series shows the spread
 * a trailing window is judged against.
 */
export async function createProbe(
  db: Db,
  d: Deployment,
  trigger: 'manual' | 'schedule',
  userId: string,
) {
  const [project] = await db
    .select({ orgId: projects.orgId })
    .from(projects)
    .where(eq(projects.id, d.projectId));
  if (!project) throw new AppError('NOT_FOUND', `deployment ${d.id} has no project`);
  const config = probeConfigSchema.parse(d.probe ?? {});
  const sampling = d.config as { sampler?: string; steps?: number; guidance?: number };
  const [{ done } = { done: 0 }] = await db
    .select({ done: count() })
    .from(deploymentProbes)
    .where(eq(deploymentProbes.deploymentId, d.id));
  const job = await createJob(db, project.orgId, userId, d.projectId, {
    name: `probe ${d.name} #${done + 1}`,
    maxAttempts: 2,
    job: {
      type: 'evaluate',
      spec: {
        model: { kind: 'modelVersion', id: d.modelVersionId },
        n: config.n,
        seed: done,
        ...(sampling.sampler ? { sampler: sampling.sampler } : {}),
        ...(sampling.steps ? { steps: sampling.steps } : {}),
        ...(sampling.guidance !== undefined ? { guidance: sampling.guidance } : {}),
        ...(config.extractor_steps ? { extractor_steps: config.extractor_steps } : {}),
        ...(config.extractor_width ? { extractor_width: config.extractor_width } : {}),
      },
    } as never,
  });
  const [probe] = await db
    .insert(deploymentProbes)
    .values({
      deploymentId: d.id,
      modelVersionId: d.modelVersionId,
      jobId: job.id,
      runId: job.runId,
      trigger,
    })
    .returning();
  if (!probe) throw new AppError('INTERNAL', 'could not record the probe');
  return probe;
}

/** Probes whose job ended: their numbers (or the job's error) recorded. Returns those settled. */
export async function settleProbes(db: Db) {
  const open = await db
    .select({ probe: deploymentProbes, status: jobs.status, error: jobs.error })
    .from(deploymentProbes)
    .innerJoin(jobs, eq(jobs.id, deploymentProbes.jobId))
    .where(
      and(
        eq(deploymentProbes.status, 'queued'),
        inArray(jobs.status, ['succeeded', 'failed', 'cancelled']),
      ),
    );
  const settled = [];
  for (const { probe, status, error } of open) {
    if (status !== 'succeeded' || !probe.runId) {
      await db
        .update(deploymentProbes)
        .set({
          status: 'failed',
          error: error ?? `the probe's job was ${status}`,
          finishedAt: new Date(),
        })
        .where(eq(deploymentProbes.id, probe.id));
      continue;
    }
    const rows = await db
      .select({ key: metrics.key, value: metrics.value })
      .from(metrics)
      .where(
        and(
          eq(metrics.runId, probe.runId),
          eq(metrics.step, 0),
          inArray(metrics.key, [...PROBE_METRICS]),
        ),
      );
    const values = Object.fromEntries(rows.map((r) => [r.key, r.value]));
    const [row] = await db
      .update(deploymentProbes)
      .set({ status: 'succeeded', metrics: values, finishedAt: new Date() })
      .where(eq(deploymentProbes.id, probe.id))
      .returning();
    if (row) settled.push(row);
  }
  return settled;
}

/** Serving deployments whose schedule says a probe is due (none queued, the last one old enough). */
export async function dueProbes(db: Db): Promise<Deployment[]> {
  const rows = await db
    .select()
    .from(deployments)
    .where(
      and(
        eq(deployments.status, 'serving'),
        isNotNull(deployments.createdBy),
        sql`(${deployments.probe}->>'every_s') is not null`,
        sql`not exists (select 1 from deployment_probes p
          where p.deployment_id = ${deployments.id} and p.status = 'queued')`,
        sql`coalesce((select max(p.created_at) from deployment_probes p
          where p.deployment_id = ${deployments.id}), 'epoch'::timestamptz)
          < now() - make_interval(secs => (${deployments.probe}->>'every_s')::int)`,
      ),
    );
  return rows;
}

export async function listProbes(db: Db, deploymentId: string, limit = 100) {
  return db
    .select()
    .from(deploymentProbes)
    .where(eq(deploymentProbes.deploymentId, deploymentId))
    .orderBy(desc(deploymentProbes.createdAt))
    .limit(limit);
}
