import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from './cli.ts';

// Flag and input errors of `anneal bench` and `anneal import diffusers`; the conversion itself
// is checked against diffusers in packages/bench/src/interop.test.ts.
function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

const tmp = mkdtempSync(join(tmpdir(), 'anneal-import-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('anneal bench and anneal import: usage errors', () => {
  it('bench exits 2 naming --only for an unknown benchmark', async () => {
    const c = capture();
    expect(await main(['bench', '--only', 'training,nope'], c.io)).toBe(2);
    expect(c.err.join('\n')).toMatch(/--only: unknown benchmark "nope"/);
  });

  it('import exits 2 for an unknown source, a missing DIR or --out', async () => {
    const a = capture();
    expect(await main(['import', 'ckpt', tmp], a.io)).toBe(2);
    expect(a.err.join('\n')).toMatch(/unknown import source "ckpt"/);
    const b = capture();
    expect(await main(['import', 'diffusers', '--out', tmp], b.io)).toBe(2);
    expect(b.err.join('\n')).toMatch(/DIR/);
    const c = capture();
    expect(await main(['import', 'diffusers', tmp], c.io)).toBe(2);
    expect(c.err.join('\n')).toMatch(/--out/);
  });

  it('import exits 1 naming a folder without a UNet and an unsupported config key', async () => {
    const a = capture();
    expect(await main(['import', 'diffusers', tmp, '--out', join(tmp, 'x')], a.io)).toBe(1);
    expect(a.err.join('\n')).toMatch(/neither config.json nor unet\/config.json/);
    const dir = join(tmp, 'fourier');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        _class_name: 'UNet2DModel',
        sample_size: 16,
        in_channels: 3,
        out_channels: 3,
        block_out_channels: [32, 64],
        layers_per_block: 1,
        down_block_types: ['DownBlock2D', 'DownBlock2D'],
        up_block_types: ['UpBlock2D', 'UpBlock2D'],
        class_embed_type: 'timestep',
      }),
    );
    const b = capture();
    expect(await main(['import', 'diffusers', dir, '--out', join(tmp, 'y')], b.io)).toBe(1);
    expect(b.err.join('\n')).toMatch(/`class_embed_type` = "timestep" is not supported/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ sample_size: 16, resnet_groups: 4 }));
    const c = capture();
    expect(await main(['import', 'diffusers', dir, '--out', join(tmp, 'z')], c.io)).toBe(1);
    expect(c.err.join('\n')).toMatch(/key `resnet_groups` is not supported/);
  });
});
