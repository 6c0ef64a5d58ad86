import { type SQL, sql } from 'drizzle-orm';

/**
 * "digits v2": how tables name the dataset version whose id `versionId` holds (a uuid column
 * or a spec's text); null when it names none. Ids in specs are compared in lower case, as
 * PostgreSQL prints uuids.
 */
export function datasetLabelSql(versionId: SQL) {
  return sql<string | null>`(select d.name || ' v' || dv.version from dataset_versions dv
    join datasets d on d.id = dv.dataset_id where dv.id::text = lower(${versionId}::text))`;
}
