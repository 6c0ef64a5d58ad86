import { z } from 'zod';

/**
 * Where a sample or evaluate job's weights come from: the last checkpoint of a run, or the
 * checkpoint a registered model version points at.
 */
// Ids are stored lower-case, as PostgreSQL prints uuids: queries that read them back out of
// a job spec's jsonb compare text (agent reach, memory requirements).
export const modelSourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('run'), runId: z.uuid().toLowerCase() }).strict(),
  z.object({ kind: z.literal('modelVersion'), id: z.uuid().toLowerCase() }).strict(),
]);
export type ModelSource = z.infer<typeof modelSourceSchema>;
