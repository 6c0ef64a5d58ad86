import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { screenImages } from './screen.ts';

const png = () =>
  sharp({ create: { width: 4, height: 4, channels: 3, background: '#204060' } })
    .png()
    .toBuffer();

describe('screenImages', () => {
  it('refuses a file that cannot be read by name, and keeps the rest', async () => {
    const bytes = await png();
    const files = [
      { relpath: 'a.png', size: bytes.length, read: async () => bytes },
      {
        relpath: 'locked.png',
        size: 10,
        read: async () => {
          throw new Error("EACCES: permission denied, open '/data/locked.png'");
        },
      },
      { relpath: 'notes.txt', size: 3, read: async () => new Uint8Array(3) },
    ];
    const out = await screenImages(files, { source: 'the test' });
    expect(out.accepted.map((f) => f.relpath)).toEqual(['a.png']);
    expect(out.skipped).toEqual([
      {
        relpath: 'locked.png',
        reason: "cannot be read: EACCES: permission denied, open '/data/locked.png'",
      },
    ]);
    expect(out.ignored).toEqual(['notes.txt']);
  });

  it('lists at most 200 refusals in an error, and how many more', async () => {
    const files = Array.from({ length: 203 }, (_, i) => ({
      relpath: `${String(i).padStart(3, '0')}.png`,
      size: 0,
      read: async () => new Uint8Array(0),
    }));
    const err = (await screenImages(files, { source: 'the test', strict: true }).catch(
      (e: Error) => e,
    )) as Error;
    const lines = err.message.split('\n');
    expect(lines[0]).toBe(
      'strict: the test has 203 file(s) that are not usable images; nothing was written:',
    );
    expect(lines[1]).toBe('  000.png: file is empty (0 bytes)');
    expect(lines.slice(-1)).toEqual(['  ... and 3 more']);
    expect(lines).toHaveLength(202);
  });
});
