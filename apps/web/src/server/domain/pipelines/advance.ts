// The server's part of pipelines: each pass takes every open run (row-locked with SKIP LOCKED,
// so two servers never advance the same run at once) and moves its nodes along from what
// PostgreSQL holds: a finished job's outputs are read, a failed one retried or failed, a node
// whose dependencies succeeded has its references resolved and its conditions judged, then
// starts (a job queued, an alias set, a deployment created). Nothing lives only in memory,
// so a restarted server goes on where the last one stopped.
import { AppError } from '@anneal/core';
import type { Db, Tx } from '@anneal/db/client';
import {
  deploymentReplicas,
  deployments,
  jobs,
  memberships,
  metrics,
  modelVersions,
  pipelineNodes,
  pipelineRuns,
  projects,
  registeredModels,
} from '@anneal/db/schema';
import type { JobSpec } from '@anneal/protocol';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import { aliasTarget, createDeployment } from '../deployments/deployments.ts';
import { PROBE_METRICS } from '../deployments/probes.ts';
import { createJob, retryJob } from '../jobs/jobs.ts';
import { getModelVersion, setAlias } from '../registry/registry.ts';
import { openRunIds } from './pipelines.ts';
import {
  dependencies,
  type deployNodeSpecSchema,
  holds,
  isJobKind,
  type NodeKind,
  type PipelineNode,
  parseNodeSpec,
  pipelineSpecSchema,
  type registerNodeSpecSchema,
  resolveRefs,
  topological,
  UnresolvedRef,
} from './spec.ts';

/** Whom a pass tells: new jobs (watchers, agents), new deployments (the serving router). */
export interface AdvanceHooks {
  log: (line: string) => void;
  jobQueued?: (projectId: string, jobId: string) => void;
  deploymentCreated?: () => void;
}

type NodeRow = typeof pipelineNodes.$inferSelect;
type RunRow = typeof pipelineRuns.$inferSelect;
type Change = Partial<Omit<NodeRow, 'id' | 'pipelineRunId' | 'key' | 'kind'>>;

const TERMINAL = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);

/** One pass over every open run. */
export async function advancePipelines(db: Db, hooks: AdvanceHooks): Promise<void> {
  for (const { id } of await openRunIds(db)) {
    try {
      await advanceRun(db, id, hooks);
    } catch (err) {
      hooks.log(`pipeline run ${id}: ${(err as Error).stack ?? err}`);
    }
  }
}

/**
 * Advances one run as far as it goes now. A run another pass holds is left to it, unless
 * `wait`: then this waits for that pass and advances the run after it (a trigger answers
 * with its run started).
 */
export async function advanceRun(
  db: Db,
  runId: string,
  hooks: AdvanceHooks,
  o: { wait?: boolean } = {},
): Promise<void> {
  const after: (() => void)[] = [];
  await db.transaction(async (tx) => {
    const [run] = await tx
      .select()
      .from(pipelineRuns)
      .where(and(eq(pipelineRuns.id, runId), eq(pipelineRuns.status, 'running')))
      .for('update', o.wait ? {} : { skipLocked: true });
    if (!run) return;
    const spec = pipelineSpecSchema.safeParse(run.spec);
    if (!spec.success)
      return finishRun(
        tx,
        run,
        'failed',
        `the run's spec does not validate: ${spec.error.issues[0]?.message}`,
      );
    const [project] = await tx
      .select({ orgId: projects.orgId })
      .from(projects)
      .where(eq(projects.id, run.projectId));
    if (!project) return finishRun(tx, run, 'failed', 'its project is gone');
    const rows = await tx
      .select()
      .from(pipelineNodes)
      .where(eq(pipelineNodes.pipelineRunId, run.id));
    const byKey = new Map(rows.map((r) => [r.key, r]));
    const ctx: RunContext = { tx, run, orgId: project.orgId, byKey, hooks, after };
    for (const node of topological(spec.data.nodes)) {
      const row = byKey.get(node.key);
      if (!row) continue;
      try {
        if (row.status === 'running') await poll(ctx, node, row);
        if (row.status === 'pending') await maybeStart(ctx, node, row);
      } catch (err) {
        // A reference with nothing behind it, a spec its kind refuses, a registry or project
        // that says no: the node fails with the reason. Anything else is the pass's failure.
        if (!(err instanceof UnresolvedRef || err instanceof AppError)) throw err;
        await update(ctx, row, { status: 'failed', detail: err.message, finishedAt: new Date() });
      }
    }
    const all = [...byKey.values()];
    if (all.every((r) => TERMINAL.has(r.status))) {
      const failed = all.filter((r) => r.status === 'failed');
      await finishRun(
        tx,
        run,
        failed.length ? 'failed' : 'succeeded',
        failed.length ? failed.map((r) => `${r.key}: ${r.detail ?? 'failed'}`).join('; ') : null,
      );
      hooks.log(`pipeline run ${run.id} (${run.name}): ${failed.length ? 'failed' : 'succeeded'}`);
    }
  });
  for (const f of after) f();
}

