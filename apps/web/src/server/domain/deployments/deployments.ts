// Deployments in PostgreSQL: what is deployed, its replicas, the requests it answered and the
// latency figures read from them. The live routing (queues, which replica is busy) is the
// serving router's (serving/router.ts); this file is what survives a restart.
import { AppError } from '@anneal/core';
import type { Db } from '@anneal/db/client';
import {
  agents,
  deploymentReplicas,
  deployments,
  generationRequests,
  modelAliases,
  modelVersions,
  projects,
  registeredModels,
} from '@anneal/db/schema';
import { aliasSchema, modelNameSchema, planClash, servedSamplingSchema } from '@anneal/protocol';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import { getProject, writableProject } from '../projects/projects.ts';
import { findModel } from '../registry/registry.ts';
import { probeConfigSchema } from './probes.ts';

export const deploymentNameSchema = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'use lowercase letters, digits or "-"' });

/** A deployment's fields, before the version-or-alias rule (extend this, then refine). */
export const deploymentFields = z
  .object({
    name: deploymentNameSchema,
    model: modelNameSchema,
    /** Pins one version. */
    version: z.number().int().min(1).optional(),
    /** Follows an alias (e.g. production): moving it redeploys. */
    alias: aliasSchema.optional(),
    replicas: z.number().int().min(1).max(16).default(1),
    /** Requests that may wait for a free replica before more are refused with 429. */
    queueLimit: z.number().int().min(0).max(10_000).default(16),
    sampling: servedSamplingSchema.default({}),
    /** Quality probes (absent: on demand only, with the default size). */
    probe: probeConfigSchema.optional(),
  })
  .strict();

/** Exactly one of a pinned version and an alias. */
export const oneTarget: [
  (d: { version?: number; alias?: string }) => boolean,
  { message: string; path: string[] },
] = [
  (d) => (d.version === undefined) !== (d.alias === undefined),
  { message: 'give exactly one of version and alias', path: ['version'] },
];

export const createDeploymentInput = deploymentFields.refine(...oneTarget);
export type CreateDeploymentInput = z.infer<typeof createDeploymentInput>;

/** The live states of a replica (it holds a loaded model or is loading one). */
export const LIVE_REPLICA = ['starting', 'ready', 'draining'] as const;

export async function createDeployment(
  db: Db,
  caller: { orgId: string; userId: string },
  projectId: string,
  input: CreateDeploymentInput,
) {
  const { orgId } = caller;
  await writableProject(db, orgId, projectId);
  const model = await findModel(db, orgId, projectId, input.model);
  const versionId = input.alias
    ? await aliasTarget(db, model.id, input.alias)
    : await versionIdOf(db, model.id, input.version as number);
  if (!versionId)
    throw new AppError('NOT_FOUND', `alias: "${input.model}" has no alias "${input.alias}"`);
  const clash = planClash(input.sampling);
  if (clash) throw new AppError('BAD_REQUEST', `sampling.${clash}`);
  if (input.sampling.plan) await checkHasPlan(db, versionId);
  const [row] = await db
    .insert(deployments)
    .values({
      projectId,
      name: input.name,
      modelId: model.id,
      alias: input.alias ?? null,
      modelVersionId: versionId,
      desiredReplicas: input.replicas,
      queueLimit: input.queueLimit,
      config: input.sampling,
      probe: input.probe ?? null,
      createdBy: caller.userId,
      detail: 'waiting for the first replica',
    })
    .onConflictDoNothing()
    .returning();
  if (!row)
    throw new AppError('CONFLICT', `name: this project already has a deployment "${input.name}"`);
  return row;
}

/** A deployment that serves plans needs a version with one saved (a plan job's result). */
async function checkHasPlan(db: Db, versionId: string) {
  const [v] = await db
    .select({ metadata: modelVersions.metadata, version: modelVersions.version })
    .from(modelVersions)
    .where(eq(modelVersions.id, versionId));
  if (!Object.keys(v?.metadata.plans ?? {}).length)
    throw new AppError(
      'BAD_REQUEST',
      `sampling.plan: version ${v?.version} has no saved plan; choose one on each serving machine with a plan job (\`anneal submit plan --model-version ${versionId} ...\`)`,
    );
}

