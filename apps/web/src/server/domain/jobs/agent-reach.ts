// What an agent token may reach while its agent holds leases: it writes to the runs of its
// live jobs and reads exactly their inputs. The authorization layer (auth/access.ts) asks
// these. Ids are compared in lower case: a job spec keeps ids as its creator sent them
// (z.uuid() takes upper case), while PostgreSQL prints uuids in lower case.

import type { Db } from '@anneal/db/client';
import { type SQL, sql } from 'drizzle-orm';
import { checkpointRunSql, modelSourceSql } from './jobs.ts';

/**
 * The live jobs of the agent behind token `tokenId`, as a SQL fragment aliased `j`: the jobs
 * it holds the lease of and, with `ranks`, those it runs a rank of (a data-parallel group's
 * ranks read what rank 0 reads; only rank 0 writes).
 */
const liveJobsOf = (tokenId: string, ranks: boolean) => sql`
  jobs j where j.status in ('leased', 'running') and (
    j.lease_owner in (select a.id from agents a where a.token_id = ${tokenId})
    ${
      ranks
        ? sql`or exists (select 1 from job_ranks jr join agents ra on ra.id = jr.agent_id
            where jr.job_id = j.id and jr.group_lease_id = j.lease_id
              and jr.finished_at is null and ra.token_id = ${tokenId})`
        : sql``
    })`;

/** Whether any live job of the token's agent satisfies `condition` (on `j`). */
async function anyLiveJob(
  db: Db,
  tokenId: string,
  condition: SQL,
  { ranks = true }: { ranks?: boolean } = {},
): Promise<boolean> {
  const rows = await db.execute<{ ok: number }>(
    sql`select 1 as ok from ${liveJobsOf(tokenId, ranks)} and (${condition}) limit 1`,
  );
  return rows.length > 0;
}

/**
 * Whether an agent token may write to this run: only while its agent holds the run's job
 * (of a data-parallel group, rank 0's lease).
 */
export function agentMayWriteRun(db: Db, tokenId: string, runId: string) {
  return anyLiveJob(
    db,
    tokenId,
    sql`exists (select 1 from runs r where r.job_id = j.id and r.id = ${runId.toLowerCase()})`,
    { ranks: false },
  );
}

/**
 * Whether a job leased to the token's agent runs in run `runId` (it downloads its own last
 * checkpoint to resume) or reads its weights from it: a sample or evaluate job's model
 * source, directly or through the model version it names.
 */
export async function agentMayReadRun(db: Db, tokenId: string, runId: string) {
  const id = runId.toLowerCase();
  return (
    (await anyLiveJob(
      db,
      tokenId,
      sql`exists (select 1 from runs r where r.job_id = j.id and r.id = ${id})
      or ${checkpointRunSql(sql`j.spec`)} = ${id}`,
    )) ||
    // A replica loads its model version's checkpoint from the version's source run.
    (await anyLiveReplica(
      db,
      tokenId,
      sql`exists (select 1 from model_versions mv
        where mv.id = dr.model_version_id and mv.source_run_id = ${id})`,
    ))
  );
}

/**
 * The live deployment replicas of the agent behind token `tokenId` (they load and serve a
 * model version), as a SQL fragment aliased `dr`.
 */
const liveReplicasOf = (tokenId: string) => sql`
  deployment_replicas dr join agents ra on ra.id = dr.agent_id
  where ra.token_id = ${tokenId} and dr.status in ('starting', 'ready', 'draining')`;

async function anyLiveReplica(db: Db, tokenId: string, condition: SQL): Promise<boolean> {
  const rows = await db.execute<{ ok: number }>(
    sql`select 1 as ok from ${liveReplicasOf(tokenId)} and (${condition}) limit 1`,
  );
  return rows.length > 0;
}

/** Whether the token's agent hosts a live replica of deployment `deploymentId`. */
export function agentServesDeployment(db: Db, tokenId: string, deploymentId: string) {
  return anyLiveReplica(db, tokenId, sql`dr.deployment_id = ${deploymentId.toLowerCase()}`);
}

/**
 * Whether a job leased to the token's agent takes its checkpoint from model version
 * `versionId`, or a replica on the agent loads it.
 */
export async function agentMayReadModelVersion(db: Db, tokenId: string, versionId: string) {
  const id = versionId.toLowerCase();
  return (
    (await anyLiveJob(
      db,
      tokenId,
      sql`${modelSourceSql(sql`j.spec`)}->>'kind' = 'modelVersion'
      and lower(${modelSourceSql(sql`j.spec`)}->>'id') = ${id}`,
    )) || (await anyLiveReplica(db, tokenId, sql`dr.model_version_id = ${id}`))
  );
}

/**
 * Whether a job leased to the token's agent uses dataset version `versionId`: a train job
 * that names it, or a sample or evaluate job whose checkpoint's train job did (see
 * sourceTrainingSql), since evaluation needs the data the model was trained on.
 */
export function agentMayReadDatasetVersion(db: Db, tokenId: string, versionId: string) {
  const id = versionId.toLowerCase();
  const names = (spec: SQL) =>
    sql`(${spec}->'dataset'->>'kind' = 'version' and lower(${spec}->'dataset'->>'id') = ${id})`;
  return anyLiveJob(
    db,
    tokenId,
    sql`${names(sql`j.spec`)} or exists (select 1 from runs r join jobs tj on tj.id = r.job_id
      where tj.type = 'train' and ${names(sql`tj.spec`)}
        and r.id::text = ${checkpointRunSql(sql`j.spec`)})`,
  );
}
