/**
 * Datasets every project has without uploading anything: agents generate them locally
 * (packages/datasets), so no bytes travel. A job spec names them by `builtin`.
 */
export const BUILTIN_DATASETS = [
  {
    builtin: 'mnist' as const,
    name: 'mnist',
    description: '70,000 handwritten digits, 28x28 grayscale, 10 classes (60k train / 10k test).',
    fileCount: 70_000,
    labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    resolution: '28x28',
  },
  {
    builtin: 'shapes' as const,
    name: 'shapes',
    description:
      'Procedural colored circles, squares and triangles; any size, seeded, labelled by shape.',
    fileCount: null,
    labels: ['circle', 'square', 'triangle'],
    resolution: 'any',
  },
];
export type BuiltinDatasetName = (typeof BUILTIN_DATASETS)[number]['builtin'];
