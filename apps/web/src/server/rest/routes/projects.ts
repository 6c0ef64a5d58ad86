import { z } from 'zod';
import { createProject, createProjectInput, listProjects } from '../../domain/projects/projects.ts';
import { defineRoute } from '../route.ts';

const project = z.object({ id: z.uuid(), name: z.string(), description: z.string() });
const projectSummary = project.extend({
  createdAt: z.iso.datetime(),
  runCount: z.number().int(),
  modelCount: z.number().int(),
  datasetCount: z.number().int(),
  lastRunAt: z.iso.datetime().nullable(),
});

export const projectRoutes = [
  defineRoute({
    method: 'GET',
    path: '/projects',
    access: { role: 'viewer', agent: 'none' },
    tag: 'projects',
    summary: 'List the projects of your organization',
    response: {
      status: 200,
      description: 'Projects',
      schema: z.object({ projects: z.array(projectSummary) }),
    },
    handle: async (ctx) => ({
      // Projects deleted through MLflow are not listed (deletedAt is null on every one here).
      json: {
        projects: (await listProjects(ctx.db, ctx.principal.orgId)).map(
          ({ deletedAt: _deleted, ...p }) => p,
        ),
      },
    }),
  }),
  defineRoute({
    method: 'POST',
    path: '/projects',
    access: { role: 'editor', agent: 'none' },
    tag: 'projects',
    summary: 'Create a project',
    body: createProjectInput,
    response: { status: 201, description: 'The new project', schema: project },
    handle: async (ctx, { body }) => {
      const row = await createProject(ctx.db, ctx.principal.orgId, body);
      return { status: 201, json: { id: row.id, name: row.name, description: row.description } };
    },
  }),
];
