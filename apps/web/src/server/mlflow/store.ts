import type { Db } from '@anneal/db/client';
import {
  metrics,
  modelAliases,
  modelVersions,
  projects,
  registeredModels,
  runs,
} from '@anneal/db/schema';
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { getProject } from '../domain/projects/projects.ts';
import { getRun } from '../domain/runs/runs.ts';
import type { LatestMetric, RunRow, VersionRow } from './entities.ts';
import { invalid, MlflowError } from './errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** MLflow's Default experiment: what a client logs to when it never sets an experiment. */
export const DEFAULT_EXPERIMENT_ID = '0';
export const DEFAULT_EXPERIMENT_NAME = 'Default';

/**
 * The organization's project named "Default", created on first use: MLflow's experiment "0",
 * which every MLflow server has. Creating it is not a user's write (any role may reach it, as
 * any role may read experiment 0 on an MLflow server); two first uses at once both end with the
 * one row the unique (org, name) index lets in.
 */
export async function defaultProject(db: Db, orgId: string) {
  const existing = async () =>
    (
      await db
        .select()
        .from(projects)
        .where(and(eq(projects.orgId, orgId), eq(projects.name, DEFAULT_EXPERIMENT_NAME)))
    )[0];
  const found = await existing();
  if (found) return found;
  await db
    .insert(projects)
    .values({ orgId, name: DEFAULT_EXPERIMENT_NAME, description: '' })
    .onConflictDoNothing();
  const made = await existing();
  if (!made) throw new MlflowError('INTERNAL_ERROR', 'could not create the Default experiment');
  return made;
}

/**
 * An experiment id is a project id of the caller's organization, or "0", the organization's
 * Default project; anything else is not found.
 */
export async function experimentOf(db: Db, orgId: string, experimentId: string) {
  if (experimentId === DEFAULT_EXPERIMENT_ID) return defaultProject(db, orgId);
  if (!UUID.test(experimentId))
    throw new MlflowError(
      'RESOURCE_DOES_NOT_EXIST',
      `experiment_id: no experiment ${experimentId} (Anneal's experiments are its projects, with uuid ids; "0" is the Default project)`,
    );
  return getProject(db, orgId, experimentId);
}

export async function runOf(db: Db, orgId: string, runId: string): Promise<RunRow> {
  if (!UUID.test(runId))
    throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `run_id: no run ${runId}`);
  return getRun(db, orgId, runId);
}

/** A run that may be written: MLflow refuses writes to a deleted run, with this message. */
export async function activeRunOf(db: Db, orgId: string, runId: string): Promise<RunRow> {
  const run = await runOf(db, orgId, runId);
  if (run.deletedAt)
    throw invalid(`The run ${run.id} must be in the 'active' state. Current state is deleted.`);
  return run;
}

/** MLflow's ViewType, as the client sends it (by name) or as its enum number. */
export type ViewType = 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';
export function viewTypeOf(field: string, v: string | number | undefined): ViewType {
  if (v === undefined || v === 'ACTIVE_ONLY' || v === 1) return 'ACTIVE_ONLY';
  if (v === 'DELETED_ONLY' || v === 2) return 'DELETED_ONLY';
  if (v === 'ALL' || v === 3) return 'ALL';
  throw invalid(`${field}: "${v}" is not ACTIVE_ONLY, DELETED_ONLY or ALL`);
}
export function inView(view: ViewType, deletedAt: Date | null | undefined): boolean {
  if (view === 'ALL') return true;
  return view === 'DELETED_ONLY' ? Boolean(deletedAt) : !deletedAt;
}

/**
 * The latest point of every metric of the runs (MLflow's run data): highest step wins.
 * With `keys`, only those metrics (what a search's filter or order names).
 */
export async function latestMetrics(db: Db, runIds: string[], keys?: string[]) {
  const byRun = new Map<string, LatestMetric[]>();
  if (runIds.length === 0 || keys?.length === 0) return byRun;
  const rows = await db
    .selectDistinctOn([metrics.runId, metrics.key], {
      runId: metrics.runId,
      key: metrics.key,
      value: metrics.value,
      step: metrics.step,
      time: metrics.time,
    })
    .from(metrics)
    .where(
      keys
        ? and(inArray(metrics.runId, runIds), inArray(metrics.key, keys))
        : inArray(metrics.runId, runIds),
    )
    .orderBy(metrics.runId, metrics.key, desc(metrics.step));
  for (const r of rows) {
    const list = byRun.get(r.runId) ?? [];
    list.push({ key: r.key, value: r.value, step: r.step, time: r.time });
    byRun.set(r.runId, list);
  }
  return byRun;
}

export async function metricHistory(db: Db, runId: string, key: string) {
  return db
    .select({ step: metrics.step, value: metrics.value, time: metrics.time })
    .from(metrics)
    .where(and(eq(metrics.runId, runId), eq(metrics.key, key)))
    .orderBy(asc(metrics.step));
}

