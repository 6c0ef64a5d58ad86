'use client';

import { type SamplerName, samplerNames } from '@anneal/engine/config';
import type { FormKind } from './kind.ts';
import { modelSourceOf, SamplingFields, samplingInitial } from './model-source.tsx';

export const evaluateForm: FormKind<'evaluate'> = {
  initial: {
    ...samplingInitial,
    evalN: '500',
    referenceSampler: '',
    referenceSteps: '100',
    extractorSteps: '',
    extractorWidth: '',
  },
  Fields: (props) => (
    <>
      <SamplingFields {...props} />
      {props.text('sampleSteps', 'Sampling steps')}
      {props.text('evalN', 'Samples (and real images per set)')}
      {props.select('referenceSampler', 'Reference sampler (paired fidelity)', [
        ['', 'none'],
        ...samplerNames,
      ])}
      {props.values.referenceSampler && props.text('referenceSteps', 'Reference steps')}
      {props.text('extractorSteps', "Extractor steps (blank: the dataset's default)")}
      {props.text('extractorWidth', 'Extractor width (blank: 16)')}
    </>
  ),
  toSpec: (v) => ({
    model: modelSourceOf(v),
    n: Number(v.evalN),
    steps: Number(v.sampleSteps),
    sampler: v.sampler as SamplerName,
    ...(v.referenceSampler
      ? {
          reference_sampler: v.referenceSampler as SamplerName,
          reference_steps: Number(v.referenceSteps),
        }
      : {}),
    // Blank: the dataset's default extractor.
    ...(v.extractorSteps ? { extractor_steps: Number(v.extractorSteps) } : {}),
    ...(v.extractorWidth ? { extractor_width: Number(v.extractorWidth) } : {}),
  }),
};
