import { z } from 'zod';

/**
 * Where a sample or evaluate job's weights come from: the last checkpoint of a run, or the
 * checkpoint a registered model version points at.
 */
export const modelSourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('run'), runId: z.uuid() }).strict(),
  z.object({ kind: z.literal('modelVersion'), id: z.uuid() }).strict(),
]);
export type ModelSource = z.infer<typeof modelSourceSchema>;
