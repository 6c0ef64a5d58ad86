import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { md5Hex } from './digest.ts';
import { dvcDirObject, dvcFile, pythonJsonString } from './dvc.ts';

const files: Record<string, string> = {
  'b.txt': 'world\n',
  'a/x.txt': 'hello\n',
  'café/😀.png': '\x00\x01',
  'a b.txt': '',
};

describe('DVC .dir object', () => {
  it('matches the bytes and md5 that Python json.dumps(sort_keys=True) gives', () => {
    const entries = Object.entries(files).map(([relpath, body]) => ({
      relpath,
      md5: md5Hex(Buffer.from(body, 'latin1')),
    }));
    const dir = dvcDirObject(entries);
    // Written out by hand in DVC's format: sorted by relpath, ", " / ": " separators,
    // non-ASCII escaped as UTF-16 \u escapes.
    const expected =
      '[{"md5": "d41d8cd98f00b204e9800998ecf8427e", "relpath": "a b.txt"}, ' +
      '{"md5": "b1946ac92492d2347c6235b4d2611184", "relpath": "a/x.txt"}, ' +
      '{"md5": "591785b794601e212b260e25925636fd", "relpath": "b.txt"}, ' +
      '{"md5": "441077cc9e57554dd476bdfb8b8b8102", "relpath": "caf\\u00e9/\\ud83d\\ude00.png"}]';
    expect(dir.json).toBe(expected);
    const md5 = createHash('md5').update(expected).digest('hex');
    expect(dir.md5).toBe(`${md5}.dir`);
    // Cross-checked once with CPython 3 json + hashlib.
    expect(dir.md5).toBe('c6d984772b33540832a9af20ab6fb453.dir');
  });

  it('sorts by code point like Python, not by UTF-16 unit like Array.sort', () => {
    const dir = dvcDirObject([
      { relpath: '😀', md5: '0'.repeat(32) },
      { relpath: '\uff5e', md5: '1'.repeat(32) },
    ]);
    expect(dir.json).toBe(
      `[{"md5": "${'1'.repeat(32)}", "relpath": "\\uff5e"}, {"md5": "${'0'.repeat(32)}", "relpath": "\\ud83d\\ude00"}]`,
    );
    expect(dir.md5).toBe('122d40030fd6816726ae4707078567d3.dir');
  });

  it('escapes strings as Python does', () => {
    expect(pythonJsonString('a"b\\c\n\t\x01\x7f/é')).toBe(
      '"a\\"b\\\\c\\n\\t\\u0001\\u007f/\\u00e9"',
    );
  });

  it('refuses duplicate relpaths and malformed md5s, naming them', () => {
    expect(() =>
      dvcDirObject([
        { relpath: 'a', md5: '0'.repeat(32) },
        { relpath: 'a', md5: '1'.repeat(32) },
      ]),
    ).toThrow(/"a" appears twice/);
    expect(() => dvcDirObject([{ relpath: 'x.png', md5: 'XYZ' }])).toThrow(/x\.png.*XYZ/);
  });

  it('writes a .dvc file for the directory', () => {
    const dir = dvcDirObject([{ relpath: 'a', md5: '0'.repeat(32) }]);
    expect(dvcFile('data', dir, 10, 1)).toBe(
      `outs:\n- md5: ${dir.md5}\n  size: 10\n  nfiles: 1\n  hash: md5\n  path: data\n`,
    );
  });
});
