import { agents, jobs } from '@anneal/db/schema';
import { agentBenchmarkSchema } from '@anneal/protocol';
import { and, desc, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { router, viewerProcedure } from '../../trpc/init.ts';
import { agentRow } from '../outputs.ts';

/** Agents register themselves over the gateway; this lists them with status and current job. */
export const agentsRouter = router({
  list: viewerProcedure.output(z.array(agentRow)).query(async ({ ctx }) => {
    const rows = await ctx.db
      .select({
        id: agents.id,
        name: agents.name,
        version: agents.version,
        hardware: agents.hardware,
        benchmark: agents.benchmark,
        lastSeenAt: agents.lastSeenAt,
      })
      .from(agents)
      .where(eq(agents.orgId, ctx.principal.orgId))
      .orderBy(desc(agents.lastSeenAt));
    const ids = rows.map((r) => r.id);
    const running = ids.length
      ? await ctx.db
          .select({
            id: jobs.id,
            projectId: jobs.projectId,
            type: jobs.type,
            owner: jobs.leaseOwner,
          })
          .from(jobs)
          .where(and(inArray(jobs.leaseOwner, ids), inArray(jobs.status, ['leased', 'running'])))
      : [];
    const online = ctx.agents?.connectedAgents() ?? new Set<string>();
    return rows.map((r) => {
      const job = running.find((j) => j.owner === r.id);
      const benchmark = agentBenchmarkSchema.safeParse(r.benchmark);
      return {
        ...r,
        benchmark: benchmark.success ? benchmark.data : null,
        online: online.has(r.id),
        currentJob: job ? { id: job.id, projectId: job.projectId, type: job.type } : null,
      };
    });
  }),
});
