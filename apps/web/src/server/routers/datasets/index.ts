import { router } from '../../trpc/init.ts';
import { getVersion } from './get-version.ts';
import { listDatasets } from './list-datasets.ts';

export const datasetsRouter = router({ list: listDatasets, version: getVersion });
