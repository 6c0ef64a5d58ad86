import type { Db } from '@anneal/db/client';
import { jobTypeSchema } from '@anneal/protocol';
import { webJobKinds } from './kinds/index.ts';
import type { Completion } from './kinds/kind.ts';

/**
 * What a job's success leaves behind, by its kind (a train job registers its model, an
 * evaluate job its result on the model version, a bench job its result on the agent).
 * Returns why the summary was refused (the job then fails), or null.
 */
export async function recordCompletion(db: Db, done: Completion): Promise<string | null> {
  const type = jobTypeSchema.safeParse(done.job.type);
  if (!type.success) return `no job kind "${done.job.type}"`;
  return webJobKinds[type.data].complete(db, done);
}
