import { AppError } from '@anneal/core/errors';
import type { ImageBatch } from '../images.ts';
import { getObject, getVersion } from '../store.ts';
import { DEFAULT_LIMITS, decodeImage, type ImageLimits } from './decode.ts';

export interface VersionImages {
  train: ImageBatch;
  heldOut: ImageBatch;
  classes: readonly string[];
}

const CHANNELS = 3;

/**
 * Decodes a stored version at one resolution with the fit policy its manifest records.
 * Files come from the content-addressed store and are verified against their sha256.
 */
export async function loadVersionImages(
  home: string,
  hash: string,
  resolution: number,
  limits: ImageLimits = DEFAULT_LIMITS,
): Promise<VersionImages> {
  if (!Number.isInteger(resolution) || resolution < 1 || resolution > 4096) {
    throw new AppError('BAD_REQUEST', `resolution ${resolution} must be an integer in 1..4096`);
  }
  const manifest = await getVersion(home, hash);
  const held = new Set(manifest.heldOut);
  const groups = {
    train: manifest.files.filter((f) => !held.has(f.relpath)),
    heldOut: manifest.files.filter((f) => held.has(f.relpath)),
  };
  const per = resolution * resolution * CHANNELS;
  const decodeGroup = async (files: typeof manifest.files): Promise<ImageBatch> => {
    const images = new Uint8Array(files.length * per);
    const labels = new Int32Array(files.length).fill(-1);
    for (let i = 0; i < files.length; i++) {
      const f = files[i] as (typeof files)[number];
      const bytes = await getObject(home, f.sha256);
      try {
        images.set(await decodeImage(bytes, resolution, manifest.fit, limits), i * per);
      } catch (err) {
        // The file is what its hash says; it will not decode on another try or agent.
        throw new AppError(
          'BAD_REQUEST',
          `dataset ${hash} file "${f.relpath}": ${(err as Error).message}`,
          { cause: err },
        );
      }
      if (f.label !== undefined) labels[i] = f.label;
    }
    return {
      images,
      labels,
      count: files.length,
      height: resolution,
      width: resolution,
      channels: CHANNELS,
    };
  };
  return {
    train: await decodeGroup(groups.train),
    heldOut: await decodeGroup(groups.heldOut),
    classes: manifest.classes,
  };
}
