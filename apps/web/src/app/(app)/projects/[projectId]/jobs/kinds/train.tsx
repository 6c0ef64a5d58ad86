'use client';

import { presetNames, TRAINING_DEFAULTS } from '@anneal/engine/config';
import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../../../../../ui/trpc.tsx';
import type { FieldsProps, FormKind } from './kind.ts';

/** A stored version in the dataset select: `version:<id>:<content hash>`. */
const VERSION = 'version:';

/** Resolution a dataset starts at: MNIST's 28 px, shapes' 16 px, 32 px for uploaded images. */
function resolutionFor(dataset: string): string {
  if (dataset === 'mnist') return '28';
  if (dataset === 'shapes') return '16';
  return '32';
}

function DatasetField({ projectId, values, update }: FieldsProps) {
  const trpc = useTRPC();
  const datasets = useQuery(trpc.datasets.list.queryOptions({ projectId }));
  const stored = (datasets.data?.stored ?? []).flatMap((d) =>
    d.versions.map((v) => ({
      value: `${VERSION}${v.id}:${v.contentHash}`,
      label: `${d.name} v${v.version} (${v.fileCount.toLocaleString()} ${v.fileCount === 1 ? 'image' : 'images'})`,
    })),
  );
  return (
    <label className="field">
      Dataset
      <select
        name="dataset"
        value={values.dataset}
        onChange={(e) =>
          update({ dataset: e.target.value, resolution: resolutionFor(e.target.value) })
        }
      >
        <optgroup label="Built-in">
          <option value="mnist">MNIST</option>
          <option value="shapes">shapes</option>
        </optgroup>
        {stored.length > 0 && (
          <optgroup label="Uploaded to this project">
            {stored.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </optgroup>
        )}
      </select>
    </label>
  );
}

export const trainForm: FormKind<'train'> = {
  // Checkpoint and log intervals are `anneal train`'s defaults, so a job queued here logs
  // and saves as the same job run from the CLI does.
  initial: {
    dataset: 'mnist',
    resolution: '28',
    preset: 'tiny',
    steps: '500',
    batch: '',
    checkpointEvery: String(TRAINING_DEFAULTS.checkpointEvery),
    logEvery: String(TRAINING_DEFAULTS.logEvery),
    ranks: '1',
  },
  Fields: (props) => (
    <>
      <DatasetField {...props} />
      {props.text('resolution', 'Resolution')}
      {props.select('preset', 'Preset', presetNames)}
      {props.text('steps', 'Steps')}
      {props.text('batch', 'Batch (empty: fit the agent’s memory)')}
      {props.text('checkpointEvery', 'Checkpoint every (steps)')}
      {props.text('logEvery', 'Log metrics every (steps)')}
      {props.text('ranks', 'Agents (data-parallel ranks; 1: one agent)')}
    </>
  ),
  toSpec: (v) => {
    const [id, hash] = (v.dataset ?? '').startsWith(VERSION)
      ? (v.dataset as string).slice(VERSION.length).split(':')
      : [];
    return {
      dataset:
        id && hash
          ? { kind: 'version', id, hash }
          : { kind: 'builtin', name: v.dataset as 'mnist' | 'shapes' },
      resolution: Number(v.resolution),
      preset: v.preset as (typeof presetNames)[number],
      steps: Number(v.steps),
      ...(v.batch ? { batch: Number(v.batch) } : {}),
      checkpoint_every: Number(v.checkpointEvery),
      log_every: Number(v.logEvery),
      ...(Number(v.ranks) > 1 ? { ranks: Number(v.ranks) } : {}),
    };
  },
};