async function versionIdOf(db: Db, modelId: string, version: number): Promise<string> {
  const [v] = await db
    .select({ id: modelVersions.id })
    .from(modelVersions)
    .where(and(eq(modelVersions.modelId, modelId), eq(modelVersions.version, version)));
  if (!v) throw new AppError('NOT_FOUND', `version: the model has no version ${version}`);
  return v.id;
}

export async function aliasTarget(db: Db, modelId: string, alias: string) {
  const [a] = await db
    .select({ versionId: modelAliases.versionId })
    .from(modelAliases)
    .where(and(eq(modelAliases.modelId, modelId), eq(modelAliases.alias, alias)));
  return a?.versionId ?? null;
}

/** A deployment of the organization, or NOT_FOUND naming the id. */
export async function getDeploymentRow(db: Db, orgId: string, deploymentId: string) {
  const [row] = await db
    .select({ deployment: deployments })
    .from(deployments)
    .innerJoin(projects, eq(projects.id, deployments.projectId))
    .where(and(eq(deployments.id, deploymentId), eq(projects.orgId, orgId)));
  if (!row) throw new AppError('NOT_FOUND', `deploymentId: no deployment ${deploymentId}`);
  return row.deployment;
}

/** Every deployment still meant to serve, for the router's reconcile pass. */
export function activeDeployments(db: Db) {
  return db
    .select()
    .from(deployments)
    .where(inArray(deployments.status, ['pending', 'serving']));
}

/** Sets (or with null, removes) a deployment's probe schedule and size. */
export async function setProbeConfig(
  db: Db,
  orgId: string,
  deploymentId: string,
  probe: z.infer<typeof probeConfigSchema> | null,
) {
  await getDeploymentRow(db, orgId, deploymentId);
  const [row] = await db
    .update(deployments)
    .set({ probe, updatedAt: new Date() })
    .where(eq(deployments.id, deploymentId))
    .returning();
  return row as typeof deployments.$inferSelect;
}

export async function stopDeployment(db: Db, orgId: string, deploymentId: string) {
  await getDeploymentRow(db, orgId, deploymentId);
  const [row] = await db
    .update(deployments)
    .set({ status: 'stopped', detail: 'stopped by a user', updatedAt: new Date() })
    .where(eq(deployments.id, deploymentId))
    .returning();
  return row;
}

/** Latency percentiles (ms), throughput and errors over a deployment's recent requests. */
export async function deploymentStats(db: Db, deploymentId: string, windowS = 3600) {
  const [row] = await db.execute<{
    succeeded: number;
    failed: number;
    rejected: number;
    p50: number | null;
    p95: number | null;
    p99: number | null;
    queue_p50: number | null;
    images: number;
    first: string | null;
    last: string | null;
  }>(sql`
    select
      count(*) filter (where status = 'succeeded')::int as succeeded,
      count(*) filter (where status = 'failed')::int as failed,
      count(*) filter (where status = 'rejected')::int as rejected,
      percentile_cont(0.5) within group (order by latency_ms) filter (where status = 'succeeded') as p50,
      percentile_cont(0.95) within group (order by latency_ms) filter (where status = 'succeeded') as p95,
      percentile_cont(0.99) within group (order by latency_ms) filter (where status = 'succeeded') as p99,
      percentile_cont(0.5) within group (order by queue_ms) filter (where status = 'succeeded') as queue_p50,
      coalesce(sum(jsonb_array_length(images)) filter (where status = 'succeeded'), 0)::int as images,
      min(created_at) filter (where status = 'succeeded') as first,
      max(created_at) filter (where status = 'succeeded') as last
    from generation_requests
    where deployment_id = ${deploymentId}
      and created_at > now() - make_interval(secs => ${windowS})`);
  const s = row ?? {
    succeeded: 0,
    failed: 0,
    rejected: 0,
    p50: null,
    p95: null,
    p99: null,
    queue_p50: null,
    images: 0,
    first: null,
    last: null,
  };
  // Throughput over the span the answered requests cover (at least a second).
  const spanS =
    s.first && s.last
      ? Math.max(1, (new Date(s.last).getTime() - new Date(s.first).getTime()) / 1000)
      : null;
  return {
    windowS,
    succeeded: s.succeeded,
    failed: s.failed,
    rejected: s.rejected,
    latencyMs: { p50: s.p50, p95: s.p95, p99: s.p99 },
    queueMsP50: s.queue_p50,
    requestsPerS: spanS && s.succeeded > 1 ? s.succeeded / spanS : null,
    imagesPerS: spanS && s.succeeded > 1 ? s.images / spanS : null,
  };
}

