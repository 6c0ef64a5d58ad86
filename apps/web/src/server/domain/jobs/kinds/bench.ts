import type { Db } from '@anneal/db/client';
import { agents } from '@anneal/db/schema';
import { agentBenchmarkSchema, benchKind } from '@anneal/protocol';
import { eq } from 'drizzle-orm';
import type { WebJobKind } from './kind.ts';

/** A bench job's result, kept on the agent that ran it (its last benchmark). */
export async function recordBenchmark(
  db: Db,
  agentId: string,
  job: { id: string; spec: unknown },
  summary: Record<string, unknown>,
): Promise<string | null> {
  const spec = benchKind.spec.safeParse(job.spec);
  const parsed = benchKind.result.safeParse(summary);
  if (!spec.success || !parsed.success)
    return `the bench summary is not valid: ${(parsed.error ?? spec.error)?.issues[0]?.message}`;
  const file = parsed.data.results.sampling;
  const benchmark = agentBenchmarkSchema.parse({
    job_id: job.id,
    at: new Date().toISOString(),
    benchmark: spec.data.benchmark,
    scale: spec.data.scale,
    seconds: file.seconds,
    machine: file.machine,
    model: file.result.model,
    parameters: file.result.parameters,
    resolution: file.result.resolution,
    samplers: file.result.samplers,
  });
  await db.update(agents).set({ benchmark }).where(eq(agents.id, agentId));
  return null;
}

export const benchWebKind: WebJobKind = {
  complete: (db, { agentId, job, summary }) => recordBenchmark(db, agentId, job, summary),
};
