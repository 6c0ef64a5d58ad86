import { pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { organizations } from './orgs.ts';

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
