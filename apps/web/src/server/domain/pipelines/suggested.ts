// An alert's suggestion as a pipeline, to run with one click. Each re-optimization ends the
// same way: an evaluate node scores the candidate with the deployment's served sampling and
// probe size, and a register node points the deployment's alias at it only if its FD is
// within what the alert's rule allows of the baseline. Rolling back checks the baseline's
// version again before moving the alias; retraining trains (or re-distills) as the served
// version was made, on the latest version of its dataset.
import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import {
  alerts,
  datasetVersions,
  deploymentProbes,
  deployments,
  jobs,
  modelVersions,
  pipelineRuns,
  projects,
} from '@anneal/db/schema';
import { distillationRecordSchema, trainSpecSchema } from '@anneal/protocol';
import { and, desc, eq } from 'drizzle-orm';
import { probeConfigSchema } from '../deployments/probes.ts';
import { getPipelineRun, startRun } from './pipelines.ts';
import { type PipelineSpecInput, pipelineSpecSchema } from './spec.ts';
import { pipelineRunView } from './views.ts';

/** The slack a candidate gets over the baseline's FD when the alert's rule names none. */
const DEFAULT_SLACK = 0.1;

export async function suggestedPipeline(db: Db, orgId: string, alertId: string) {
  const [row] = await db
    .select({ alert: alerts, d: deployments })
    .from(alerts)
    .innerJoin(projects, eq(projects.id, alerts.projectId))
    .innerJoin(deployments, eq(deployments.id, alerts.deploymentId))
    .where(and(eq(alerts.id, alertId), eq(projects.orgId, orgId)));
  if (!row) throw new AppError('NOT_FOUND', `alertId: no alert of a deployment ${alertId}`);
  const { alert, d } = row;
  const action = (alert.suggestion as { action?: string } | null)?.action;
  if (!d.alias)
    throw new AppError(
      'CONFLICT',
      `deployment ${d.name} pins a version: a pipeline promotes through an alias; follow one (e.g. production) to run suggestions as pipelines`,
    );
  if (action !== 'rollback' && action !== 'retrain')
    throw new AppError(
      'CONFLICT',
      action === 'more_steps'
        ? 'this suggestion changes the served sampling, which no pipeline node does: redeploy with those steps'
        : 'this alert has no suggestion to run',
    );
  const baseline = d.baselineProbeId
    ? (
        await db.select().from(deploymentProbes).where(eq(deploymentProbes.id, d.baselineProbeId))
      )[0]
    : undefined;
  const baseFd = baseline?.metrics.fd;
  if (!baseline || typeof baseFd !== 'number')
    throw new AppError('CONFLICT', `deployment ${d.name} has no baseline probe with an FD`);
  const threshold = alert.evidence as { metric?: string; threshold?: number; baseline?: unknown };
  const slack =
    threshold.metric === 'fd' && threshold.baseline && typeof threshold.threshold === 'number'
      ? threshold.threshold
      : DEFAULT_SLACK;
  const budget = Number((baseFd * (1 + slack)).toPrecision(4));
  const probe = probeConfigSchema.parse(d.probe ?? {});
  const sampling = d.config as { sampler?: string; steps?: number; guidance?: number };
  const verify = (model: string) => ({
    key: 'evaluate',
    kind: 'evaluate' as const,
    spec: {
      model: { kind: 'modelVersion', id: model },
      n: probe.n,
      ...(sampling.sampler ? { sampler: sampling.sampler } : {}),
      ...(sampling.steps ? { steps: sampling.steps } : {}),
      ...(sampling.guidance !== undefined ? { guidance: sampling.guidance } : {}),
      ...(probe.extractor_steps ? { extractor_steps: probe.extractor_steps } : {}),
      ...(probe.extractor_width ? { extractor_width: probe.extractor_width } : {}),
    },
  });
  const promote = (version: string) => ({
    key: 'promote',
    kind: 'register' as const,
    needs: ['evaluate'],
    when: [{ left: '${evaluate.fd}', op: '<=' as const, right: '${params.fd_budget}' }],
    spec: { version_id: version, alias: d.alias as string },
  });
  let spec: PipelineSpecInput;
  let name: string;
  if (action === 'rollback') {
    name = `rollback ${d.name}`;
    spec = {
      params: { fd_budget: budget },
      nodes: [verify(baseline.modelVersionId), promote(baseline.modelVersionId)],
    };
  } else {
    const candidate = await retrainNode(db, d.modelVersionId);
    name = `${candidate.kind === 'distill' ? 're-distill' : 'retrain'} ${d.name}`;
    spec = {
      params: { fd_budget: budget },
      nodes: [
        candidate,
        verify(`\${${candidate.key}.version_id}`),
        promote(`\${${candidate.key}.version_id}`),
      ],
    };
  }
  const parsed = pipelineSpecSchema.safeParse(spec);
  if (!parsed.success)
    throw new AppError(
      'CONFLICT',
      `the suggested pipeline does not validate: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`,
    );
  return { projectId: d.projectId, name, spec: parsed.data, alertId: alert.id };
}

