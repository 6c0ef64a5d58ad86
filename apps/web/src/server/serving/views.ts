// What the REST API and the dashboard show of deployments: output schemas and the reads
// behind them, shared so both say the same thing.
import { AppError } from '@anneal/core';
import { type alerts, artifacts, type deploymentProbes } from '@anneal/db/schema';
import { type generateParamsSchema, planClash } from '@anneal/protocol';
import { and, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import {
  deploymentStats,
  deploymentView,
  getDeploymentRow,
  listReplicas,
  listRequests,
} from '../domain/deployments/deployments.ts';
import { createProbe, listProbes } from '../domain/deployments/probes.ts';
import type { Services } from '../services.ts';
import type { GenerateOutcome } from './router.ts';

const ms = z.number().nullable();

export const deploymentOutput = z.object({
  id: z.uuid(),
  projectId: z.uuid(),
  name: z.string(),
  model: z.string(),
  alias: z.string().nullable(),
  modelVersionId: z.uuid(),
  version: z.number().int(),
  status: z.enum(['pending', 'serving', 'stopped', 'failed']),
  detail: z.string().nullable(),
  replicas: z.number().int(),
  queueLimit: z.number().int(),
  sampling: z.record(z.string(), z.unknown()),
  probe: z.record(z.string(), z.unknown()).nullable(),
  /** The rules and the webhook's URL (its secret is never returned). */
  alerting: z.record(z.string(), z.unknown()).nullable(),
  baselineProbeId: z.uuid().nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

export const replicaOutput = z.object({
  id: z.uuid(),
  agentId: z.uuid().nullable(),
  agentName: z.string().nullable(),
  modelVersionId: z.uuid(),
  version: z.number().int(),
  status: z.enum(['starting', 'ready', 'draining', 'stopped', 'failed']),
  detail: z.string().nullable(),
  loadMs: ms,
  createdAt: z.iso.datetime(),
  readyAt: z.iso.datetime().nullable(),
  stoppedAt: z.iso.datetime().nullable(),
});

export const statsOutput = z.object({
  windowS: z.number(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  rejected: z.number().int(),
  latencyMs: z.object({ p50: ms, p95: ms, p99: ms }),
  queueMsP50: ms,
  requestsPerS: ms,
  imagesPerS: ms,
});

export const detailOutput = deploymentOutput.extend({
  replicaList: z.array(replicaOutput),
  stats: statsOutput,
});

export const requestOutput = z.object({
  id: z.uuid(),
  replicaId: z.uuid().nullable(),
  version: z.number().int().nullable(),
  status: z.enum(['succeeded', 'failed', 'rejected']),
  params: z.record(z.string(), z.unknown()),
  images: z.array(z.string()),
  queueMs: ms,
  latencyMs: ms,
  generateMs: ms,
  nfe: z.number().int().nullable(),
  error: z.string().nullable(),
  createdAt: z.iso.datetime(),
});

const image = z.object({
  index: z.number().int(),
  sha256: z.string(),
  size: z.number().int(),
  url: z.string(),
});

export const generatedOutput = z.object({
  requestId: z.uuid(),
  replicaId: z.uuid(),
  modelVersionId: z.uuid(),
  seed: z.number().int(),
  class: z.number().int().nullable(),
  sampler: z.string(),
  steps: z.number().int(),
  nfe: z.number().int(),
  images: z.array(image),
  grid: image.omit({ index: true }).nullable(),
  latencyMs: z.number(),
  queueMs: z.number(),
  generateMs: z.number(),
});

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A deployment with its replicas and the last hour's latency figures. */
export async function deploymentDetail(ctx: Services, orgId: string, id: string) {
  const row = await getDeploymentRow(ctx.db, orgId, id);
  const replicas = await listReplicas(ctx.db, id);
  return {
    ...(await deploymentView(ctx.db, row)),
    replicaList: replicas.map((r) => ({
      ...r,
      createdAt: r.createdAt.toISOString(),
      readyAt: iso(r.readyAt),
      stoppedAt: iso(r.stoppedAt),
    })),
    stats: await deploymentStats(ctx.db, id),
  };
}

export const probeOutput = z.object({
  id: z.uuid(),
  modelVersionId: z.uuid(),
  jobId: z.uuid().nullable(),
  runId: z.uuid().nullable(),
  trigger: z.string(),
  status: z.enum(['queued', 'succeeded', 'failed']),
  metrics: z.record(z.string(), z.number()),
  error: z.string().nullable(),
  /** The first samples the probe scored, tiled (its run's samples/grid.png), once uploaded. */
  gridUrl: z.string().nullable(),
  createdAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().nullable(),
});

/** Where a probe's run keeps the grid of the samples it scored (the evaluate job's output). */
export const PROBE_GRID = 'samples/grid.png';

export function probeView(p: typeof deploymentProbes.$inferSelect, hasGrid = false) {
  return {
    id: p.id,
    modelVersionId: p.modelVersionId,
    jobId: p.jobId,
    runId: p.runId,
    trigger: p.trigger,
    status: p.status,
    metrics: p.metrics,
    error: p.error,
    gridUrl: hasGrid && p.runId ? `/api/v1/runs/${p.runId}/artifacts/${PROBE_GRID}` : null,
    createdAt: p.createdAt.toISOString(),
    finishedAt: iso(p.finishedAt),
  };
}

/** Queues a probe of the deployment now, as the caller. */
export async function probeNow(
  ctx: Services,
  caller: { orgId: string; userId: string },
  id: string,
) {
  const row = await getDeploymentRow(ctx.db, caller.orgId, id);
  if (row.status === 'stopped' || row.status === 'failed')
    throw new AppError('CONFLICT', `deployment ${row.name} is ${row.status}`);
  const probe = await createProbe(ctx.db, row, 'manual', caller.userId);
  ctx.events.emitJob({ projectId: row.projectId, jobId: probe.jobId, status: 'queued' });
  return probeView(probe);
}

export async function probesOf(ctx: Services, orgId: string, id: string, limit?: number) {
  await getDeploymentRow(ctx.db, orgId, id);
  const probes = await listProbes(ctx.db, id, limit);
  const runIds = probes.flatMap((p) => (p.runId ? [p.runId] : []));
  const withGrid = new Set(
    runIds.length
      ? (
          await ctx.db
            .select({ runId: artifacts.runId })
            .from(artifacts)
            .where(and(inArray(artifacts.runId, runIds), eq(artifacts.path, PROBE_GRID)))
        ).map((a) => a.runId)
      : [],
  );
  return probes.map((p) => probeView(p, p.runId !== null && withGrid.has(p.runId)));
}

export const alertOutput = z.object({
  id: z.uuid(),
  deploymentId: z.uuid().nullable(),
  ruleKey: z.string().nullable(),
  severity: z.enum(['info', 'warning', 'critical']),
  status: z.enum(['open', 'acknowledged', 'resolved']),
  message: z.string(),
  evidence: z.record(z.string(), z.unknown()),
  suggestion: z.record(z.string(), z.unknown()).nullable(),
  delivery: z.record(z.string(), z.unknown()),
  acknowledgedAt: z.iso.datetime().nullable(),
  resolvedAt: z.iso.datetime().nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

export function alertView(a: typeof alerts.$inferSelect) {
  return {
    id: a.id,
    deploymentId: a.deploymentId,
    ruleKey: a.ruleKey,
    severity: a.severity,
    status: a.status,
    message: a.message,
    evidence: a.evidence,
    suggestion: a.suggestion,
    delivery: a.delivery,
    acknowledgedAt: iso(a.acknowledgedAt),
    resolvedAt: iso(a.resolvedAt),
    createdAt: a.createdAt.toISOString(),
    updatedAt: a.updatedAt.toISOString(),
  };
}

export async function recentRequests(ctx: Services, orgId: string, id: string, limit?: number) {
  await getDeploymentRow(ctx.db, orgId, id);
  return (await listRequests(ctx.db, id, limit)).map((r) => ({
    ...r,
    createdAt: r.createdAt.toISOString(),
  }));
}

/** Routes a request to a replica and waits for its images. */
export async function generate(
  ctx: Services,
  orgId: string,
  id: string,
  params: z.infer<typeof generateParamsSchema>,
): Promise<GenerateOutcome> {
  if (!ctx.serving) throw new AppError('UNAVAILABLE', 'this server runs no agent gateway');
  const clash = planClash(params);
  if (clash) throw new AppError('BAD_REQUEST', clash);
  const row = await getDeploymentRow(ctx.db, orgId, id);
  return ctx.serving.generate(row, params);
}

export function generatedView(deploymentId: string, o: GenerateOutcome) {
  const url = (sha: string) => `/api/v1/deployments/${deploymentId}/images/${sha}`;
  return {
    requestId: o.requestId,
    replicaId: o.replicaId,
    modelVersionId: o.modelVersionId,
    seed: o.request.seed,
    class: o.request.class ?? null,
    sampler: o.sampler,
    steps: o.steps,
    nfe: o.nfe,
    images: o.images.map((im, index) => ({ index, ...im, url: url(im.sha256) })),
    grid: o.grid ? { ...o.grid, url: url(o.grid.sha256) } : null,
    latencyMs: o.latencyMs,
    queueMs: o.queueMs,
    generateMs: o.generateMs,
  };
}
