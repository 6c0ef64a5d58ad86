/**
 * The safetensors format, written and read by hand (https://github.com/huggingface/safetensors):
 * 8 bytes little-endian u64 N, then N bytes of JSON header, then one byte buffer.
 * The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets
 * relative to the buffer) plus an optional `__metadata__` string-to-string map. Offsets
 * must tile the buffer exactly: no gaps, no overlaps. Like the reference writer we pad
 * the header with spaces to a multiple of 8 so the buffer starts aligned.
 */

export const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;

export type Dtype = keyof typeof DTYPE_BYTES;

export interface Tensor {
  dtype: Dtype;
  shape: number[];
  /** Raw little-endian bytes, row-major. */
  data: Uint8Array;
}

/** Safety limit on the header, as in the reference implementation (100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

function checkTensor(name: string, t: Tensor): void {
  if (!(t.dtype in DTYPE_BYTES))
    throw new Error(`tensor "${name}": unknown dtype ${String(t.dtype)}`);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(
      `tensor "${name}": shape [${t.shape.join(', ')}] must be non-negative integers`,
    );
  }
  const expected = elementCount(t.shape) * DTYPE_BYTES[t.dtype];
  if (t.data.byteLength !== expected) {
    throw new Error(
      `tensor "${name}": ${t.data.byteLength} bytes of data, but ${t.dtype} [${t.shape.join(', ')}] needs ${expected}`,
    );
  }
}

/**
 * The file's prefix (length + padded header) for tensors written in the given order; the
 * data follows as the tensors' bytes concatenated in that same order.
 */
export function encodeHeader(
  tensors: ReadonlyArray<readonly [string, Tensor]>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__' || name in header)
      throw new Error(`tensor name "${name}" is reserved or repeated`);
    checkTensor(name, t);
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + t.data.byteLength],
    };
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = Buffer.alloc(8 + padded, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  return out;
}

/** A whole safetensors file in memory. */
export function encodeSafetensors(
  tensors: ReadonlyArray<readonly [string, Tensor]>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const head = encodeHeader(tensors, metadata);
  return Buffer.concat([head, ...tensors.map(([, t]) => t.data)]);
}

export interface Safetensors {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Parses and validates a safetensors file; tensor data are views into `bytes`. */
export function decodeSafetensors(bytes: Uint8Array): Safetensors {
  if (bytes.byteLength < 8)
    throw new Error(`safetensors: ${bytes.byteLength} bytes is too short for a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER_BYTES, bytes.byteLength - 8))) {
    throw new Error(
      `safetensors: header length ${n} exceeds the file or the ${MAX_HEADER_BYTES}-byte limit`,
    );
  }
  const headerEnd = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(
      Buffer.from(bytes.buffer, bytes.byteOffset + 8, Number(n)).toString('utf8'),
    );
  } catch (err) {
    throw new Error('safetensors: header is not valid JSON', { cause: err });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new Error('safetensors: header must be a JSON object');
  }
  const data = bytes.subarray(headerEnd);
  const metadata: Record<string, string> = {};
  const spans: Array<{ name: string; begin: number; end: number }> = [];
  const tensors = new Map<string, Tensor>();
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    // MLX's save_safetensors writes "__metadata__": null when there is none.
    if (name === '__metadata__' && raw === null) continue;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw new Error(
        `safetensors: ${name === '__metadata__' ? '__metadata__' : `tensor "${name}"`} must be a JSON object`,
      );
    if (name === '__metadata__') {
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string')
          throw new Error(`safetensors: __metadata__.${k} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const offsets = info.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1] ||
      offsets[1] > data.byteLength
    ) {
      throw new Error(
        `safetensors: tensor "${name}" has bad data_offsets ${JSON.stringify(offsets)}`,
      );
    }
    const [begin, end] = offsets as [number, number];
    const tensor = {
      dtype: info.dtype as Dtype,
      shape: info.shape as number[],
      data: data.subarray(begin, end),
    };
    if (!Array.isArray(tensor.shape)) throw new Error(`safetensors: tensor "${name}" has no shape`);
    checkTensor(name, tensor);
    tensors.set(name, tensor);
    spans.push({ name, begin, end });
  }
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const s of spans) {
    if (s.begin !== at)
      throw new Error(`safetensors: tensor "${s.name}" leaves a gap or overlaps at byte ${at}`);
    at = s.end;
  }
  if (at !== data.byteLength) {
    throw new Error(`safetensors: tensors cover ${at} of ${data.byteLength} data bytes`);
  }
  return { tensors, metadata };
}
