'use client';

import { SAMPLING_DEFAULTS, samplerNames } from '@anneal/engine/config';
import type { ModelSource } from '@anneal/protocol';
import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../../../../../ui/trpc.tsx';
import type { FieldsProps, FieldValues } from './kind.ts';

// The fields of the kinds that read a checkpoint: where the weights come from (plan, which
// chooses its own sampler), and the sampler too (sample, evaluate).

export const modelSourceInitial: FieldValues = { source: 'run', runId: '', versionId: '' };

export const samplingInitial: FieldValues = {
  ...modelSourceInitial,
  sampler: SAMPLING_DEFAULTS.sampler,
  sampleSteps: String(SAMPLING_DEFAULTS.steps),
};

export function modelSourceOf(v: FieldValues): ModelSource {
  return v.source === 'run'
    ? { kind: 'run', runId: v.runId ?? '' }
    : { kind: 'modelVersion', id: v.versionId ?? '' };
}

/** Where the weights come from: a trained run or a model version (no sampling settings). */
export function ModelSourceFields({ projectId, values, select }: FieldsProps) {
  const trpc = useTRPC();
  const runs = useQuery(trpc.runs.list.queryOptions({ projectId, status: 'succeeded' }));
  const versions = useQuery(trpc.registry.versions.queryOptions({ projectId }));
  return (
    <>
      {select('source', 'Weights from', [
        ['run', 'a trained run'],
        ['modelVersion', 'a model version'],
      ])}
      {values.source === 'run'
        ? select('runId', 'Run', [
            ['', 'choose a trained run'],
            ...(runs.data ?? []).map((r) => [r.id, r.name] as [string, string]),
          ])
        : select('versionId', 'Model version', [
            ['', 'choose a model version'],
            ...(versions.data ?? []).map(
              (v) => [v.id, `${v.modelName} v${v.version}`] as [string, string],
            ),
          ])}
    </>
  );
}

/** The weights' source and the sampler to sample them with. */
export function SamplingFields(props: FieldsProps) {
  return (
    <>
      <ModelSourceFields {...props} />
      {props.select('sampler', 'Sampler', samplerNames)}
    </>
  );
}
