import { router } from '../../trpc/init.ts';
import { compareRuns } from './compare-runs.ts';
import { getGroup } from './get-group.ts';
import { getJob } from './get-job.ts';
import { getLineage } from './get-lineage.ts';
import { getLogs } from './get-logs.ts';
import { getMetrics } from './get-metrics.ts';
import { getRun } from './get-run.ts';
import { listRuns } from './list-runs.ts';
import { restoreRun } from './restore-run.ts';
import { updateRun } from './update-run.ts';
import { watchRun } from './watch-run.ts';

export const runsRouter = router({
  list: listRuns,
  get: getRun,
  metrics: getMetrics,
  logs: getLogs,
  lineage: getLineage,
  job: getJob,
  group: getGroup,
  compare: compareRuns,
  update: updateRun,
  restore: restoreRun,
  watch: watchRun,
});
