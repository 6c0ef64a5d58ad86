// Which weights a result was made from: the sha256 of a checkpoint's model.safetensors.
// Retraining into the same folder changes what it computes, so anything kept for the old
// weights (sample chunks, learning state, curves, plans) must not be read as the new ones'.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_FILE } from './model.ts';

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