interface RunContext {
  tx: Tx;
  run: RunRow;
  orgId: string;
  byKey: Map<string, NodeRow>;
  hooks: AdvanceHooks;
  /** Said once the pass's transaction committed. */
  after: (() => void)[];
}

async function finishRun(
  tx: Tx,
  run: RunRow,
  status: 'succeeded' | 'failed',
  error: string | null,
) {
  await tx
    .update(pipelineRuns)
    .set({ status, error, finishedAt: new Date(), updatedAt: new Date() })
    .where(eq(pipelineRuns.id, run.id));
}

async function update(ctx: RunContext, row: NodeRow, change: Change) {
  Object.assign(row, change);
  await ctx.tx.update(pipelineNodes).set(change).where(eq(pipelineNodes.id, row.id));
  await ctx.tx
    .update(pipelineRuns)
    .set({ updatedAt: new Date() })
    .where(eq(pipelineRuns.id, ctx.run.id));
}

/** A running node: its job or deployment, looked at again. */
async function poll(ctx: RunContext, node: PipelineNode, row: NodeRow) {
  if (node.kind === 'deploy') return pollDeployment(ctx, row);
  const gone = { status: 'failed', detail: 'its job was deleted', finishedAt: new Date() } as const;
  if (!row.jobId) return update(ctx, row, gone);
  const [job] = await ctx.tx
    .select({ status: jobs.status, error: jobs.error })
    .from(jobs)
    .where(eq(jobs.id, row.jobId));
  if (!job) return update(ctx, row, gone);
  if (job.status === 'succeeded') {
    const outputs = {
      job_id: row.jobId,
      run_id: row.runId,
      ...(await jobOutputs(ctx.tx, node.kind, row)),
    };
    return update(ctx, row, { status: 'succeeded', outputs, detail: null, finishedAt: new Date() });
  }
  if (job.status === 'failed' && row.attempts <= node.retries) {
    // The same job again: it resumes from its last checkpoint.
    await retryJob(ctx.tx as unknown as Db, ctx.orgId, row.jobId);
    const jobId = row.jobId;
    ctx.after.push(() => ctx.hooks.jobQueued?.(ctx.run.projectId, jobId));
    return update(ctx, row, {
      attempts: row.attempts + 1,
      detail: `attempt ${row.attempts} failed (${job.error ?? 'no reason given'}); retry ${row.attempts} of ${node.retries}`,
    });
  }
  if (job.status === 'failed' || job.status === 'cancelled')
    return update(ctx, row, {
      status: 'failed',
      detail: `its ${node.kind} job ${job.status === 'cancelled' ? 'was cancelled' : 'failed'}${job.error && job.error !== 'cancelled' ? `: ${job.error}` : ''}${row.attempts > 1 ? ` (after ${row.attempts} attempts)` : ''}`,
      finishedAt: new Date(),
    });
}

