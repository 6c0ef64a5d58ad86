// CRC-32 as zip (APPNOTE 4.4.7) and PNG (ISO 15948 annex D) define it: reflected polynomial
// 0xEDB88320, initial value and final XOR 0xFFFFFFFF. Written here because `zlib.crc32`
// arrived in Node 20.15, and Anneal supports Node 20.9 and later.

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The CRC-32 of `bytes`, as an unsigned 32-bit integer (what `zlib.crc32` returns). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++)
    c = (TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