export async function listReplicas(db: Db, deploymentId: string, limit = 20) {
  return db
    .select({
      id: deploymentReplicas.id,
      agentId: deploymentReplicas.agentId,
      agentName: agents.name,
      modelVersionId: deploymentReplicas.modelVersionId,
      version: modelVersions.version,
      status: deploymentReplicas.status,
      detail: deploymentReplicas.detail,
      loadMs: deploymentReplicas.loadMs,
      createdAt: deploymentReplicas.createdAt,
      readyAt: deploymentReplicas.readyAt,
      stoppedAt: deploymentReplicas.stoppedAt,
    })
    .from(deploymentReplicas)
    .leftJoin(agents, eq(agents.id, deploymentReplicas.agentId))
    .innerJoin(modelVersions, eq(modelVersions.id, deploymentReplicas.modelVersionId))
    .where(eq(deploymentReplicas.deploymentId, deploymentId))
    .orderBy(desc(deploymentReplicas.createdAt))
    .limit(limit);
}

export async function listRequests(db: Db, deploymentId: string, limit = 50) {
  return db
    .select({
      id: generationRequests.id,
      replicaId: generationRequests.replicaId,
      version: modelVersions.version,
      status: generationRequests.status,
      params: generationRequests.params,
      images: generationRequests.images,
      queueMs: generationRequests.queueMs,
      latencyMs: generationRequests.latencyMs,
      generateMs: generationRequests.generateMs,
      nfe: generationRequests.nfe,
      error: generationRequests.error,
      createdAt: generationRequests.createdAt,
    })
    .from(generationRequests)
    .leftJoin(modelVersions, eq(modelVersions.id, generationRequests.modelVersionId))
    .where(eq(generationRequests.deploymentId, deploymentId))
    .orderBy(desc(generationRequests.createdAt))
    .limit(limit);
}

/** What the API and the dashboard show of one deployment. */
export async function deploymentView(db: Db, row: typeof deployments.$inferSelect) {
  const [model] = await db
    .select({ name: registeredModels.name, version: modelVersions.version })
    .from(modelVersions)
    .innerJoin(registeredModels, eq(registeredModels.id, modelVersions.modelId))
    .where(eq(modelVersions.id, row.modelVersionId));
  return {
    id: row.id,
    projectId: row.projectId,
    name: row.name,
    model: model?.name ?? '',
    alias: row.alias,
    modelVersionId: row.modelVersionId,
    version: model?.version ?? 0,
    status: row.status,
    detail: row.detail,
    replicas: row.desiredReplicas,
    queueLimit: row.queueLimit,
    sampling: row.config,
    probe: row.probe,
    alerting: row.alerting,
    baselineProbeId: row.baselineProbeId,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export async function listDeployments(db: Db, orgId: string, projectId: string) {
  await getProject(db, orgId, projectId);
  const rows = await db
    .select({ deployment: deployments })
    .from(deployments)
    .innerJoin(projects, eq(projects.id, deployments.projectId))
    .where(and(eq(deployments.projectId, projectId), eq(projects.orgId, orgId)))
    .orderBy(desc(deployments.createdAt));
  return Promise.all(rows.map((r) => deploymentView(db, r.deployment)));
}

/** Whether `sha256` is an image this deployment generated (images are read per deployment). */
export async function deploymentHasImage(db: Db, deploymentId: string, sha256: string) {
  const rows = await db.execute(
    sql`select 1 from generation_requests where deployment_id = ${deploymentId}
      and (images @> ${JSON.stringify([sha256])}::jsonb or grid = ${sha256}) limit 1`,
  );
  return rows.length > 0;
}
