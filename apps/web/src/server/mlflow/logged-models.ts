import { randomBytes } from 'node:crypto';
import type { Db } from '@anneal/db/client';
import { artifacts, loggedModelMetrics, loggedModels, projects } from '@anneal/db/schema';
import { and, asc, eq, inArray, isNull, like, sql } from 'drizzle-orm';
import { ms, runArtifactUri } from './entities.ts';
import { invalid, MlflowError } from './errors.ts';

/**
 * MLflow 3's logged models. A logged model lives in a project and was made by a source run;
 * its files are that run's artifacts under `logged-models/<model_id>/`, so its artifact_uri
 * is served by the mlflow-artifacts proxy like any run artifact, and a registered version made
 * from it is a version of the run's artifacts, as Anneal's registry keeps every version.
 */
export type LoggedModelRow = typeof loggedModels.$inferSelect;

export const LOGGED_MODEL_DIR = 'logged-models';
const MODEL_ID = /^m-[0-9a-f]{32}$/;

export function newModelId(): string {
  return `m-${randomBytes(16).toString('hex')}`;
}

/** The folder of the source run's artifacts that holds the model's files. */
export function modelArtifactPath(m: { id: string }): string {
  return `${LOGGED_MODEL_DIR}/${m.id}`;
}

export function modelArtifactUri(m: LoggedModelRow): string {
  return `${runArtifactUri(m.projectId, m.sourceRunId)}/${modelArtifactPath(m)}`;
}

/** MLflow's LoggedModelStatus, as its JSON names it. */
export const LOGGED_MODEL_STATUSES = [
  'LOGGED_MODEL_PENDING',
  'LOGGED_MODEL_READY',
  'LOGGED_MODEL_UPLOAD_FAILED',
] as const;

/** A logged model of the caller's organization; a deleted one only where `allowDeleted`. */
export async function loggedModelOf(
  db: Db,
  orgId: string,
  modelId: string,
  opts: { allowDeleted?: boolean } = {},
): Promise<LoggedModelRow> {
  const notFound = () =>
    new MlflowError('RESOURCE_DOES_NOT_EXIST', `Logged model with ID '${modelId}' not found.`);
  if (!MODEL_ID.test(modelId)) throw notFound();
  const [row] = await db
    .select({ model: loggedModels })
    .from(loggedModels)
    .innerJoin(projects, eq(projects.id, loggedModels.projectId))
    .where(and(eq(loggedModels.id, modelId), eq(projects.orgId, orgId)));
  if (!row || (row.model.deletedAt && !opts.allowDeleted)) throw notFound();
  return row.model;
}

export type ModelMetric = typeof loggedModelMetrics.$inferSelect;

export async function metricsOfModels(db: Db, ids: string[]) {
  const out = new Map<string, ModelMetric[]>();
  if (ids.length === 0) return out;
  const rows = await db
    .select()
    .from(loggedModelMetrics)
    .where(inArray(loggedModelMetrics.modelId, ids))
    .orderBy(asc(loggedModelMetrics.key), asc(loggedModelMetrics.step));
  for (const r of rows) {
    const list = out.get(r.modelId) ?? [];
    list.push(r);
    out.set(r.modelId, list);
  }
  return out;
}

export function loggedModelJson(m: LoggedModelRow, metrics: ModelMetric[]) {
  return {
    info: {
      model_id: m.id,
      experiment_id: m.projectId,
      name: m.name,
      artifact_uri: modelArtifactUri(m),
      creation_timestamp_ms: ms(m.createdAt),
      last_updated_timestamp_ms: ms(m.updatedAt),
      model_type: m.modelType,
      source_run_id: m.sourceRunId,
      status: m.status,
      status_message: m.statusMessage,
      tags: Object.entries(m.tags).map(([key, value]) => ({ key, value })),
    },
    data: {
      params: Object.entries(m.params).map(([key, value]) => ({ key, value })),
      metrics: metrics.map((x) => ({
        key: x.key,
        value: x.value,
        timestamp: ms(x.time),
        step: x.step,
        ...(x.runId ? { run_id: x.runId } : {}),
        model_id: x.modelId,
        ...(x.datasetName ? { dataset_name: x.datasetName } : {}),
        ...(x.datasetDigest ? { dataset_digest: x.datasetDigest } : {}),
      })),
    },
  };
}

/** The logged models a run made (its outputs), newest first, with their artifact counts. */
export async function modelsOfRun(db: Db, runId: string, opts: { withDeleted?: boolean } = {}) {
  const filters = [eq(loggedModels.sourceRunId, runId)];
  if (!opts.withDeleted) filters.push(isNull(loggedModels.deletedAt));
  return db
    .select({
      model: loggedModels,
      artifactCount: sql<number>`(select count(*)::int from ${artifacts} a where a.run_id = ${loggedModels.sourceRunId} and a.path like ${`${LOGGED_MODEL_DIR}/`} || ${loggedModels.id} || '/%')`,
    })
    .from(loggedModels)
    .where(and(...filters))
    .orderBy(asc(loggedModels.createdAt));
}

/** Records metrics logged with a model_id for that model (the run keeps its own copy). */
export async function logModelMetrics(
  db: Db,
  orgId: string,
  run: { id: string; projectId: string },
  points: {
    key: string;
    value: number;
    step: number;
    timestamp?: number | undefined;
    model_id?: string | undefined;
    dataset_name?: string | undefined;
    dataset_digest?: string | undefined;
  }[],
) {
  const withModel = points.filter((p) => p.model_id);
  if (withModel.length === 0) return;
  const checked = new Set<string>();
  for (const p of withModel) {
    const id = p.model_id as string;
    if (checked.has(id)) continue;
    const model = await loggedModelOf(db, orgId, id);
    if (model.projectId !== run.projectId)
      throw invalid(`model_id: logged model ${id} is in another experiment than run ${run.id}`);
    checked.add(id);
  }
  const unique = new Map<string, (typeof withModel)[number]>();
  for (const p of withModel)
    unique.set(
      [p.model_id, p.key, p.step, p.dataset_name ?? '', p.dataset_digest ?? ''].join('\u0000'),
      p,
    );
  await db
    .insert(loggedModelMetrics)
    .values(
      [...unique.values()].map((p) => ({
        modelId: p.model_id as string,
        key: p.key,
        step: p.step,
        value: p.value,
        time: p.timestamp === undefined ? new Date() : new Date(p.timestamp),
        runId: run.id,
        datasetName: p.dataset_name ?? '',
        datasetDigest: p.dataset_digest ?? '',
      })),
    )
    .onConflictDoUpdate({
      target: [
        loggedModelMetrics.modelId,
        loggedModelMetrics.key,
        loggedModelMetrics.step,
        loggedModelMetrics.datasetName,
        loggedModelMetrics.datasetDigest,
      ],
      set: { value: sql.raw('excluded.value'), time: sql.raw('excluded.time') },
    });
}

/** The run artifacts of a model under a folder of it, for ListLoggedModelArtifacts. */
export async function modelArtifacts(db: Db, m: LoggedModelRow) {
  return db
    .select({ path: artifacts.path, size: artifacts.size })
    .from(artifacts)
    .where(
      and(eq(artifacts.runId, m.sourceRunId), like(artifacts.path, `${modelArtifactPath(m)}/%`)),
    )
    .orderBy(asc(artifacts.path));
}
