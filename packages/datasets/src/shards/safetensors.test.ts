import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, type Tensor } from './safetensors.ts';

function sample(): Array<[string, Tensor]> {
  const labels = new Uint8Array(new Int32Array([3, -1, 7]).buffer);
  const images = new Uint8Array(3 * 2 * 2 * 1).map((_, i) => (i * 37) % 256);
  const floats = new Uint8Array(new Float32Array([0.5, -2]).buffer);
  return [
    ['labels', { dtype: 'I32', shape: [3], data: labels }],
    ['images', { dtype: 'U8', shape: [3, 2, 2, 1], data: images }],
    ['scale', { dtype: 'F32', shape: [2], data: floats }],
  ];
}

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

describe('safetensors', () => {
  it('writes the documented layout, checked by reading the bytes back by hand', () => {
    const bytes = Buffer.from(encodeSafetensors(sample(), { dataset_hash: 'abc', split: 'train' }));
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    expect(header.__metadata__).toEqual({ dataset_hash: 'abc', split: 'train' });
    expect(header.labels).toEqual({ dtype: 'I32', shape: [3], data_offsets: [0, 12] });
    expect(header.images).toEqual({ dtype: 'U8', shape: [3, 2, 2, 1], data_offsets: [12, 24] });
    expect(header.scale).toEqual({ dtype: 'F32', shape: [2], data_offsets: [24, 32] });
    expect(bytes.byteLength).toBe(8 + n + 32);
    const data = bytes.subarray(8 + n);
    expect(data.readInt32LE(4)).toBe(-1);
    expect(data.readFloatLE(28)).toBe(-2);
    expect(data[12 + 5]).toBe((5 * 37) % 256);
  });

  it('round-trips byte-exactly', () => {
    const bytes = encodeSafetensors(sample(), { k: 'v' });
    const decoded = decodeSafetensors(bytes);
    expect(decoded.metadata).toEqual({ k: 'v' });
    for (const [name, t] of sample()) {
      const got = decoded.tensors.get(name);
      expect(got?.dtype).toBe(t.dtype);
      expect(got?.shape).toEqual(t.shape);
      expect(Buffer.from(got?.data ?? []).equals(Buffer.from(t.data))).toBe(true);
    }
    const again = encodeSafetensors([...decoded.tensors.entries()], decoded.metadata);
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
  });

  it('refuses data that does not match its dtype and shape', () => {
    expect(() =>
      encodeSafetensors([['x', { dtype: 'I32', shape: [3], data: new Uint8Array(8) }]]),
    ).toThrow(/tensor "x": 8 bytes of data, but I32 \[3\] needs 12/);
  });

  it('refuses files whose offsets leave gaps, overlap or overrun', () => {
    const make = (header: object, dataBytes: number) => {
      const json = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.byteLength));
      return Buffer.concat([len, json, Buffer.alloc(dataBytes)]);
    };
    const t = (a: number, b: number) => ({ dtype: 'U8', shape: [b - a], data_offsets: [a, b] });
    expect(() => decodeSafetensors(make({ a: t(0, 4), b: t(6, 8) }, 8))).toThrow(
      /"b" leaves a gap/,
    );
    expect(() => decodeSafetensors(make({ a: t(0, 4), b: t(2, 6) }, 6))).toThrow(
      /"b" leaves a gap or overlaps/,
    );
    expect(() => decodeSafetensors(make({ a: t(0, 4) }, 2))).toThrow(/bad data_offsets/);
    expect(() => decodeSafetensors(make({ a: t(0, 4) }, 6))).toThrow(/cover 4 of 6/);
    expect(() => decodeSafetensors(Buffer.from([255, 255, 255, 255, 0, 0, 0, 0]))).toThrow(
      /header length/,
    );
  });

  it('names an entry that is not an object instead of failing on it', () => {
    const make = (header: object) => {
      const json = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.byteLength));
      return Buffer.concat([len, json]);
    };
    expect(() => decodeSafetensors(make({ images: null }))).toThrow(
      'safetensors: tensor "images" must be a JSON object',
    );
    expect(() => decodeSafetensors(make({ __metadata__: 'x' }))).toThrow(
      'safetensors: __metadata__ must be a JSON object',
    );
    // MLX's save_safetensors writes a null __metadata__ when it has none.
    expect(decodeSafetensors(make({ __metadata__: null })).tensors.size).toBe(0);
  });

  it.skipIf(!hasNumpy)('parses with a hand-written numpy reader', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anneal-st-'));
    const path = join(dir, 'x.safetensors');
    writeFileSync(path, encodeSafetensors(sample(), { split: 'train' }));
    const reader = `
import json, struct, sys, numpy as np
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
dt = {'U8': np.uint8, 'I32': '<i4', 'F32': '<f4'}
out = {'meta': header.pop('__metadata__')}
for name, t in header.items():
    a, b = t['data_offsets']
    arr = np.frombuffer(data[a:b], dtype=dt[t['dtype']]).reshape(t['shape'])
    out[name] = {'shape': list(arr.shape), 'values': arr.ravel().tolist()}
print(json.dumps(out))
`;
    const res = spawnSync('python3', ['-c', reader, path], { encoding: 'utf8' });
    expect(res.stderr).toBe('');
    const out = JSON.parse(res.stdout);
    expect(out.meta).toEqual({ split: 'train' });
    expect(out.labels).toEqual({ shape: [3], values: [3, -1, 7] });
    expect(out.images.shape).toEqual([3, 2, 2, 1]);
    expect(out.images.values[5]).toBe((5 * 37) % 256);
    expect(out.scale.values).toEqual([0.5, -2]);
  });
});