/**
 * How the served version was made, again: a distilled student re-distills from its teacher
 * with its distill job's settings; a trained model trains with its train job's spec, on the
 * latest version of its dataset when it was trained on a stored one.
 */
async function retrainNode(db: Db, versionId: string) {
  const [v] = await db
    .select({ metadata: modelVersions.metadata })
    .from(modelVersions)
    .where(eq(modelVersions.id, versionId));
  const metadata = (v?.metadata ?? {}) as {
    distillation?: unknown;
    architecture?: { config?: unknown };
  };
  const distilled = distillationRecordSchema.safeParse(metadata.distillation);
  if (distilled.success) {
    const [job] = await db
      .select({ spec: jobs.spec })
      .from(jobs)
      .where(eq(jobs.id, distilled.data.job_id));
    if (!job)
      throw new AppError('CONFLICT', 'the distill job that made the served version is gone');
    return { key: 'distill', kind: 'distill' as const, spec: job.spec };
  }
  const train = trainSpecSchema.safeParse(metadata.architecture?.config);
  if (!train.success)
    throw new AppError(
      'CONFLICT',
      'the served version records no train spec (it was not trained by a train job); retrain it by hand',
    );
  const spec = { ...train.data } as Record<string, unknown>;
  if (train.data.dataset.kind === 'version') {
    const [was] = await db
      .select({ datasetId: datasetVersions.datasetId })
      .from(datasetVersions)
      .where(eq(datasetVersions.id, train.data.dataset.id));
    const [latest] = was
      ? await db
          .select({ id: datasetVersions.id, hash: datasetVersions.contentHash })
          .from(datasetVersions)
          .where(eq(datasetVersions.datasetId, was.datasetId))
          .orderBy(desc(datasetVersions.version))
          .limit(1)
      : [];
    if (latest) spec.dataset = { ...train.data.dataset, id: latest.id, hash: latest.hash };
  }
  return { key: 'train', kind: 'train' as const, spec };
}

/** Starts the alert's suggested pipeline as `caller`; answers the run after its first pass. */
export async function runSuggestion(
  s: { db: Db; pipelines: { advanceOne(runId: string): Promise<void> } | null },
  caller: { orgId: string; userId: string },
  alertId: string,
) {
  const suggested = await suggestedPipeline(s.db, caller.orgId, alertId);
  // One run per alert at a time: a second click answers the run under way.
  const [under] = await s.db
    .select({ id: pipelineRuns.id })
    .from(pipelineRuns)
    .where(and(eq(pipelineRuns.alertId, alertId), eq(pipelineRuns.status, 'running')));
  if (under) return pipelineRunView(s.db, await getPipelineRun(s.db, caller.orgId, under.id));
  const run = await startRun(s.db, caller, suggested.projectId, {
    pipelineId: null,
    name: suggested.name,
    spec: suggested.spec,
    params: suggested.spec.params,
    trigger: 'alert',
    alertId: suggested.alertId,
  });
  await s.pipelines?.advanceOne(run.id);
  return pipelineRunView(s.db, await getPipelineRun(s.db, caller.orgId, run.id));
}
