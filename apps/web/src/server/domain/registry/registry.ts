import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import {
  datasets,
  datasetVersions,
  modelAliases,
  modelVersions,
  type OptimizationMetadata,
  projects,
  registeredModels,
  runs,
} from '@anneal/db/schema';
import { type LearnedSchedule, learnedScheduleSchema } from '@anneal/engine/config';
import { aliasSchema } from '@anneal/protocol';
import { and, asc, desc, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { getProject, writableProject } from '../projects/projects.ts';
import { writableRun } from '../runs/runs.ts';

export const optimizationMetadataSchema = z.object({
  architecture: z.record(z.string(), z.unknown()).optional(),
  steps: z.number().int().positive().optional(),
  nfe: z.number().int().positive().optional(),
  sampler: z.string().max(100).optional(),
  distillationStages: z.array(z.string().max(100)).max(20).optional(),
  quality: z.record(z.string(), z.number()).optional(),
  hardware: z.record(z.string(), z.unknown()).optional(),
});

export const registerVersionInput = z.object({
  sourceRunId: z.uuid().optional(),
  datasetVersionId: z.uuid().optional(),
  artifactPath: z.string().max(1024).optional(),
  description: z.string().max(2000).default(''),
  metadata: optimizationMetadataSchema.default({}),
  aliases: z.array(aliasSchema).max(10).default([]),
});

/** Creates the registered model on first use; versions count up from 1 per model. */
export async function registerVersion(
  db: Db,
  orgId: string,
  projectId: string,
  name: string,
  input: z.infer<typeof registerVersionInput>,
  /**
   * A job's lineage record (a distill job's `distillation`, a search job's `search`), kept in
   * the metadata beside what the input gives.
   */
  lineage: Pick<OptimizationMetadata, 'distillation' | 'search'> = {},
) {
  await writableProject(db, orgId, projectId);
  if (input.sourceRunId) {
    const run = await writableRun(db, orgId, input.sourceRunId);
    if (run.projectId !== projectId)
      throw new AppError('BAD_REQUEST', 'sourceRunId: the run belongs to another project');
  }
  if (input.datasetVersionId) {
    const [dv] = await db
      .select({ id: datasetVersions.id })
      .from(datasetVersions)
      .innerJoin(datasets, eq(datasets.id, datasetVersions.datasetId))
      .where(
        and(eq(datasetVersions.id, input.datasetVersionId), eq(datasets.projectId, projectId)),
      );
    if (!dv)
      throw new AppError(
        'NOT_FOUND',
        `datasetVersionId: no dataset version ${input.datasetVersionId}`,
      );
  }
  return db.transaction(async (tx) => {
    // Under a share lock: an MLflow delete of the project sees this model, or wins.
    await writableProject(tx, orgId, projectId);
    await tx.insert(registeredModels).values({ projectId, name }).onConflictDoNothing();
    const [model] = await tx
      .select()
      .from(registeredModels)
      .where(and(eq(registeredModels.projectId, projectId), eq(registeredModels.name, name)))
      .for('update');
    if (!model) throw new AppError('INTERNAL', 'could not create the registered model');
    const [{ next } = { next: 1 }] = await tx
      .select({ next: sql<number>`coalesce(max(${modelVersions.version}), 0)::int + 1` })
      .from(modelVersions)
      .where(eq(modelVersions.modelId, model.id));
    const [version] = await tx
      .insert(modelVersions)
      .values({
        modelId: model.id,
        version: next,
        sourceRunId: input.sourceRunId,
        datasetVersionId: input.datasetVersionId,
        artifactPath: input.artifactPath,
        description: input.description,
        metadata: { ...input.metadata, ...lineage },
      })
      .returning();
    if (!version) throw new AppError('INTERNAL', 'could not create the model version');
    for (const alias of input.aliases)
      await tx
        .insert(modelAliases)
        .values({ modelId: model.id, alias, versionId: version.id })
        .onConflictDoUpdate({
          target: [modelAliases.modelId, modelAliases.alias],
          set: { versionId: version.id, updatedAt: new Date() },
        });
    return { modelId: model.id, name, version: version.version, id: version.id };
  });
}

export async function findModel(db: Db, orgId: string, projectId: string, name: string) {
  // The project first, so a foreign or unknown project id is named like everywhere else.
  await getProject(db, orgId, projectId);
  const [row] = await db
    .select({ model: registeredModels })
    .from(registeredModels)
    .innerJoin(projects, eq(projects.id, registeredModels.projectId))
    .where(
      and(
        eq(registeredModels.projectId, projectId),
        eq(registeredModels.name, name),
        eq(projects.orgId, orgId),
      ),
    );
  if (!row) throw new AppError('NOT_FOUND', `name: no registered model "${name}" in this project`);
  return row.model;
}

export async function setAlias(
  db: Db,
  orgId: string,
  projectId: string,
  name: string,
  alias: string,
  version: number,
) {
  const model = await findModel(db, orgId, projectId, name);
  const [v] = await db
    .select()
    .from(modelVersions)
    .where(and(eq(modelVersions.modelId, model.id), eq(modelVersions.version, version)));
  if (!v) throw new AppError('NOT_FOUND', `version: "${name}" has no version ${version}`);
  await db
    .insert(modelAliases)
    .values({ modelId: model.id, alias, versionId: v.id })
    .onConflictDoUpdate({
      target: [modelAliases.modelId, modelAliases.alias],
      set: { versionId: v.id, updatedAt: new Date() },
    });
  return { alias, version };
}

export async function removeAlias(
  db: Db,
  orgId: string,
  projectId: string,
  name: string,
  alias: string,
) {
  const model = await findModel(db, orgId, projectId, name);
  const [row] = await db
    .delete(modelAliases)
    .where(and(eq(modelAliases.modelId, model.id), eq(modelAliases.alias, alias)))
    .returning();
  if (!row) throw new AppError('NOT_FOUND', `alias: "${name}" has no alias "${alias}"`);
}

export async function listModels(db: Db, orgId: string, projectId: string) {
  await getProject(db, orgId, projectId);
  return db
    .select({
      id: registeredModels.id,
      name: registeredModels.name,
      description: registeredModels.description,
      createdAt: registeredModels.createdAt,
      latestVersion: sql<
        number | null
      >`(select max(v.version) from model_versions v where v.model_id = registered_models.id)`,
      aliases: sql<
        { alias: string; version: number }[]
      >`coalesce((select jsonb_agg(jsonb_build_object('alias', a.alias, 'version', v.version) order by a.alias) from model_aliases a join model_versions v on v.id = a.version_id where a.model_id = registered_models.id), '[]'::jsonb)`,
    })
    .from(registeredModels)
    .where(eq(registeredModels.projectId, projectId))
    .orderBy(asc(registeredModels.name));
}

/** A model with its versions, their aliases and lineage (source run, dataset version). */
export async function readModel(db: Db, orgId: string, projectId: string, name: string) {
  const model = await findModel(db, orgId, projectId, name);
  const versions = await db
    .select({
      id: modelVersions.id,
      version: modelVersions.version,
      description: modelVersions.description,
      metadata: modelVersions.metadata,
      artifactPath: modelVersions.artifactPath,
      createdAt: modelVersions.createdAt,
      sourceRun: { id: runs.id, name: runs.name, status: runs.status },
      datasetVersion: {
        id: datasetVersions.id,
        version: datasetVersions.version,
        contentHash: datasetVersions.contentHash,
        datasetName: datasets.name,
      },
    })
    .from(modelVersions)
    .leftJoin(runs, eq(runs.id, modelVersions.sourceRunId))
    .leftJoin(datasetVersions, eq(datasetVersions.id, modelVersions.datasetVersionId))
    .leftJoin(datasets, eq(datasets.id, datasetVersions.datasetId))
    .where(eq(modelVersions.modelId, model.id))
    .orderBy(desc(modelVersions.version));
  const aliases = await db
    .select({ alias: modelAliases.alias, versionId: modelAliases.versionId })
    .from(modelAliases)
    .where(eq(modelAliases.modelId, model.id));
  return {
    id: model.id,
    name: model.name,
    description: model.description,
    createdAt: model.createdAt,
    versions: versions.map((v) => ({
      ...v,
      sourceRun: v.sourceRun?.id ? v.sourceRun : null,
      // Left joins make every nested field nullable; a version row implies its dataset.
      datasetVersion:
        v.datasetVersion?.id && v.datasetVersion.version !== null
          ? {
              id: v.datasetVersion.id,
              version: v.datasetVersion.version,
              contentHash: v.datasetVersion.contentHash ?? '',
              datasetName: v.datasetVersion.datasetName ?? '',
            }
          : null,
      aliases: aliases.filter((a) => a.versionId === v.id).map((a) => a.alias),
    })),
  };
}

/** One model version by id, within the organization: where its checkpoint lives, its metadata. */
export async function getModelVersion(db: Db, orgId: string, versionId: string) {
  const [row] = await db
    .select({
      id: modelVersions.id,
      modelId: modelVersions.modelId,
      modelName: registeredModels.name,
      projectId: registeredModels.projectId,
      version: modelVersions.version,
      sourceRunId: modelVersions.sourceRunId,
      artifactPath: modelVersions.artifactPath,
      metadata: modelVersions.metadata,
      createdAt: modelVersions.createdAt,
    })
    .from(modelVersions)
    .innerJoin(registeredModels, eq(registeredModels.id, modelVersions.modelId))
    .innerJoin(projects, eq(projects.id, registeredModels.projectId))
    .where(and(eq(modelVersions.id, versionId), eq(projects.orgId, orgId)));
  if (!row) throw new AppError('NOT_FOUND', `model version ${versionId} does not exist`);
  return row;
}

/**
 * Replaces part of a version's metadata with what `change` makes of the current metadata,
 * under a row lock so concurrent job completions never lose each other's writes. Returns
 * false (writing nothing) when the version does not exist; `change` may throw to refuse.
 */
async function updateVersionMetadata(
  db: Db,
  versionId: string,
  change: (metadata: OptimizationMetadata) => Partial<OptimizationMetadata>,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select({ metadata: modelVersions.metadata })
      .from(modelVersions)
      .where(eq(modelVersions.id, versionId))
      .for('update');
    if (!row) return false;
    await tx
      .update(modelVersions)
      .set({ metadata: { ...row.metadata, ...change(row.metadata) } })
      .where(eq(modelVersions.id, versionId));
    return true;
  });
}

