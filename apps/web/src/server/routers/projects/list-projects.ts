import { z } from 'zod';
import { listProjects as list } from '../../domain/projects/projects.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { projectSummary } from '../outputs.ts';

export const listProjects = viewerProcedure
  .output(z.array(projectSummary))
  .query(({ ctx }) => list(ctx.db, ctx.principal.orgId));
