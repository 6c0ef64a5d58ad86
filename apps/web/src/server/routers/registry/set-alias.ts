import { aliasSchema, INT4_MAX } from '@anneal/protocol';
import { z } from 'zod';
import { removeAlias as remove, setAlias as set } from '../../domain/registry/registry.ts';
import { editorProcedure } from '../../trpc/init.ts';

const target = z.object({ projectId: z.uuid(), name: z.string().min(1), alias: aliasSchema });

export const setAlias = editorProcedure
  .input(target.extend({ version: z.number().int().positive().max(INT4_MAX) }))
  .output(z.object({ alias: z.string(), version: z.number() }))
  .mutation(({ ctx, input }) =>
    set(ctx.db, ctx.principal.orgId, input.projectId, input.name, input.alias, input.version),
  );

export const removeAlias = editorProcedure
  .input(target)
  .output(z.object({ ok: z.literal(true) }))
  .mutation(async ({ ctx, input }) => {
    await remove(ctx.db, ctx.principal.orgId, input.projectId, input.name, input.alias);
    return { ok: true as const };
  });
