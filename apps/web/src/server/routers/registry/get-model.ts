import { learnedScheduleSchema, qualityCurveSchema } from '@anneal/engine/config';
import {
  distillationRecordSchema,
  evaluationRecordSchema,
  planRecordSchema,
  searchRecordSchema,
} from '@anneal/protocol';
import { z } from 'zod';
import { readModel } from '../../domain/registry/registry.ts';
import { viewerProcedure } from '../../trpc/init.ts';
import { modelDetail } from '../outputs.ts';

/** Stored evaluations that no longer parse (an older shape) are left out, not fatal. */
const evaluations = z.array(evaluationRecordSchema).catch([]);
/**
 * Likewise learned schedules, one by one: a stored schedule that no longer parses (e.g. one
 * with equal calibration and held-out seeds, refused since) hides only itself.
 */
const schedules = z
  .array(z.unknown())
  .catch([])
  .transform((list) =>
    list.flatMap((v) => {
      const p = learnedScheduleSchema.safeParse(v);
      return p.success ? [p.data] : [];
    }),
  );
/** Likewise a distillation record: the version then shows without its teacher chain. */
const distillation = distillationRecordSchema.optional().catch(undefined);
/** Likewise a search record: the version then shows without what the search measured. */
const search = searchRecordSchema.optional().catch(undefined);
/** Likewise plans (one that no longer parses is left out) and the quality curve. */
const plans = z
  .record(z.string(), z.unknown())
  .optional()
  .transform((r) =>
    r
      ? Object.fromEntries(
          Object.entries(r).flatMap(([k, v]) => {
            const p = planRecordSchema.safeParse(v);
            return p.success ? [[k, p.data]] : [];
          }),
        )
      : undefined,
  );
const qualityCurve = qualityCurveSchema.optional().catch(undefined);

export const getModel = viewerProcedure
  .input(z.object({ projectId: z.uuid(), name: z.string().min(1) }))
  .output(modelDetail)
  .query(async ({ ctx, input }) => {
    const model = await readModel(ctx.db, ctx.principal.orgId, input.projectId, input.name);
    return {
      ...model,
      versions: model.versions.map((v) => ({
        ...v,
        metadata: {
          ...v.metadata,
          evaluations: evaluations.parse(v.metadata.evaluations ?? []),
          distillation: distillation.parse(v.metadata.distillation),
          search: search.parse(v.metadata.search),
          plans: plans.parse(v.metadata.plans),
          qualityCurve: qualityCurve.parse(v.metadata.qualityCurve),
          schedules: schedules.parse(v.metadata.schedules ?? []),
        },
      })),
    };
  });
