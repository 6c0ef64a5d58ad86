// Which weights a quality curve or a plan was measured on: the sha256 of model.safetensors.
// Retraining into the same folder changes the images, so a curve or plan of the old weights
// must not be read as this model's.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_FILE } from '@anneal/engine';

/** sha256 (hex) of DIR/model.safetensors, read in chunks (a checkpoint can be large). */
export function weightsSha256(dir: string): string {
  const hash = createHash('sha256');
  const fd = openSync(join(dir, MODEL_FILE), 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 22);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Why a file recorded for `recorded` weights does not describe `current`, or null when it does. */
export function weightsMismatch(
  what: string,
  recorded: string | undefined,
  current: string,
): string | null {
  if (recorded === current) return null;
  return recorded === undefined
    ? `${what} does not record which weights it was measured on (made before weights were recorded)`
    : `${what} was measured on other weights (${MODEL_FILE} sha256 ${recorded.slice(0, 12)}…, now ${current.slice(0, 12)}…)`;
}