/** What a finished job leaves for later nodes, read from what its completion recorded. */
async function jobOutputs(tx: Tx, kind: NodeKind, row: NodeRow): Promise<Record<string, unknown>> {
  if (!row.runId) return {};
  if (kind === 'train' || kind === 'distill') {
    // A train run registers one version; a distill run one per stage within budget, of which
    // the kept student (the fewest steps within budget) is the one later nodes want.
    const versions = await tx
      .select({
        id: modelVersions.id,
        version: modelVersions.version,
        model: registeredModels.name,
        metadata: modelVersions.metadata,
      })
      .from(modelVersions)
      .innerJoin(registeredModels, eq(registeredModels.id, modelVersions.modelId))
      .where(eq(modelVersions.sourceRunId, row.runId))
      .orderBy(desc(modelVersions.version));
    const kept =
      versions.find(
        (v) => (v.metadata as { distillation?: { kept?: boolean } }).distillation?.kept,
      ) ?? versions[0];
    const out: Record<string, unknown> = kept
      ? { version_id: kept.id, model: kept.model, version: kept.version }
      : {};
    if (kind === 'distill' && kept) {
      const m = kept.metadata as { steps?: number; quality?: { fd?: number } };
      if (typeof m.steps === 'number') out.steps = m.steps;
      if (typeof m.quality?.fd === 'number') out.fd = m.quality.fd;
    }
    if (kind === 'train') {
      const [loss] = await tx
        .select({ value: metrics.value })
        .from(metrics)
        .where(and(eq(metrics.runId, row.runId), eq(metrics.key, 'loss')))
        .orderBy(desc(metrics.step))
        .limit(1);
      if (loss && Number.isFinite(loss.value)) out.loss = loss.value;
    }
    return out;
  }
  if (kind === 'evaluate') {
    const rows = await tx
      .select({ key: metrics.key, value: metrics.value })
      .from(metrics)
      .where(
        and(
          eq(metrics.runId, row.runId),
          eq(metrics.step, 0),
          inArray(metrics.key, [...PROBE_METRICS]),
        ),
      );
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }
  return {};
}

