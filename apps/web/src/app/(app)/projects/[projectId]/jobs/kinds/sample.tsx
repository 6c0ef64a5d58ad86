'use client';

import type { SamplerName } from '@anneal/engine/config';
import type { FormKind } from './kind.ts';
import { modelSourceOf, SamplingFields, samplingInitial } from './model-source.tsx';

export const sampleForm: FormKind<'sample'> = {
  initial: { ...samplingInitial, n: '16' },
  Fields: (props) => (
    <>
      <SamplingFields {...props} />
      {props.text('sampleSteps', 'Sampling steps')}
      {props.text('n', 'Images')}
    </>
  ),
  toSpec: (v) => ({
    model: modelSourceOf(v),
    n: Number(v.n),
    steps: Number(v.sampleSteps),
    sampler: v.sampler as SamplerName,
  }),
};