/** Evaluations kept per version; older ones drop off (their runs keep the numbers). */
const MAX_EVALUATIONS = 50;

/**
 * Adds an evaluation result to a version's metadata. Idempotent per job: a replayed
 * `job_complete` replaces the entry it wrote before instead of adding another.
 */
export async function addEvaluation(
  db: Db,
  versionId: string,
  evaluation: Record<string, unknown> & { job_id: string },
) {
  await updateVersionMetadata(db, versionId, (metadata) => {
    const kept = (metadata.evaluations ?? []).filter((e) => e.job_id !== evaluation.job_id);
    return { evaluations: [...kept, evaluation].slice(-MAX_EVALUATIONS) };
  });
}

/** Learned schedules kept per version (one per sampler and NFE; more pairs than this is abuse). */
const MAX_SCHEDULES = 100;

/**
 * Stores a learned sampling schedule on a version (`anneal schedule learn --model VERSION`, and
 * the plan job kind). The record must pass the engine's learnedScheduleSchema (sigmas strictly
 * decreasing to 0, sampler deterministic, NFE matching the steps); one per (sampler, NFE): a
 * newer record replaces the older. Returns the stored record.
 */
export async function addLearnedSchedule(
  db: Db,
  versionId: string,
  record: unknown,
): Promise<LearnedSchedule> {
  const parsed = learnedScheduleSchema.safeParse(record);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError(
      'BAD_REQUEST',
      `schedule: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  const schedule = parsed.data;
  const found = await updateVersionMetadata(db, versionId, (metadata) => {
    const kept = (metadata.schedules ?? []).filter(
      (s) => !(s.sampler === schedule.sampler && s.nfe === schedule.nfe),
    );
    // Refused, not trimmed: dropping the oldest would lose a schedule without a word.
    if (kept.length >= MAX_SCHEDULES)
      throw new AppError(
        'CONFLICT',
        `model version ${versionId} already holds ${kept.length} learned schedules (one per sampler and NFE), the most a version keeps; this one (${schedule.sampler} at ${schedule.nfe} NFE) would be one more`,
      );
    return { schedules: [...kept, schedule] };
  });
  if (!found) throw new AppError('NOT_FOUND', `model version ${versionId} does not exist`);
  return schedule;
}

/** Hardware profiles a version keeps plans for; beyond it the oldest plan is dropped. */
const MAX_PLANS = 32;

/**
 * Keeps a plan job's plan on a version under its hardware profile (replacing that profile's
 * earlier plan) and the quality curve it was chosen from. At most MAX_PLANS profiles, the
 * most recent kept.
 */
export async function setPlan(
  db: Db,
  versionId: string,
  record: Record<string, unknown> & { profileKey: string; at: string },
  curve: Record<string, unknown>,
) {
  await updateVersionMetadata(db, versionId, (metadata) => {
    const others = Object.entries(metadata.plans ?? {})
      .filter(([key]) => key !== record.profileKey)
      .sort(([, a], [, b]) => String(a.at ?? '').localeCompare(String(b.at ?? '')))
      .slice(-(MAX_PLANS - 1));
    return {
      plans: Object.fromEntries([...others, [record.profileKey, record]]),
      qualityCurve: curve,
    };
  });
}

/** Every version of every model in a project, newest first: what a job can sample or evaluate. */
export async function listVersions(db: Db, orgId: string, projectId: string) {
  await getProject(db, orgId, projectId);
  return db
    .select({
      id: modelVersions.id,
      modelName: registeredModels.name,
      version: modelVersions.version,
      createdAt: modelVersions.createdAt,
    })
    .from(modelVersions)
    .innerJoin(registeredModels, eq(registeredModels.id, modelVersions.modelId))
    .where(eq(registeredModels.projectId, projectId))
    .orderBy(desc(modelVersions.createdAt))
    .limit(200);
}
