import { modelNameSchema } from '@anneal/protocol';
import { z } from 'zod';
import {
  registerVersion as register,
  registerVersionInput,
} from '../../domain/registry/registry.ts';
import { editorProcedure } from '../../trpc/init.ts';

export const registerVersion = editorProcedure
  .input(registerVersionInput.extend({ projectId: z.uuid(), name: modelNameSchema }))
  .output(z.object({ name: z.string(), version: z.number() }))
  .mutation(async ({ ctx, input }) => {
    const { projectId, name, ...rest } = input;
    const v = await register(ctx.db, ctx.principal.orgId, projectId, name, rest);
    return { name: v.name, version: v.version };
  });
