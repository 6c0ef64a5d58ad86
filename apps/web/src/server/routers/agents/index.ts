import { z } from 'zod';
import { listAgents } from '../../domain/agents/agents.ts';
import { router, viewerProcedure } from '../../trpc/init.ts';
import { agentRow } from '../outputs.ts';

/** Agents register themselves over the gateway; this lists them with status and current job. */
export const agentsRouter = router({
  list: viewerProcedure
    .output(z.array(agentRow))
    .query(({ ctx }) =>
      listAgents(ctx.db, ctx.principal.orgId, ctx.agents?.connectedAgents() ?? new Set<string>()),
    ),
});
