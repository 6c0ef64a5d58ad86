import { BUILTIN_DATASETS as GENERATORS } from '@anneal/datasets/builtins';

/**
 * Datasets every project has without uploading anything: agents generate them locally
 * (packages/datasets), so no bytes travel. A job spec names them by `builtin`. Read off
 * @anneal/datasets, so what the datasets page says is what an agent makes.
 */
export const BUILTIN_DATASETS = GENERATORS.map((d) => ({
  builtin: d.name,
  name: d.name,
  description: d.description,
  /** Images with the default options. */
  fileCount: d.count,
  heldOut: d.heldOut,
  labels: [...d.classes],
  channels: d.channels,
  resolution:
    'min' in d.resolutions
      ? `${d.resolutions.min} to ${d.resolutions.max} px`
      : d.resolutions.map((r) => `${r}x${r}`).join(' or '),
}));
export type BuiltinDatasetName = (typeof BUILTIN_DATASETS)[number]['builtin'];
