'use client';

import { presetNames } from '@anneal/engine/config';
import type { FormKind } from './kind.ts';

export const trainForm: FormKind<'train'> = {
  initial: {
    dataset: 'mnist',
    resolution: '28',
    preset: 'tiny',
    steps: '500',
    batch: '',
    checkpointEvery: '100',
  },
  Fields: ({ values, update, text, select }) => (
    <>
      <label className="field">
        Dataset
        <select
          name="dataset"
          value={values.dataset}
          onChange={(e) =>
            update({
              dataset: e.target.value,
              resolution: e.target.value === 'mnist' ? '28' : '16',
            })
          }
        >
          <option value="mnist">MNIST</option>
          <option value="shapes">shapes</option>
        </select>
      </label>
      {text('resolution', 'Resolution')}
      {select('preset', 'Preset', presetNames)}
      {text('steps', 'Steps')}
      {text('batch', 'Batch (empty: fit the agent’s memory)')}
      {text('checkpointEvery', 'Checkpoint every')}
    </>
  ),
  toSpec: (v) => ({
    dataset: { kind: 'builtin', name: v.dataset as 'mnist' | 'shapes' },
    resolution: Number(v.resolution),
    preset: v.preset as (typeof presetNames)[number],
    steps: Number(v.steps),
    ...(v.batch ? { batch: Number(v.batch) } : {}),
    checkpoint_every: Number(v.checkpointEvery),
    log_every: 1,
  }),
};
