import { jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { projects } from './projects.ts';
import { modelVersions } from './registry.ts';
import { runs } from './runs.ts';

/**
 * An opt-in mirror of a project to an existing MLflow server (docs/interop.md): the server
 * pushes runs, params, metrics, sample images and registered versions there, and records
 * what it pushed so that every retry resumes instead of repeating.
 */
export const mlflowMirrors = pgTable('mlflow_mirrors', {
  projectId: uuid('project_id')
    .primaryKey()
    .references(() => projects.id, { onDelete: 'cascade' }),
  /** The MLflow server's base URL (its tracking URI). */
  url: text('url').notNull(),
  /** Sent as `Authorization: Bearer` when set; never returned by the API. */
  token: text('token'),
  /** The experiment on the MLflow server, once found or created. */
  experimentId: text('experiment_id'),
  lastSyncAt: timestamp('last_sync_at', { withTimezone: true }),
  /** Why the last pass stopped early (the server down, a refused write); null when clean. */
  lastError: text('last_error'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/** A mirrored run: its MLflow id and what of it has reached MLflow. */
export const mlflowMirrorRuns = pgTable('mlflow_mirror_runs', {
  runId: uuid('run_id')
    .primaryKey()
    .references(() => runs.id, { onDelete: 'cascade' }),
  remoteRunId: text('remote_run_id').notNull(),
  remoteArtifactUri: text('remote_artifact_uri').notNull(),
  /** Per metric key, the highest step MLflow has. */
  metricSteps: jsonb('metric_steps').$type<Record<string, number>>().notNull().default({}),
  /** The params and tags last pushed, to push only changes; the last refusal, if any. */
  pushed: jsonb('pushed')
    .$type<{
      params?: Record<string, string>;
      tags?: Record<string, string>;
      status?: string;
      /** Why MLflow refused the run's last push (status and error code); cleared on success. */
      error?: string;
    }>()
    .notNull()
    .default({}),
  /** Artifact path -> sha256 of what MLflow has. */
  artifacts: jsonb('artifacts').$type<Record<string, string>>().notNull().default({}),
});

/** A mirrored model version: its version number in MLflow's registry. */
export const mlflowMirrorVersions = pgTable('mlflow_mirror_versions', {
  versionId: uuid('version_id')
    .primaryKey()
    .references(() => modelVersions.id, { onDelete: 'cascade' }),
  remoteVersion: text('remote_version').notNull(),
  /** The aliases last pushed. */
  aliases: jsonb('aliases').$type<string[]>().notNull().default([]),
});
