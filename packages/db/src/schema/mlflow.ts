import {
  bigint,
  doublePrecision,
  index,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import { organizations, users } from './orgs.ts';
import { projects } from './projects.ts';
import { runs } from './runs.ts';

/**
 * A registered model created through the MLflow API before it has a project. MLflow's
 * registry has one namespace; Anneal's models live in projects. In an organization with
 * several projects, `mlflow.register_model` calls `registered-models/create` with no hint of
 * the project, then `model-versions/create` with the run: the name waits here, and the
 * first version binds it to its run's project (a registered_models row), deleting this one.
 */
export const mlflowPendingModels = pgTable(
  'mlflow_pending_models',
  {
    orgId: uuid('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.name] })],
);

/**
 * An MLflow 3 logged model (`mlflow.<flavor>.log_model`): a model with its own id
 * (`m-<32 hex>`), params, tags and status, in a project, made by a source run. Its files are
 * artifacts of the source run under `logged-models/<id>/` (so a registered version made from
 * it is a version of that run's artifacts, as any other). Soft-deleted like runs.
 */
export const loggedModels = pgTable(
  'logged_models',
  {
    id: text('id').primaryKey(),
    projectId: uuid('project_id')
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    sourceRunId: uuid('source_run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    /** The source run's step at which it logged the model (MLflow's LoggedModelOutput.step). */
    sourceStep: bigint('source_step', { mode: 'number' }).notNull().default(0),
    name: text('name').notNull(),
    modelType: text('model_type').notNull().default(''),
    /** MLflow's LoggedModelStatus name: LOGGED_MODEL_PENDING, _READY or _UPLOAD_FAILED. */
    status: text('status').notNull().default('LOGGED_MODEL_PENDING'),
    statusMessage: text('status_message').notNull().default(''),
    params: jsonb('params').$type<Record<string, string>>().notNull().default({}),
    tags: jsonb('tags').$type<Record<string, string>>().notNull().default({}),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
  },
  (t) => [
    index('logged_models_project_idx').on(t.projectId, t.createdAt),
    index('logged_models_run_idx').on(t.sourceRunId),
  ],
);

/** Metrics logged with a model_id (MLflow 3): the model's data.metrics, one per key and step. */
export const loggedModelMetrics = pgTable(
  'logged_model_metrics',
  {
    modelId: text('model_id')
      .notNull()
      .references(() => loggedModels.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    step: bigint('step', { mode: 'number' }).notNull(),
    value: doublePrecision('value').notNull(),
    time: timestamp('time', { withTimezone: true }).notNull(),
    runId: uuid('run_id').references(() => runs.id, { onDelete: 'set null' }),
    datasetName: text('dataset_name').notNull().default(''),
    datasetDigest: text('dataset_digest').notNull().default(''),
  },
  (t) => [primaryKey({ columns: [t.modelId, t.key, t.step, t.datasetName, t.datasetDigest] })],
);
