import { agents } from '@anneal/db/schema';
import { desc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { router, viewerProcedure } from '../../trpc/init.ts';
import { agentRow } from '../outputs.ts';

/** Agents register themselves over the gateway (next issue); this lists what is there. */
export const agentsRouter = router({
  list: viewerProcedure.output(z.array(agentRow)).query(({ ctx }) =>
    ctx.db
      .select({
        id: agents.id,
        name: agents.name,
        version: agents.version,
        hardware: agents.hardware,
        lastSeenAt: agents.lastSeenAt,
      })
      .from(agents)
      .where(eq(agents.orgId, ctx.principal.orgId))
      .orderBy(desc(agents.lastSeenAt)),
  ),
});
