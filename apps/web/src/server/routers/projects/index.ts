import { router } from '../../trpc/init.ts';
import { createProject } from './create-project.ts';
import { getProject } from './get-project.ts';
import { listProjects } from './list-projects.ts';
import { restoreProject } from './restore-project.ts';

export const projectsRouter = router({
  list: listProjects,
  get: getProject,
  create: createProject,
  restore: restoreProject,
});
