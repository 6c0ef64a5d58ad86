'use client';

import { SAMPLING_DEFAULTS, samplerNames } from '@anneal/engine/config';
import type { ModelSource } from '@anneal/protocol';
import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../../../../../ui/trpc.tsx';
import type { FieldsProps, FieldValues } from './kind.ts';

// The fields of the kinds that sample a checkpoint (sample, evaluate): where the weights
// come from, and the sampler.

export const samplingInitial: FieldValues = {
  source: 'run',
  runId: '',
  versionId: '',
  sampler: SAMPLING_DEFAULTS.sampler,
  sampleSteps: String(SAMPLING_DEFAULTS.steps),
};

export function modelSourceOf(v: FieldValues): ModelSource {
  return v.source === 'run'
    ? { kind: 'run', runId: v.runId ?? '' }
    : { kind: 'modelVersion', id: v.versionId ?? '' };
}

export function SamplingFields({ projectId, values, select }: FieldsProps) {
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
      {select('sampler', 'Sampler', samplerNames)}
    </>
  );
}
