import { createHash } from 'node:crypto';

/** Per-file digests: sha256 addresses content in Anneal's store, md5 is what DVC records. */
export interface FileDigest {
  sha256: string;
  md5: string;
  size: number;
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function md5Hex(bytes: Uint8Array | string): string {
  return createHash('md5').update(bytes).digest('hex');
}

/** Both digests and the size of one file's bytes, in one pass over the data each. */
export function digestFile(bytes: Uint8Array): FileDigest {
  return { sha256: sha256Hex(bytes), md5: md5Hex(bytes), size: bytes.byteLength };
}
