import { type SQL, sql } from 'drizzle-orm';

/**
 * A job spec's dataset version id as a uuid, or null when the spec names none or a local id
 * (an import on an agent). Refs are lower-cased when parsed (@anneal/datasets/ref); the
 * case-insensitive match and the cast read older specs too. As a uuid it is compared to
 * dataset_versions.id by the primary key's index.
 */
export function specVersionIdSql(spec: SQL) {
  return sql`(case when ${spec}->'dataset'->>'id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    then (${spec}->'dataset'->>'id')::uuid end)`;
}

/**
 * "digits v2": how tables name the dataset version `versionId` (a uuid expression: a run's
 * column or specVersionIdSql) names, if it belongs to the organization of the row's project
 * `projectId`; null otherwise.
 */
export function datasetLabelSql(versionId: SQL, projectId: SQL) {
  return sql<string | null>`(select d.name || ' v' || dv.version from dataset_versions dv
    join datasets d on d.id = dv.dataset_id
    join projects p on p.id = d.project_id
    where dv.id = ${versionId}
      and p.org_id = (select rp.org_id from projects rp where rp.id = ${projectId}))`;
}
