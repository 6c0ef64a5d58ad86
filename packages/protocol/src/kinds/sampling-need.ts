import { estimateSamplingMemory, SAMPLING_CHUNK } from '@anneal/engine/config';
import type { MemoryNeed, SourceTraining } from './kind.ts';
import { trainedUNet, trainSpecSchema } from './train.ts';

/**
 * The memory a job that samples a checkpoint needs: the model its train job built, sampled
 * a chunk at a time (estimateSamplingMemory), at `resolution` when it samples at another
 * square side than the one trained (an evaluation per resolution: activations grow with the
 * pixels, attention scores with their square). Null when that train job is unknown.
 */
export function samplingMemoryNeed(
  sampling: { n: number; guidance: number },
  source: SourceTraining | null | undefined,
  resolution?: number,
): MemoryNeed | null {
  const train = trainSpecSchema.safeParse(source?.spec);
  if (!source || !train.success) return null;
  const trained = trainedUNet(train.data, source.versionClasses);
  const unet = resolution === undefined ? trained : { ...trained, sample_size: resolution };
  // Sampling runs in float32 (the checkpoint's EMA weights as saved).
  const estimate = estimateSamplingMemory(unet, { ...sampling, dtype: 'float32' });
  return {
    bytes: estimate.total,
    batch: estimate.batch,
    dtype: 'float32',
    lower: `n (up to ${SAMPLING_CHUNK} images go through the model at once) or the guidance weight`,
  };
}