/** A pending node: started once what it depends on succeeded and its conditions hold. */
async function maybeStart(ctx: RunContext, node: PipelineNode, row: NodeRow) {
  const deps = dependencies(node).map((k) => ctx.byKey.get(k) as NodeRow);
  const blocked = deps.find((d) => d.status === 'failed' || d.status === 'cancelled');
  if (blocked)
    return update(ctx, row, {
      status: 'skipped',
      detail: `not run: ${blocked.key} ${blocked.status === 'failed' ? 'failed' : 'was cancelled'}`,
      finishedAt: new Date(),
    });
  const skipped = deps.find((d) => d.status === 'skipped');
  if (skipped)
    return update(ctx, row, {
      status: 'skipped',
      detail: `not run: ${skipped.key} was skipped`,
      finishedAt: new Date(),
    });
  const waiting = deps.filter((d) => d.status !== 'succeeded').map((d) => d.key);
  if (waiting.length) {
    const detail = `waiting for ${waiting.join(', ')}`;
    if (row.detail !== detail) await update(ctx, row, { detail });
    return;
  }
  const lookup = (key: string, output: string) =>
    key === 'params' ? ctx.run.params[output] : ctx.byKey.get(key)?.outputs[output];
  for (const c of node.when) {
    const left = resolveRefs(c.left, lookup);
    const right = resolveRefs(c.right, lookup);
    if (!holds({ left, op: c.op, right }))
      return update(ctx, row, {
        status: 'skipped',
        detail: `condition not met: ${c.left} ${c.op} ${c.right} is ${JSON.stringify(left)} ${c.op} ${JSON.stringify(right)}`,
        finishedAt: new Date(),
      });
  }
  const parsed = parseNodeSpec(node.kind, resolveRefs(node.spec, lookup));
  if (!parsed.success)
    return update(ctx, row, {
      status: 'failed',
      detail: parsed.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      finishedAt: new Date(),
    });
  // Nodes act as the user who started the run: one who left the organization, or may no
  // longer write, starts nothing more.
  const [member] = ctx.run.createdBy
    ? await ctx.tx
        .select({ role: memberships.role })
        .from(memberships)
        .where(and(eq(memberships.userId, ctx.run.createdBy), eq(memberships.orgId, ctx.orgId)))
    : [];
  if (!ctx.run.createdBy || !member || member.role === 'viewer')
    return update(ctx, row, {
      status: 'failed',
      detail: `the user who started the run ${!ctx.run.createdBy ? 'no longer exists' : !member ? 'is no longer a member of the organization' : 'may no longer write (viewer)'}`,
      finishedAt: new Date(),
    });
  const started = new Date();
  if (isJobKind(node.kind)) {
    const job = await createJob(
      ctx.tx as unknown as Db,
      ctx.orgId,
      ctx.run.createdBy,
      ctx.run.projectId,
      {
        job: { type: node.kind, spec: parsed.value } as JobSpec,
        name: `${ctx.run.name} ${node.key}`,
        maxAttempts: 3,
      },
    );
    ctx.after.push(() => ctx.hooks.jobQueued?.(ctx.run.projectId, job.id));
    return update(ctx, row, {
      status: 'running',
      attempts: 1,
      jobId: job.id,
      runId: job.runId,
      detail: null,
      startedAt: started,
    });
  }
  if (node.kind === 'register') {
    const s = parsed.value as ReturnType<typeof registerNodeSpecSchema.parse>;
    const v = await getModelVersion(ctx.tx as unknown as Db, ctx.orgId, s.version_id);
    await checkPlanServing(ctx.tx, v, s.alias);
    await setAlias(
      ctx.tx as unknown as Db,
      ctx.orgId,
      v.projectId,
      v.modelName,
      s.alias,
      v.version,
    );
    return update(ctx, row, {
      status: 'succeeded',
      outputs: { version_id: v.id, model: v.modelName, version: v.version, alias: s.alias },
      detail: `${v.modelName}@${s.alias} -> v${v.version}`,
      startedAt: started,
      finishedAt: new Date(),
    });
  }
  return startDeployment(ctx, row, parsed.value as ReturnType<typeof deployNodeSpecSchema.parse>);
}

/**
 * A deploy node creates its deployment, or takes over the live one of that name when it
 * serves the same model the same way (following the same alias, or the same version).
 */
async function startDeployment(
  ctx: RunContext,
  row: NodeRow,
  s: ReturnType<typeof deployNodeSpecSchema.parse>,
) {
  const caller = { orgId: ctx.orgId, userId: ctx.run.createdBy as string };
  const [existing] = await ctx.tx
    .select({ d: deployments, model: registeredModels.name })
    .from(deployments)
    .innerJoin(registeredModels, eq(registeredModels.id, deployments.modelId))
    .where(and(eq(deployments.projectId, ctx.run.projectId), eq(deployments.name, s.name)));
  let id: string;
  if (existing && ['pending', 'serving'].includes(existing.d.status)) {
    const differs = await deploymentDiffers(ctx.tx, existing, s);
    if (differs)
      throw new AppError(
        'CONFLICT',
        `deployment "${s.name}" is live and ${differs}; give the node another name, or stop that deployment`,
      );
    id = existing.d.id;
  } else {
    if (existing)
      throw new AppError(
        'CONFLICT',
        `deployment "${s.name}" exists and is ${existing.d.status}; give the node another name`,
      );
    id = (await createDeployment(ctx.tx as unknown as Db, caller, ctx.run.projectId, s)).id;
    ctx.after.push(() => ctx.hooks.deploymentCreated?.());
  }
  await update(ctx, row, {
    status: 'running',
    attempts: 1,
    deploymentId: id,
    detail: 'waiting for a ready replica',
    startedAt: new Date(),
  });
  return pollDeployment(ctx, row);
}

