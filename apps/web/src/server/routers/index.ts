import { router } from '../trpc/init.ts';
import { agentsRouter } from './agents/index.ts';
import { authRouter } from './auth/index.ts';
import { datasetsRouter } from './datasets/index.ts';
import { deploymentsRouter } from './deployments/index.ts';
import { jobsRouter } from './jobs/index.ts';
import { membersRouter } from './members/index.ts';
import { pipelinesRouter } from './pipelines/index.ts';
import { projectsRouter } from './projects/index.ts';
import { registryRouter } from './registry/index.ts';
import { runsRouter } from './runs/index.ts';
import { tokensRouter } from './tokens/index.ts';

export const appRouter = router({
  auth: authRouter,
  projects: projectsRouter,
  runs: runsRouter,
  datasets: datasetsRouter,
  registry: registryRouter,
  members: membersRouter,
  tokens: tokensRouter,
  agents: agentsRouter,
  jobs: jobsRouter,
  deployments: deploymentsRouter,
  pipelines: pipelinesRouter,
});

export type AppRouter = typeof appRouter;
