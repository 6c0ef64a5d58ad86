import { router } from '../../trpc/init.ts';
import { createProject } from './create-project.ts';
import { getProject } from './get-project.ts';
import { listProjects } from './list-projects.ts';

export const projectsRouter = router({
  list: listProjects,
  get: getProject,
  create: createProject,
});
