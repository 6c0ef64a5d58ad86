import type { RestRoute } from '../route.ts';
import { artifactRoutes } from './artifacts.ts';
import { authRoutes } from './auth.ts';
import { datasetRoutes } from './datasets.ts';
import { deploymentRoutes } from './deployments.ts';
import { jobRoutes } from './jobs.ts';
import { mirrorRoutes } from './mirror.ts';
import { pipelineRoutes } from './pipelines.ts';
import { projectRoutes } from './projects.ts';
import { registryRoutes } from './registry.ts';
import { runRoutes } from './runs.ts';

/** Every REST operation; the dispatcher and the OpenAPI document both read this table. */
export const restRoutes: RestRoute[] = [
  ...authRoutes,
  ...projectRoutes,
  ...datasetRoutes,
  ...runRoutes,
  ...jobRoutes,
  ...artifactRoutes,
  ...registryRoutes,
  ...mirrorRoutes,
  ...deploymentRoutes,
  ...pipelineRoutes,
];
