import type { Db } from '@anneal/db/client';
import { agents, jobs, modelVersions, runs } from '@anneal/db/schema';
import { trainSpecSchema } from '@anneal/protocol';
import { eq } from 'drizzle-orm';
import { registerVersion } from '../../registry/registry.ts';
import { CHECKPOINT_PREFIX } from '../jobs.ts';
import type { WebJobKind } from './kind.ts';

/**
 * A train job that succeeded registers its model: one version per run (a replayed
 * `job_complete` registers nothing new), with the config, dataset, the agent's hardware
 * and the final metrics as metadata.
 */
export async function registerTrainedModel(
  db: Db,
  orgId: string,
  jobId: string,
  runId: string,
  summary: Record<string, unknown>,
) {
  const [already] = await db
    .select({ id: modelVersions.id })
    .from(modelVersions)
    .where(eq(modelVersions.sourceRunId, runId));
  if (already) return;
  const [row] = await db
    .select({ job: jobs, run: runs, hardware: agents.hardware })
    .from(jobs)
    .innerJoin(runs, eq(runs.jobId, jobs.id))
    .leftJoin(agents, eq(agents.id, jobs.leaseOwner))
    .where(eq(jobs.id, jobId));
  if (!row) return;
  const spec = trainSpecSchema.safeParse(row.job.spec);
  if (!spec.success) return;
  const dataset = spec.data.dataset.kind === 'builtin' ? spec.data.dataset.name : 'dataset';
  const quality: Record<string, number> = {};
  for (const [k, v] of Object.entries(summary))
    if (typeof v === 'number' && Number.isFinite(v)) quality[k] = v;
  await registerVersion(
    db,
    orgId,
    row.job.projectId,
    `${dataset}-${spec.data.preset}-${spec.data.resolution}`,
    {
      sourceRunId: runId,
      datasetVersionId: row.run.datasetVersionId ?? undefined,
      artifactPath: `${CHECKPOINT_PREFIX}model.safetensors`,
      description: `trained by job ${jobId}`,
      metadata: {
        architecture: {
          preset: spec.data.preset,
          resolution: spec.data.resolution,
          config: spec.data,
        },
        steps: spec.data.steps,
        quality,
        hardware: row.hardware ?? undefined,
      },
      aliases: [],
    },
  );
}

export const trainWebKind: WebJobKind = {
  async complete(db, { orgId, job, runId, summary }) {
    await registerTrainedModel(db, orgId, job.id, runId, summary);
    return null;
  },
};