/**
 * How a live deployment differs from what a deploy node asks for (the model, the alias or
 * pinned version, the served sampling), in words; null when the node can take it over.
 */
async function deploymentDiffers(
  tx: Tx,
  existing: { d: typeof deployments.$inferSelect; model: string },
  s: ReturnType<typeof deployNodeSpecSchema.parse>,
): Promise<string | null> {
  const { d } = existing;
  const serves = d.alias ? `${existing.model}@${d.alias}` : existing.model;
  if (existing.model !== s.model) return `serves ${serves}, not ${s.model}`;
  if (s.alias !== undefined || d.alias !== null) {
    if (d.alias !== (s.alias ?? null))
      return `serves ${serves}, not ${s.alias ? `${s.model}@${s.alias}` : `version ${s.version}`}`;
  } else {
    const [pinned] = await tx
      .select({ version: modelVersions.version })
      .from(modelVersions)
      .where(eq(modelVersions.id, d.modelVersionId));
    if (pinned?.version !== s.version)
      return `serves ${existing.model} version ${pinned?.version}, not version ${s.version}`;
  }
  const canon = (o: Record<string, unknown>) =>
    JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b))));
  if (canon(d.config) !== canon(s.sampling))
    return `samples with ${canon(d.config)}, not ${canon(s.sampling)}`;
  return null;
}

/**
 * A version put behind an alias that a deployment serving the saved plan follows must have a
 * plan, or every request of that deployment would be refused.
 */
async function checkPlanServing(
  tx: Tx,
  v: { modelId: string; version: number; metadata: { plans?: Record<string, unknown> } },
  alias: string,
) {
  if (Object.keys(v.metadata.plans ?? {}).length) return;
  const [planned] = await tx
    .select({ name: deployments.name })
    .from(deployments)
    .where(
      and(
        eq(deployments.modelId, v.modelId),
        eq(deployments.alias, alias),
        inArray(deployments.status, ['pending', 'serving']),
        sql`(${deployments.config}->>'plan')::boolean is true`,
      ),
    );
  if (planned)
    throw new AppError(
      'CONFLICT',
      `deployment ${planned.name} serves the saved plan of whatever ${alias} points at, and version ${v.version} has no saved plan; run a plan job on it first`,
    );
}

/** A deploy node succeeds once a replica of the version it should serve is ready. */
async function pollDeployment(ctx: RunContext, row: NodeRow) {
  if (!row.deploymentId)
    return update(ctx, row, {
      status: 'failed',
      detail: 'its deployment was deleted',
      finishedAt: new Date(),
    });
  const [d] = await ctx.tx.select().from(deployments).where(eq(deployments.id, row.deploymentId));
  if (!d)
    return update(ctx, row, {
      status: 'failed',
      detail: 'its deployment was deleted',
      finishedAt: new Date(),
    });
  if (d.status === 'failed' || d.status === 'stopped')
    return update(ctx, row, {
      status: 'failed',
      detail: `the deployment ${d.status === 'failed' ? 'failed' : 'was stopped'}${d.detail ? `: ${d.detail}` : ''}`,
      finishedAt: new Date(),
    });
  const target =
    (d.alias ? await aliasTarget(ctx.tx as unknown as Db, d.modelId, d.alias) : null) ??
    d.modelVersionId;
  const [ready] = await ctx.tx
    .select({ id: deploymentReplicas.id })
    .from(deploymentReplicas)
    .where(
      and(
        eq(deploymentReplicas.deploymentId, d.id),
        eq(deploymentReplicas.modelVersionId, target),
        eq(deploymentReplicas.status, 'ready'),
      ),
    )
    .limit(1);
  if (ready)
    return update(ctx, row, {
      status: 'succeeded',
      outputs: { deployment_id: d.id, version_id: target },
      detail: `serving ${d.name}`,
      finishedAt: new Date(),
    });
  const detail = d.detail
    ? `waiting for a ready replica: ${d.detail}`
    : 'waiting for a ready replica';
  if (row.detail !== detail) await update(ctx, row, { detail });
}
