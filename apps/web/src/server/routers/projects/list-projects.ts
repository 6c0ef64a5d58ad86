import { listProjects as list } from '../../domain/projects/projects.ts';
import { viewerProcedure } from '../../trpc/init.ts';

export const listProjects = viewerProcedure.query(({ ctx }) => list(ctx.db, ctx.principal.orgId));
