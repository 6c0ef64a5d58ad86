// What an agent token may read while its agent holds leases: exactly the inputs of its live
// jobs. The authorization layer (auth/access.ts) asks these; writes are agentMayWriteRun.

import type { Db } from '@anneal/db/client';
import { sql } from 'drizzle-orm';

/** The live jobs of the agent behind token `tokenId`, as a SQL fragment aliased `j`. */
const liveJobsOf = (tokenId: string) => sql`
  jobs j join agents a on a.id = j.lease_owner
  where a.token_id = ${tokenId} and j.status in ('leased', 'running')`;

/**
 * Whether a job leased to the token's agent runs in run `runId` (it downloads its own last
 * checkpoint to resume) or reads its weights from it: a sample or evaluate job's model
 * source, directly or through the model version it names.
 */
export async function agentMayReadRun(db: Db, tokenId: string, runId: string) {
  const rows = await db.execute<{ ok: number }>(sql`
    select 1 as ok from ${liveJobsOf(tokenId)} and (
      exists (select 1 from runs r where r.job_id = j.id and r.id = ${runId})
      or j.spec->'model'->>'runId' = ${runId}::text
      or exists (select 1 from model_versions mv
        where j.spec->'model'->>'kind' = 'modelVersion'
          and mv.id::text = j.spec->'model'->>'id' and mv.source_run_id = ${runId}))
    limit 1`);
  return rows.length > 0;
}

/** Whether a job leased to the token's agent takes its checkpoint from model version `versionId`. */
export async function agentMayReadModelVersion(db: Db, tokenId: string, versionId: string) {
  const rows = await db.execute<{ ok: number }>(sql`
    select 1 as ok from ${liveJobsOf(tokenId)}
      and j.spec->'model'->>'kind' = 'modelVersion' and j.spec->'model'->>'id' = ${versionId}::text
    limit 1`);
  return rows.length > 0;
}
