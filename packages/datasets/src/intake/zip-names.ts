import { crc32 } from '@anneal/core/crc32';

/**
 * Bytes 0x80..0xFF of IBM code page 437, the zip format's default name encoding
 * (APPNOTE.TXT, appendix D), as mapped by unicode.org's CP437.TXT. Bytes below 0x80 are
 * ASCII (0x00..0x1F stay control characters, which dataset paths refuse by name).
 */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

/** Decodes bytes as code page 437. */
export function cp437(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes)
    out += b < 0x80 ? String.fromCharCode(b) : (CP437_HIGH[b - 0x80] as string);
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function strictUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/** Bit 11 of the general purpose flag: the name and comment are UTF-8 (APPNOTE 4.4.4). */
const UTF8_FLAG = 0x800;
/** Info-ZIP Unicode Path extra field (APPNOTE 4.6.9). */
const UNICODE_PATH = 0x7075;

/**
 * An entry's name as its writer meant it:
 * 1. the UTF-8 flag set: UTF-8;
 * 2. an Info-ZIP Unicode Path extra field whose CRC matches the raw name: that UTF-8 name;
 * 3. otherwise the spec says CP437, but many writers (macOS Archive Utility, Info-ZIP on
 *    Unix, most libraries) store UTF-8 bytes without setting the flag, which CP437 turns
 *    into mojibake (`é` as `├⌐`). Bytes that are valid UTF-8 are read as UTF-8; the rest
 *    (a name from an old Windows or DOS zipper) as CP437. A CP437 name is valid UTF-8
 *    only where a box-drawing, Greek or math character (0xC2..0xF4) is followed by
 *    accented letters or shading (0x80..0xBF), which real names do not hold.
 * Backslashes become slashes: the spec requires '/' (4.4.17), and Windows zippers that
 * write '\' mean it as one.
 */
export function zipEntryName(
  raw: Uint8Array,
  generalPurposeBitFlag: number,
  extraFields: ReadonlyArray<{ id: number; data: Uint8Array }> = [],
): string {
  let name: string | null = null;
  if (generalPurposeBitFlag & UTF8_FLAG) name = strictUtf8(raw);
  if (name === null) {
    for (const field of extraFields) {
      const d = field.data;
      if (field.id !== UNICODE_PATH || d.byteLength < 6 || d[0] !== 1) continue;
      const nameCrc =
        ((d[1] as number) |
          ((d[2] as number) << 8) |
          ((d[3] as number) << 16) |
          ((d[4] as number) << 24)) >>>
        0;
      // A CRC that does not match means the name was changed after the field was written.
      if (nameCrc !== crc32(raw)) continue;
      name = strictUtf8(d.subarray(5));
      if (name !== null) break;
    }
  }
  name ??= strictUtf8(raw) ?? cp437(raw);
  return name.replaceAll('\\', '/');
}
