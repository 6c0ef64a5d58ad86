import type { Db } from '@anneal/db/client';
import { jobKindOf, jobTypeSchema } from '@anneal/protocol';
import { webJobKinds } from './kinds/index.ts';
import type { Completion } from './kinds/kind.ts';

/**
 * What a job's success leaves behind, by its kind (a train job registers its model, an
 * evaluate job its result on the model version, a bench job its result on the agent).
 * The summary is parsed with the kind's result schema first: the kinds record the parsed
 * summary only. Returns why the summary was refused (the job then fails), or null.
 */
export async function recordCompletion(db: Db, done: Completion): Promise<string | null> {
  const type = jobTypeSchema.safeParse(done.job.type);
  const kind = type.success ? jobKindOf(type.data) : undefined;
  if (!type.success || !kind) return `no job kind "${done.job.type}"`;
  const summary = kind.result.safeParse(done.summary);
  if (!summary.success) {
    const issue = summary.error.issues[0];
    return `the ${type.data} job's summary is not valid: ${issue?.path.join('.') || 'summary'}: ${issue?.message}`;
  }
  return webJobKinds[type.data].complete(db, {
    ...done,
    summary: summary.data as Record<string, unknown>,
  });
}
