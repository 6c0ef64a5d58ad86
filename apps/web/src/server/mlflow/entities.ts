import type { ParamValue } from '@anneal/db/schema';

/**
 * Anneal's rows as MLflow's entities (the JSON of its protos): experiments are projects,
 * runs are runs, registered models and versions are the registry's. Times are epoch ms.
 */
export const RUN_STATUS_TO_MLFLOW = {
  queued: 'SCHEDULED',
  running: 'RUNNING',
  succeeded: 'FINISHED',
  failed: 'FAILED',
  cancelled: 'KILLED',
} as const;
export type AnnealRunStatus = keyof typeof RUN_STATUS_TO_MLFLOW;
export const MLFLOW_TO_RUN_STATUS: Record<string, AnnealRunStatus> = {
  SCHEDULED: 'queued',
  RUNNING: 'running',
  FINISHED: 'succeeded',
  FAILED: 'failed',
  KILLED: 'cancelled',
};

export const ms = (d: Date | null | undefined): number | undefined => (d ? d.getTime() : undefined);

/** Where the mlflow-artifacts proxy serves a run's artifacts (its `artifact_uri`). */
export function runArtifactUri(projectId: string, runId: string): string {
  return `mlflow-artifacts:/${projectId}/${runId}/artifacts`;
}

export function experimentJson(p: {
  id: string;
  name: string;
  description: string;
  createdAt: Date;
  lastRunAt?: Date | null;
  deletedAt?: Date | null;
}) {
  return {
    experiment_id: p.id,
    name: p.name,
    artifact_location: `mlflow-artifacts:/${p.id}`,
    lifecycle_stage: p.deletedAt ? 'deleted' : 'active',
    creation_time: ms(p.createdAt),
    last_update_time: ms(p.lastRunAt ?? p.createdAt),
    tags: p.description ? [{ key: 'mlflow.note.content', value: p.description }] : [],
  };
}

export interface RunRow {
  id: string;
  projectId: string;
  name: string;
  status: AnnealRunStatus;
  params: Record<string, ParamValue>;
  tags: Record<string, string>;
  startedAt: Date;
  endedAt: Date | null;
  /** The Anneal job that runs it, if any: its status and lifetime are the job's. */
  jobId?: string | null;
  /** Deleted through MLflow (lifecycle_stage "deleted"): kept, hidden, restorable. */
  deletedAt?: Date | null;
  /** What runs/log-inputs recorded. */
  mlflowInputs?: { datasets: unknown[]; models: { model_id: string }[] };
}

export interface LatestMetric {
  key: string;
  value: number;
  step: number;
  time: Date;
}

/** MLflow params are strings: Anneal's numbers and booleans print as Python would read them back. */
export function paramString(v: ParamValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

export function runInfoJson(r: RunRow) {
  return {
    run_id: r.id,
    run_uuid: r.id,
    run_name: r.name,
    experiment_id: r.projectId,
    user_id: r.tags['mlflow.user'] ?? '',
    status: RUN_STATUS_TO_MLFLOW[r.status],
    start_time: ms(r.startedAt),
    end_time: ms(r.endedAt),
    artifact_uri: runArtifactUri(r.projectId, r.id),
    lifecycle_stage: r.deletedAt ? 'deleted' : 'active',
  };
}

export function runJson(r: RunRow, latest: LatestMetric[]) {
  return {
    info: runInfoJson(r),
    data: {
      metrics: latest.map((m) => ({
        key: m.key,
        value: m.value,
        timestamp: ms(m.time),
        step: m.step,
      })),
      params: Object.entries(r.params).map(([key, v]) => ({ key, value: paramString(v) })),
      tags: Object.entries(r.tags).map(([key, value]) => ({ key, value })),
    },
    inputs: {
      dataset_inputs: r.mlflowInputs?.datasets ?? [],
      model_inputs: r.mlflowInputs?.models ?? [],
    },
  };
}

export interface VersionRow {
  modelName: string;
  projectId: string;
  version: number;
  description: string;
  sourceRunId: string | null;
  artifactPath: string | null;
  createdAt: Date;
  aliases: string[];
}

/** A version's source as the artifact location it names in its run. */
export function versionSource(v: VersionRow): string {
  if (!v.sourceRunId) return '';
  const base = runArtifactUri(v.projectId, v.sourceRunId);
  return v.artifactPath ? `${base}/${v.artifactPath}` : base;
}

export function modelVersionJson(v: VersionRow) {
  return {
    name: v.modelName,
    version: String(v.version),
    creation_timestamp: ms(v.createdAt),
    last_updated_timestamp: ms(v.createdAt),
    current_stage: 'None',
    description: v.description,
    source: versionSource(v),
    run_id: v.sourceRunId ?? '',
    // Anneal registers a version in one transaction: it is READY when the answer comes.
    status: 'READY',
    tags: [],
    run_link: '',
    aliases: v.aliases,
  };
}

export function registeredModelJson(
  m: { name: string; description: string; createdAt: Date },
  versions: VersionRow[],
) {
  const latest = versions.reduce<VersionRow | undefined>(
    (a, v) => (a && a.version > v.version ? a : v),
    undefined,
  );
  const updated = Math.max(m.createdAt.getTime(), ...versions.map((v) => v.createdAt.getTime()));
  return {
    name: m.name,
    creation_timestamp: ms(m.createdAt),
    last_updated_timestamp: updated,
    description: m.description,
    latest_versions: latest ? [modelVersionJson(latest)] : [],
    tags: [],
    aliases: versions.flatMap((v) =>
      v.aliases.map((alias) => ({ alias, version: String(v.version) })),
    ),
  };
}
