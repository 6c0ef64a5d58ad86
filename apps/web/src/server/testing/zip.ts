import { crc32 } from 'node:zlib';

/** One entry: a name as text (written as UTF-8 bytes) or as raw bytes, and its content. */
export interface ZipEntry {
  name: string | Uint8Array;
  data: string | Uint8Array;
  /** Set general purpose bit 11 (the name is UTF-8). Without it, as macOS and Info-ZIP write. */
  utf8Flag?: boolean;
  /** Store these bytes as the entry's deflate stream (method 8) instead of `data` as is. */
  deflated?: Uint8Array;
}

/**
 * A stored (uncompressed) zip of the given entries: enough for upload tests, no dependency.
 * Names are written as given and the UTF-8 flag only when asked, so tests can build the
 * zips real zippers make (UTF-8 without the flag, CP437 bytes, the flag set).
 */
export function zipOf(entries: Record<string, string | Uint8Array> | ZipEntry[]): Blob {
  const list: ZipEntry[] = Array.isArray(entries)
    ? entries
    : Object.entries(entries).map(([name, data]) => ({ name, data }));
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const { name, data: content, utf8Flag, deflated } of list) {
    const nameBuf = Buffer.from(name);
    const data = Buffer.from(content);
    const stored = deflated ? Buffer.from(deflated) : data;
    const method = deflated ? 8 : 0;
    const crc = crc32(data);
    const flags = utf8Flag ? 0x800 : 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    locals.push(local, nameBuf, stored);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(stored.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, nameBuf);
    offset += local.length + nameBuf.length + stored.length;
  }
  const centralSize = centrals.reduce((s, b) => s + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(list.length, 8);
  end.writeUInt16LE(list.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return new Blob([Buffer.concat([...locals, ...centrals, end])]);
}
