import { estimateSamplingMemory, SAMPLING_CHUNK } from '@anneal/engine/config';
import type { MemoryNeed, SourceTraining } from './kind.ts';
import { trainedUNet, trainSpecSchema } from './train.ts';

/**
 * The memory a job that samples a checkpoint needs: the model its train job built, sampled
 * a chunk at a time (estimateSamplingMemory), at `size` when it samples at other sides than
 * the square it trained (an evaluation per resolution or aspect bucket: activations grow with
 * the pixels, attention scores with their square). Null when that train job is unknown.
 */
export function samplingMemoryNeed(
  sampling: { n: number; guidance: number },
  source: SourceTraining | null | undefined,
  size?: { height: number; width: number },
): MemoryNeed | null {
  const train = trainSpecSchema.safeParse(source?.spec);
  if (!source || !train.success) return null;
  const unet = trainedUNet(train.data, source.versionClasses);
  // Sampling runs in float32 (the checkpoint's EMA weights as saved).
  const estimate = estimateSamplingMemory(unet, { ...sampling, ...size, dtype: 'float32' });
  return {
    bytes: estimate.total,
    batch: estimate.batch,
    dtype: 'float32',
    lower: `n (up to ${SAMPLING_CHUNK} images go through the model at once) or the guidance weight`,
  };
}
