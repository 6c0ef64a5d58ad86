import type { RestRoute } from '../../rest/route.ts';
import { artifactRoutes } from './artifacts.ts';
import { loggedModelRoutes } from './logged-models.ts';
import { registryRoutes } from './registry.ts';
import { runOutputRoutes } from './run-outputs.ts';
import { trackingRoutes } from './tracking.ts';

export { MLFLOW_LIMITS } from './common.ts';

/** MLflow's REST API as Anneal serves it under /api/2.0 (docs/interop.md). */
export const mlflowRoutes: RestRoute[] = [
  ...trackingRoutes,
  ...loggedModelRoutes,
  ...runOutputRoutes,
  ...registryRoutes,
  ...artifactRoutes,
];