/**
 * Merges params as MLflow does: a param, once logged, keeps its value; logging the same
 * value again is fine, another value is refused. Tags merge, the last value winning. The
 * check reads the run's params under a row lock in the transaction that writes them, so two
 * concurrent batches with different values for one key cannot both pass it (the first to
 * commit wins, the other is refused).
 */
export async function mergeParamsAndTags(
  db: Db,
  run: RunRow,
  params: { key: string; value: string }[],
  tags: { key: string; value: string }[],
) {
  if (params.length === 0 && tags.length === 0) return;
  const newTags: Record<string, string> = {};
  for (const t of tags) newTags[t.key] = t.value;
  const renamed = newTags['mlflow.runName'];
  await db.transaction(async (tx) => {
    const [locked] =
      params.length === 0
        ? [run]
        : await tx
            .select({ params: runs.params })
            .from(runs)
            .where(eq(runs.id, run.id))
            .for('update');
    const current = locked?.params ?? {};
    const newParams: Record<string, string> = {};
    for (const p of params) {
      const old = current[p.key] ?? newParams[p.key];
      if (old !== undefined && old !== null && String(old) !== p.value)
        throw invalid(
          `Changing param values is not allowed. Param with key='${p.key}' was already logged with value='${String(old)}' for run ID='${run.id}'. Attempted logging new value '${p.value}'.`,
        );
      newParams[p.key] = p.value;
    }
    await tx
      .update(runs)
      .set({
        params: sql`${runs.params} || ${JSON.stringify(newParams)}::jsonb`,
        tags: sql`${runs.tags} || ${JSON.stringify(newTags)}::jsonb`,
        ...(renamed ? { name: renamed.slice(0, 200) } : {}),
      })
      .where(eq(runs.id, run.id));
  });
}

/** Registered models of the organization named `name` (one per project at most). */
export async function modelsNamed(db: Db, orgId: string, name: string) {
  return db
    .select({ model: registeredModels })
    .from(registeredModels)
    .innerJoin(projects, eq(projects.id, registeredModels.projectId))
    .where(and(eq(registeredModels.name, name), eq(projects.orgId, orgId)))
    .then((rows) => rows.map((r) => r.model));
}

/**
 * MLflow's registry has one namespace; Anneal's has one per project. A name resolves to the
 * organization's one model of that name, and names held by two projects must be told apart.
 */
export async function modelOf(db: Db, orgId: string, name: string) {
  const found = await modelsNamed(db, orgId, name);
  if (found.length === 0)
    throw new MlflowError(
      'RESOURCE_DOES_NOT_EXIST',
      `Registered Model with name=${name} not found`,
    );
  if (found.length > 1)
    throw invalid(
      `name: ${found.length} projects have a registered model named "${name}"; the MLflow API reaches only names that one project holds (use Anneal's REST API for the others)`,
    );
  return found[0] as (typeof found)[number];
}

export async function versionsOf(db: Db, modelIds: string[]) {
  const out = new Map<string, VersionRow[]>();
  if (modelIds.length === 0) return out;
  const rows = await db
    .select({
      modelId: modelVersions.modelId,
      id: modelVersions.id,
      modelName: registeredModels.name,
      projectId: registeredModels.projectId,
      version: modelVersions.version,
      description: modelVersions.description,
      sourceRunId: modelVersions.sourceRunId,
      artifactPath: modelVersions.artifactPath,
      createdAt: modelVersions.createdAt,
      aliases: sql<
        string[]
      >`coalesce((select jsonb_agg(a.alias order by a.alias) from model_aliases a where a.version_id = model_versions.id), '[]'::jsonb)`,
    })
    .from(modelVersions)
    .innerJoin(registeredModels, eq(registeredModels.id, modelVersions.modelId))
    .where(inArray(modelVersions.modelId, modelIds))
    .orderBy(asc(modelVersions.version));
  for (const r of rows) {
    const list = out.get(r.modelId) ?? [];
    list.push(r);
    out.set(r.modelId, list);
  }
  return out;
}

export async function versionOf(db: Db, orgId: string, name: string, version: string) {
  const model = await modelOf(db, orgId, name);
  const n = Number(version);
  const found = Number.isInteger(n)
    ? (await versionsOf(db, [model.id])).get(model.id)?.find((v) => v.version === n)
    : undefined;
  if (!found)
    throw new MlflowError(
      'RESOURCE_DOES_NOT_EXIST',
      `Model Version (name=${name}, version=${version}) not found`,
    );
  return { model, version: found };
}

export async function versionByAlias(db: Db, orgId: string, name: string, alias: string) {
  const model = await modelOf(db, orgId, name);
  const [row] = await db
    .select({ version: modelVersions.version })
    .from(modelAliases)
    .innerJoin(modelVersions, eq(modelVersions.id, modelAliases.versionId))
    .where(and(eq(modelAliases.modelId, model.id), eq(modelAliases.alias, alias)));
  if (!row)
    throw new MlflowError(
      'RESOURCE_DOES_NOT_EXIST',
      `Registered model alias ${alias} not found for model ${name}`,
    );
  return versionOf(db, orgId, name, String(row.version));
}
