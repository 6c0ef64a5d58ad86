// Regenerates bench/RESULTS.md from bench/results/*.json without running anything
// (`npx tsx bench/render.ts`), e.g. after a change to how results are presented.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readResults, renderResults, resultsDir } from '@anneal/bench';

writeFileSync(join(resultsDir, '..', 'RESULTS.md'), renderResults(readResults(resultsDir)));
