import { md5Hex } from './digest.ts';

/**
 * DVC's directory objects, byte for byte. DVC (dvc-data, `Tree.as_bytes` / `Tree.digest`)
 * stores a directory as `json.dumps(entries, sort_keys=True)` where entries are
 * `{"md5": ..., "relpath": ...}` sorted by relpath, and records the md5 of those bytes with
 * a `.dir` suffix. Matching the bytes exactly is what lets `dvc` read our versions.
 * File md5s are plain md5 of the bytes (DVC 3's `md5`; DVC 2's dos2unix variant is legacy).
 */
export interface DvcDirEntry {
  md5: string;
  relpath: string;
}

export interface DvcDirObject {
  /** The `.dir` object's bytes as DVC writes them into its cache. */
  json: string;
  /** `<md5 of json>.dir`, the hash DVC puts in a `.dvc` file's `outs`. */
  md5: string;
}

/** Python's `str` ordering: by code point, which differs from JS's UTF-16 order above U+FFFF. */
export function compareCodePoints(a: string, b: string): number {
  const ai = a[Symbol.iterator]();
  const bi = b[Symbol.iterator]();
  for (;;) {
    const x = ai.next();
    const y = bi.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0) as number;
    const cy = y.value.codePointAt(0) as number;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/**
 * A string as Python's `json.dumps` writes it with its default `ensure_ascii=True`:
 * everything outside printable ASCII becomes `\uXXXX` (lowercase hex, UTF-16 units).
 */
export function pythonJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    const code = s.charCodeAt(i);
    const short = SHORT_ESCAPES[ch];
    if (short !== undefined) out += short;
    else if (code >= 0x20 && code <= 0x7e) out += ch;
    else out += `\\u${code.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

/** Validates an entry the way a `.dir` object needs it: a 32-hex md5 and a POSIX relpath. */
function checkEntry(entry: DvcDirEntry): void {
  if (!/^[0-9a-f]{32}$/.test(entry.md5)) {
    throw new Error(`DVC entry "${entry.relpath}": md5 "${entry.md5}" is not 32 lowercase hex`);
  }
  if (entry.relpath.length === 0 || entry.relpath.includes('\\')) {
    throw new Error(`DVC entry "${entry.relpath}": relpath must be a non-empty POSIX path`);
  }
}

/** Builds DVC's `.dir` object for a set of files, in any input order. */
export function dvcDirObject(entries: readonly DvcDirEntry[]): DvcDirObject {
  const sorted = [...entries].sort((a, b) => compareCodePoints(a.relpath, b.relpath));
  for (let i = 0; i < sorted.length; i++) {
    const entry = sorted[i] as DvcDirEntry;
    checkEntry(entry);
    if (i > 0 && (sorted[i - 1] as DvcDirEntry).relpath === entry.relpath) {
      throw new Error(`DVC entries: relpath "${entry.relpath}" appears twice`);
    }
  }
  // Python's default separators are ', ' and ': '; sort_keys puts "md5" before "relpath".
  const items = sorted.map(
    (e) => `{"md5": ${pythonJsonString(e.md5)}, "relpath": ${pythonJsonString(e.relpath)}}`,
  );
  const json = `[${items.join(', ')}]`;
  return { json, md5: `${md5Hex(json)}.dir` };
}

/**
 * The `.dvc` file that tracks a directory `path` holding these files, as DVC 3 writes it
 * (`dvc add`): the `.dir` md5, total size and file count, and `hash: md5`.
 */
export function dvcFile(
  path: string,
  dir: DvcDirObject,
  totalSize: number,
  nfiles: number,
): string {
  return [
    'outs:',
    `- md5: ${dir.md5}`,
    `  size: ${totalSize}`,
    `  nfiles: ${nfiles}`,
    '  hash: md5',
    `  path: ${yamlScalar(path)}`,
    '',
  ].join('\n');
}

/** A plain YAML scalar when safe, else a double-quoted one (JSON strings are valid YAML). */
function yamlScalar(value: string): string {
  return /^[A-Za-z0-9._/-]+$/.test(value) ? value : JSON.stringify(value);
}
