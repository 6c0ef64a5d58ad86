import { z } from 'zod';
import { benchSummarySchema } from '../results.ts';
import { defineJobKind, errorEventSchema } from './kind.ts';

/**
 * A bench job: the engine-only sampling benchmark of `anneal bench` on the agent (no Python
 * reference needed, so any agent runs it), at a bounded scale: `smoke` takes seconds and its
 * numbers only show the harness works, `quick` takes a minute or two. The result lands on
 * the agent.
 */
export const benchSpecSchema = z
  .object({
    benchmark: z.enum(['sampling']).default('sampling'),
    scale: z.enum(['smoke', 'quick']).default('quick'),
  })
  .strict();
export type BenchSpec = z.infer<typeof benchSpecSchema>;

export const benchKind = defineJobKind({
  type: 'bench',
  summary: "the engine's sampling benchmark on the agent",
  spec: benchSpecSchema,
  events: z.discriminatedUnion('event', [errorEventSchema]),
  result: benchSummarySchema,
  dataset: () => null,
  model: () => null,
  readsSourceDataset: false,
  // A small fixed model: negligible next to any budget.
  memoryNeed: () => null,
  totalSteps: () => null,
});
