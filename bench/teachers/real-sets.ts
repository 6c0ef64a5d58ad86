// How the draw of the real sets moves FD on a class-conditional model's ruler (issue 11): over
// several draws, FD between a held-out set and a training set of n images when both are
// random, when only the training set is class-balanced (the layout a conditional model's
// samples come in, as the ruler used to compare them), and when both are class-stratified (the
// ruler now). Prints one JSON line per draw and a summary; nothing is sampled.
//
//   npx tsx bench/teachers/real-sets.ts --model models/mnist-v-small [--n 500] [--draws 8]
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { selectImages } from '@anneal/datasets/images';
import { Model } from '@anneal/engine';
import { frechetDistance } from '@anneal/engine/metrics';
import { qualityRuler } from '../../apps/agent/src/quality/evaluate.ts';
import {
  pickIndices,
  pickStratified,
  readSplit,
  shapeOf,
} from '../../apps/agent/src/quality/images.ts';
import { modelDataset } from '../../apps/agent/src/quality/model-dataset.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    n: { type: 'string', default: '500' },
    draws: { type: 'string', default: '8' },
  },
});
if (!values.model) throw new Error('--model DIR is required');
const dir = resolve(values.model);
const n = Number(values.n);
const draws = Number(values.draws);

const model = Model.load(dir);
const config = model.config;
model.dispose();
const classes = config.dataset?.num_classes ?? 0;
if (classes <= 0) throw new Error(`${dir} is not class-conditional: its real sets are random`);
const dataset = await modelDataset(config, `${dir}/config.json`);
// The ruler trains (or finds) the dataset's default extractor, as `anneal eval` does.
const { extractor } = await qualityRuler({ dataset, n, seed: 0 });
const [train, heldout] = await Promise.all([readSplit(dataset.train), readSplit(dataset.heldout)]);
const features = async (split: typeof train, indices: Int32Array) => {
  const batch = selectImages(split, indices);
  return (await extractor.features(batch.images, shapeOf(batch))).features;
};

const kinds = ['random', 'train-balanced', 'class-stratified'] as const;
const fds: Record<(typeof kinds)[number], number[]> = {
  random: [],
  'train-balanced': [],
  'class-stratified': [],
};
for (let d = 0; d < draws; d++) {
  const a = await features(heldout, pickIndices(heldout.count, n, 100 + d));
  const aStratified = await features(heldout, pickStratified(heldout.labels, classes, n, 400 + d));
  const b = await features(train, pickIndices(train.count, n, 200 + d));
  const bBalanced = await features(train, pickStratified(train.labels, classes, n, 300 + d));
  const row = {
    random: frechetDistance(a, b),
    'train-balanced': frechetDistance(a, bBalanced),
    'class-stratified': frechetDistance(aStratified, bBalanced),
  };
  for (const k of kinds) fds[k].push(row[k]);
  console.log(JSON.stringify({ n, draw: d, fd: row }));
}
const summary = Object.fromEntries(
  kinds.map((k) => {
    const v = fds[k];
    return [
      k,
      { min: Math.min(...v), max: Math.max(...v), mean: v.reduce((s, x) => s + x) / v.length },
    ];
  }),
);
console.log(JSON.stringify({ n, draws, extractor: extractor.id, summary }));
