'use client';

import type { FormKind } from './kind.ts';
import { ModelSourceFields, modelSourceInitial, modelSourceOf } from './model-source.tsx';

/** Which objective the value field sets, and the spec field it becomes. */
const OBJECTIVES = [
  ['latency_ms', 'Latency per request at most (ms)'],
  ['throughput', 'Throughput at least (images/s)'],
  ['max_fd', 'FD at most'],
] as const;

export const planForm: FormKind<'plan'> = {
  initial: {
    ...modelSourceInitial,
    objective: 'latency_ms',
    objectiveValue: '500',
    planBatch: '1',
    curveN: '200',
  },
  Fields: (props) => (
    <>
      {/* The plan chooses the sampler: only where the weights come from is asked. */}
      <ModelSourceFields {...props} />
      {props.select(
        'objective',
        'Objective',
        OBJECTIVES.map(([v, label]) => [v, label] as [string, string]),
      )}
      {props.text('objectiveValue', 'Objective value')}
      {props.values.objective !== 'throughput' && props.text('planBatch', 'Images per request')}
      {props.text('curveN', 'Samples per quality-curve point')}
    </>
  ),
  toSpec: (v) => ({
    model: modelSourceOf(v),
    [v.objective ?? 'latency_ms']: Number(v.objectiveValue),
    ...(v.objective !== 'throughput' ? { batch: Number(v.planBatch) } : {}),
    n: Number(v.curveN),
  }),
};
