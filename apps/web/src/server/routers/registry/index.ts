import { router } from '../../trpc/init.ts';
import { getModel } from './get-model.ts';
import { listModels } from './list-models.ts';
import { listVersions } from './list-versions.ts';
import { registerVersion } from './register-version.ts';
import { removeAlias, setAlias } from './set-alias.ts';

export const registryRouter = router({
  list: listModels,
  versions: listVersions,
  get: getModel,
  register: registerVersion,
  setAlias,
  removeAlias,
});
