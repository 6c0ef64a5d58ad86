import { integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { datasetVersions } from './datasets.ts';
import { projects } from './projects.ts';
import { runs } from './runs.ts';

export const registeredModels = pgTable(
  'registered_models',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('registered_models_project_name_unique').on(t.projectId, t.name)],
);

/** What an optimization changed and what it cost: the registry's reason to exist. */
export interface OptimizationMetadata {
  architecture?: Record<string, unknown> | undefined;
  steps?: number | undefined;
  nfe?: number | undefined;
  sampler?: string | undefined;
  distillationStages?: string[] | undefined;
  quality?: Record<string, number> | undefined;
  hardware?: Record<string, unknown> | undefined;
  /**
   * A distilled student's lineage and verdict, set only by a distill job's completion (the
   * protocol's distillationRecordSchema): its teacher version, method, stage, NFE, budget,
   * decision and reason, FD with spread.
   */
  distillation?: Record<string, unknown> | undefined;
  /**
   * A search winner's lineage and measurements, set only by a search job's completion (the
   * protocol's searchRecordSchema): its teacher version, the hardware profile it was measured
   * on, the search's space and settings, its measured and predicted cost, its proxy per rung,
   * its full training and FD beside the teacher's, its speedup and the latency limit.
   */
  search?: Record<string, unknown> | undefined;
  /** Evaluate jobs' results, newest last (the protocol's evaluationRecordSchema). */
  evaluations?: Record<string, unknown>[] | undefined;
  /**
   * Plan jobs' sampling plans keyed by the agent's hardware profile (the protocol's
   * planRecordSchema): the latest plan per profile.
   */
  plans?: Record<string, Record<string, unknown>> | undefined;
  /** The latest quality curve a plan job measured (engine config's qualityCurveSchema). */
  qualityCurve?: Record<string, unknown> | undefined;
  /**
   * Learned sampling schedules (the engine's learnedScheduleSchema), one per sampler and NFE:
   * a newer one for the same pair replaces the older.
   */
  schedules?: Record<string, unknown>[] | undefined;
}

export const modelVersions = pgTable(
  'model_versions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    modelId: uuid('model_id')
      .notNull()
      .references(() => registeredModels.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    sourceRunId: uuid('source_run_id').references(() => runs.id, { onDelete: 'set null' }),
    datasetVersionId: uuid('dataset_version_id').references(() => datasetVersions.id, {
      onDelete: 'set null',
    }),
    /** The checkpoint inside the source run's artifacts. */
    artifactPath: text('artifact_path'),
    metadata: jsonb('metadata').$type<OptimizationMetadata>().notNull().default({}),
    description: text('description').notNull().default(''),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('model_versions_model_version_unique').on(t.modelId, t.version)],
);

/** `production`, `staging` or free-form; one alias points at one version of a model. */
export const modelAliases = pgTable(
  'model_aliases',
  {
    modelId: uuid('model_id')
      .notNull()
      .references(() => registeredModels.id, { onDelete: 'cascade' }),
    alias: text('alias').notNull(),
    versionId: uuid('version_id')
      .notNull()
      .references(() => modelVersions.id, { onDelete: 'cascade' }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('model_aliases_model_alias_unique').on(t.modelId, t.alias)],
);
