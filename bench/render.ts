// Regenerates bench/RESULTS.md (and the figures it links) from bench/results/*.json without
// running anything (`npx tsx bench/render.ts`), e.g. after a change to how results are presented.
import { join } from 'node:path';
import { resultsDir, writeReport } from '@anneal/bench';

writeReport(resultsDir, join(resultsDir, '..', 'RESULTS.md'));
