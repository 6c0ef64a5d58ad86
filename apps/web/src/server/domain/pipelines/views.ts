// What the REST API and the dashboard show of pipelines and their runs: output schemas and
// the reads behind them, shared so both say the same thing.
import type { Db } from '@anneal/db/client';
import { pipelineNodes, pipelineRuns, type pipelines } from '@anneal/db/schema';
import { desc, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { dependencies, type PipelineSpec, pipelineSpecSchema, topological } from './spec.ts';

type Pipeline = typeof pipelines.$inferSelect;
type PipelineRun = typeof pipelineRuns.$inferSelect;
type NodeRow = typeof pipelineNodes.$inferSelect;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const pipelineOutput = z.object({
  id: z.uuid(),
  projectId: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  spec: z.record(z.string(), z.unknown()),
  lastRun: z.object({ id: z.uuid(), status: z.string(), createdAt: z.iso.datetime() }).nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type PipelineOutput = z.infer<typeof pipelineOutput>;

export const pipelineNodeOutput = z.object({
  key: z.string(),
  kind: z.string(),
  /** The nodes it waits for (needs and references). */
  needs: z.array(z.string()),
  status: z.enum(['pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled']),
  attempts: z.number().int(),
  retries: z.number().int(),
  jobId: z.uuid().nullable(),
  runId: z.uuid().nullable(),
  deploymentId: z.uuid().nullable(),
  outputs: z.record(z.string(), z.unknown()),
  detail: z.string().nullable(),
  startedAt: z.iso.datetime().nullable(),
  finishedAt: z.iso.datetime().nullable(),
});

export const pipelineRunOutput = z.object({
  id: z.uuid(),
  projectId: z.uuid(),
  pipelineId: z.uuid().nullable(),
  name: z.string(),
  status: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
  trigger: z.string(),
  alertId: z.uuid().nullable(),
  params: z.record(z.string(), z.unknown()),
  error: z.string().nullable(),
  nodes: z.array(pipelineNodeOutput),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().nullable(),
});
export type PipelineRunOutput = z.infer<typeof pipelineRunOutput>;

export async function pipelineViews(db: Db, rows: Pipeline[]): Promise<PipelineOutput[]> {
  const last = rows.length
    ? await db
        .selectDistinctOn([pipelineRuns.pipelineId], {
          pipelineId: pipelineRuns.pipelineId,
          id: pipelineRuns.id,
          status: pipelineRuns.status,
          createdAt: pipelineRuns.createdAt,
        })
        .from(pipelineRuns)
        .where(
          inArray(
            pipelineRuns.pipelineId,
            rows.map((r) => r.id),
          ),
        )
        .orderBy(pipelineRuns.pipelineId, desc(pipelineRuns.createdAt))
    : [];
  return rows.map((p) => {
    const l = last.find((x) => x.pipelineId === p.id);
    return {
      id: p.id,
      projectId: p.projectId,
      name: p.name,
      description: p.description,
      spec: p.spec,
      lastRun: l ? { id: l.id, status: l.status, createdAt: l.createdAt.toISOString() } : null,
      createdAt: p.createdAt.toISOString(),
      updatedAt: p.updatedAt.toISOString(),
    };
  });
}

export async function pipelineRunView(db: Db, run: PipelineRun): Promise<PipelineRunOutput> {
  const rows = await db.select().from(pipelineNodes).where(eq(pipelineNodes.pipelineRunId, run.id));
  const spec = pipelineSpecSchema.safeParse(run.spec);
  const nodes = spec.success ? topological(spec.data.nodes) : [];
  const byKey = new Map(rows.map((r) => [r.key, r]));
  const ordered: [NodeRow, PipelineSpec['nodes'][number] | undefined][] = spec.success
    ? nodes.flatMap((n) => {
        const r = byKey.get(n.key);
        return r ? [[r, n] as [NodeRow, typeof n]] : [];
      })
    : rows.map((r) => [r, undefined]);
  return {
    id: run.id,
    projectId: run.projectId,
    pipelineId: run.pipelineId,
    name: run.name,
    status: run.status,
    trigger: run.trigger,
    alertId: run.alertId,
    params: run.params,
    error: run.error,
    nodes: ordered.map(([r, n]) => ({
      key: r.key,
      kind: r.kind,
      needs: n ? dependencies(n) : [],
      status: r.status,
      attempts: r.attempts,
      retries: n?.retries ?? 0,
      jobId: r.jobId,
      runId: r.runId,
      deploymentId: r.deploymentId,
      outputs: r.outputs,
      detail: r.detail,
      startedAt: iso(r.startedAt),
      finishedAt: iso(r.finishedAt),
    })),
    createdAt: run.createdAt.toISOString(),
    updatedAt: run.updatedAt.toISOString(),
    finishedAt: iso(run.finishedAt),
  };
}
