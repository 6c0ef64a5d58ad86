import type { Db } from '@anneal/db/client';
import { modelVersions } from '@anneal/db/schema';
import {
  SEARCH_ARTIFACTS,
  type SearchRecord,
  type SearchSummary,
  searchKind,
  searchRecordSchema,
} from '@anneal/protocol';
import { and, eq, sql } from 'drizzle-orm';
import { getModelVersion, registerVersion } from '../../registry/registry.ts';
import { studentModelName } from './distill.ts';
import type { WebJobKind } from './kind.ts';

const finite = (v: number | null | undefined): v is number =>
  typeof v === 'number' && Number.isFinite(v);

/**
 * A search job's result: every winner that was trained on and evaluated becomes a version of
 * `<teacher model>-search`, its checkpoint the run's upload (winners/<name>/), with lineage
 * to the teacher version, the teacher's dataset version, its U-Net as the architecture, FD
 * beside the teacher's as its quality, the agent's hardware profile, and what the search
 * measured of it in `metadata.search`. A replayed `job_complete` registers nothing twice (one
 * version per run and winner name).
 */
export async function recordSearch(
  db: Db,
  orgId: string,
  job: { id: string; spec: unknown },
  runId: string,
  summary: Record<string, unknown>,
): Promise<string | null> {
  const spec = searchKind.spec.safeParse(job.spec);
  const parsed = searchKind.result.safeParse(summary);
  if (!spec.success || !parsed.success) {
    const issue = (parsed.error ?? spec.error)?.issues[0];
    return `the search summary is not valid: ${issue?.path.join('.') || 'summary'}: ${issue?.message}`;
  }
  const s: SearchSummary = parsed.data;
  const teacher = await getModelVersion(db, orgId, spec.data.teacher).catch(() => null);
  if (!teacher) return `the teacher version ${spec.data.teacher} no longer exists`;
  const [teacherRow] = await db
    .select({ datasetVersionId: modelVersions.datasetVersionId })
    .from(modelVersions)
    .where(eq(modelVersions.id, teacher.id));
  const name = studentModelName(teacher.modelName, 'search');
  const teacherFd = s.teacherEval?.fd ?? null;
  for (const w of s.winners) {
    // Only an evaluated winner has its checkpoint uploaded (dir is set once it is evaluated).
    const evaluation = w.full?.eval;
    if (!w.full || !evaluation || w.dir === null) continue;
    const [already] = await db
      .select({ id: modelVersions.id })
      .from(modelVersions)
      .where(
        and(
          eq(modelVersions.sourceRunId, runId),
          sql`${modelVersions.metadata}->'search'->>'name' = ${w.name}`,
        ),
      );
    if (already) continue;
    const fdRatio =
      finite(evaluation.fd) && finite(teacherFd) && teacherFd > 0
        ? evaluation.fd / teacherFd
        : null;
    const record: SearchRecord = searchRecordSchema.parse({
      teacher: {
        version_id: teacher.id,
        model: teacher.modelName,
        version: teacher.version,
        weights_sha256: s.teacher.weights,
      },
      job_id: job.id,
      run_id: runId,
      name: w.name,
      profile: s.profile,
      space: s.settings.space,
      settings: s.settings,
      latency_limit_ms: s.latencyLimitMs,
      measured: w.measured ?? null,
      predicted: s.pool.find((c) => c.name === w.name)?.predicted ?? null,
      speedup: w.speedup,
      rungs: w.rungs,
      full: w.full,
      teacher_eval: s.teacherEval,
      fd_ratio: fdRatio,
      parameters: w.parameters,
    });
    const quality: Record<string, number> = {};
    for (const [k, v] of Object.entries({
      fd: evaluation.fd,
      floor: evaluation.floor,
      teacher_fd: teacherFd,
      fd_ratio: fdRatio,
    }))
      if (finite(v)) quality[k] = v;
    const speed =
      w.speedup !== null
        ? `, ${w.speedup.toFixed(2)}x faster than the teacher (${s.settings.objective})`
        : '';
    await registerVersion(
      db,
      orgId,
      teacher.projectId,
      name,
      {
        sourceRunId: runId,
        datasetVersionId: teacherRow?.datasetVersionId ?? undefined,
        artifactPath: `${SEARCH_ARTIFACTS.winner(w.name)}model.safetensors`,
        description: `hardware-aware search of ${teacher.modelName} v${teacher.version} on ${s.profile}: ${w.name}${speed}, by job ${job.id}`,
        metadata: {
          architecture: w.unet,
          sampler: s.settings.proxy.sampler,
          steps: s.settings.proxy.steps,
          quality,
          hardware: { ...s.hardware, profile: s.profile },
        },
        aliases: [],
      },
      { search: record },
    );
  }
  return null;
}

export const searchWebKind: WebJobKind = {
  complete: (db, { orgId, job, runId, summary }) => recordSearch(db, orgId, job, runId, summary),
};
